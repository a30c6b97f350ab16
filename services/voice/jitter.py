"""A small jitter buffer per speaker: RTP packets back in sequence order, lost ones marked.

UDP delivers a member's packets late, twice, out of order or not at all. Decoding them in arrival
order garbles speech (and opus, which predicts each frame from the previous one, sounds worse for
it). Packets that arrive in order are released at once (no added delay); after a gap the buffer
holds what comes next until the missing packet arrives or `depth` later packets prove it lost (or
it waited `max_wait`), then releases a *lost* slot in its place, so the decoder can conceal it
(opus FEC from the next packet, or packet-loss concealment) and the speaker's timeline keeps its
length. Sequence numbers are 16-bit and wrap; a jump of more than `max_gap` is a new stream, not
a loss to conceal.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Slot:
    sequence: int  # 16-bit RTP sequence
    frame: bytes | None  # None: lost, to be concealed


@dataclass
class JitterStats:
    released: int = 0
    reordered: int = 0  # arrived after a later packet, and put back in its place
    lost: int = 0  # slots released as lost (concealed by the decoder)
    late: int = 0  # arrived after its slot was released: dropped
    duplicates: int = 0
    resyncs: int = 0  # jumps too big to be losses


@dataclass
class JitterBuffer:
    depth: int = 3  # packets after a gap that prove the missing one lost (3 = 60 ms at most)
    max_wait: float = 0.06  # seconds a packet waits behind a gap, when no more packets come
    max_gap: int = 25  # lost packets concealed at most in one gap (500 ms); more is a resync
    stats: JitterStats = field(default_factory=JitterStats)
    _next: int | None = None  # extended (unwrapped) sequence expected next
    _held: dict[int, tuple[bytes, float]] = field(default_factory=dict)  # extended sequence -> (frame, arrived)
    _highest: int | None = None

    def push(self, sequence: int, frame: bytes, now: float) -> list[Slot]:
        """One arrived packet -> the slots now ready, in order."""
        if self._next is None:
            self._next = self._highest = sequence
        ext = self._unwrap(sequence)
        if ext < self._next:
            self.stats.late += 1
            return []
        if ext in self._held:
            self.stats.duplicates += 1
            return []
        out: list[Slot] = []
        if ext - self._next > self.max_gap + self.depth:
            self.stats.resyncs += 1  # the sender restarted, or a long outage: nothing to conceal
            out += self._release_all(conceal=False)
            self._next = ext
        assert self._highest is not None
        if ext < self._highest:
            self.stats.reordered += 1
        self._highest = max(self._highest, ext)
        self._held[ext] = (frame, now)
        out += self._release(now)
        return out

    def drain(self, now: float) -> list[Slot]:
        """Slots of packets that waited `max_wait` behind a gap (the speaker stopped sending)."""
        return self._release(now) if self._held else []

    @property
    def held(self) -> int:
        return len(self._held)

    def _unwrap(self, sequence: int) -> int:
        """The extended sequence nearest to the expected one with these 16 low bits."""
        assert self._next is not None
        base = self._next - (self._next & 0xFFFF)
        candidates = (base + sequence - 0x10000, base + sequence, base + sequence + 0x10000)
        return min(candidates, key=lambda c: abs(c - self._next))  # type: ignore[operator]

    def _release(self, now: float) -> list[Slot]:
        out: list[Slot] = []
        while self._held:
            assert self._next is not None
            if self._next in self._held:
                out.append(self._take(self._next))
                continue
            first = min(self._held)
            waited = now - self._held[first][1]
            if max(self._held) - self._next < self.depth and waited < self.max_wait:
                break  # the missing packet may still come
            out += self._lose_until(first)
        return out

    def _release_all(self, *, conceal: bool) -> list[Slot]:
        out: list[Slot] = []
        for ext in sorted(self._held):
            if conceal:
                out += self._lose_until(ext)
            self._next = ext
            out.append(self._take(ext))
        return out

    def _lose_until(self, ext: int) -> list[Slot]:
        """Lost slots from the expected sequence up to `ext` (at most max_gap of them)."""
        assert self._next is not None
        gap = ext - self._next
        out = [Slot((self._next + i) & 0xFFFF, None) for i in range(min(gap, self.max_gap))]
        self.stats.lost += len(out)
        self._next = ext
        return out

    def _take(self, ext: int) -> Slot:
        frame, _ = self._held.pop(ext)
        self._next = ext + 1
        self.stats.released += 1
        return Slot(ext & 0xFFFF, frame)
