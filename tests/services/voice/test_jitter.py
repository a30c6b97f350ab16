"""The jitter buffer: sequence order back, losses marked for concealment, nothing delayed needlessly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.voice.jitter import JitterBuffer, Slot


def run(buffer: JitterBuffer, sequences: list[int], step: float = 0.02) -> list[Slot]:
    out: list[Slot] = []
    for i, seq in enumerate(sequences):
        out += buffer.push(seq, seq.to_bytes(2, "big"), i * step)
    return out


def test_packets_in_order_are_released_at_once() -> None:
    buffer = JitterBuffer()
    for seq in range(100, 110):
        assert buffer.push(seq, b"x", 0.0) == [Slot(seq, b"x")]
    assert buffer.held == 0 and buffer.stats.reordered == buffer.stats.lost == 0


def test_a_reordered_packet_is_put_back_in_its_place() -> None:
    buffer = JitterBuffer()
    out = run(buffer, [1, 2, 4, 3, 5, 6])
    assert [s.sequence for s in out] == [1, 2, 3, 4, 5, 6] and all(s.frame for s in out)
    assert buffer.stats.reordered == 1 and buffer.stats.lost == 0


def test_a_lost_packet_is_marked_after_depth_later_packets() -> None:
    buffer = JitterBuffer(depth=3)
    out = run(buffer, [1, 2, 4, 5])
    assert [s.sequence for s in out] == [1, 2]  # 3 may still come
    out = buffer.push(6, b"6", 0.1) + buffer.push(7, b"7", 0.12)
    assert [(s.sequence, s.frame is None) for s in out] == [(3, True), (4, False), (5, False), (6, False), (7, False)]
    assert buffer.push(3, b"3", 0.14) == [] and buffer.stats.late == 1  # too late: already concealed


def test_a_gap_at_the_end_is_drained_after_max_wait() -> None:
    buffer = JitterBuffer(max_wait=0.06)
    out = run(buffer, [1, 2, 4])
    assert [s.sequence for s in out] == [1, 2] and buffer.drain(0.05) == []
    assert [(s.sequence, s.frame is None) for s in buffer.drain(0.2)] == [(3, True), (4, False)]
    assert buffer.held == 0


def test_sequence_numbers_wrap() -> None:
    buffer = JitterBuffer()
    out = run(buffer, [65534, 0, 65535, 1, 2])
    assert [s.sequence for s in out] == [65534, 65535, 0, 1, 2]


def test_duplicates_are_dropped_and_a_big_jump_resyncs_without_concealing() -> None:
    buffer = JitterBuffer(max_gap=25)
    out = run(buffer, [10, 11, 11, 13, 13, 12, 5000, 5001])
    assert [s.sequence for s in out] == [10, 11, 12, 13, 5000, 5001]
    assert buffer.stats.late == 1  # the second 11: released already
    assert buffer.stats.duplicates == 1  # the second 13: still held
    assert buffer.stats.resyncs == 1 and buffer.stats.lost == 0


@given(st.lists(st.integers(0, 3), min_size=1, max_size=60), st.integers(0, 65535), st.data())
def test_any_local_shuffle_and_loss_gives_every_slot_once_in_order(jitter: list[int], start: int, data) -> None:
    """Packets displaced a few places, some lost: every sequence comes out once, in order; a slot is
    concealed only when its packet was lost or came later than the buffer could wait."""
    count = len(jitter)
    lost = set(data.draw(st.lists(st.integers(0, count - 1), max_size=count // 4)))
    arrival = sorted(range(count), key=lambda i: i + jitter[i] * 0.7)
    buffer = JitterBuffer(depth=4, max_wait=10.0)
    out: list[Slot] = []
    for t, i in enumerate(arrival):
        if i not in lost:
            out += buffer.push((start + i) & 0xFFFF, b"x", t * 0.02)
    out += buffer.drain(1e9)
    arrived = [i for i in arrival if i not in lost]
    if not arrived:
        assert out == []
        return
    first = arrived[0]  # the stream starts with the first packet to arrive; earlier ones come too late
    last = max(arrived)
    expected = [(start + i) & 0xFFFF for i in range(first, last + 1)]
    assert [s.sequence for s in out] == expected
    concealed = {s.sequence for s in out if s.frame is None}
    lost_in_range = {(start + i) & 0xFFFF for i in lost if first <= i <= last}
    too_early = sum(1 for i in arrived if i < first)  # late, but before the stream began: not in any slot
    assert lost_in_range <= concealed and len(concealed) == len(lost_in_range) + buffer.stats.late - too_early
