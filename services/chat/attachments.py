"""What a member attached to a prompt, made into something the model can use (no Discord here).

Text files (.txt, .md, source code, .json, .csv, ...) are added to the prompt with their names,
cut at `text_chars`; images go to vision models (services/chat/images.py) and, for a model that
cannot see, become a one-line note to the model; voice messages and other audio are transcribed
by the STT client (decoded by ffmpeg). Anything else is named and skipped with a reason. Every
skip, cut and unseen image is also a `notice` for the member, so nothing disappears silently.
Downloads come from Discord's CDN (URLs the cog takes from the message), each capped in size.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import aiohttp

from services.chat.images import NotAnImage, prepare_image
from services.errors import ServiceError
from services.http import connection_error, raise_for_status
from services.llm.base import ImagePart
from services.speech import STT, AudioFormatError
from services.speech.decode import decode_audio

log = logging.getLogger(__name__)

SERVICE = "discord:attachments"
TEXT_EXTENSIONS = frozenset(
    ".txt .md .markdown .rst .log .csv .tsv .json .jsonl .yaml .yml .toml .ini .cfg .conf .xml .html .htm .css "
    ".py .pyi .js .mjs .ts .tsx .jsx .java .kt .c .h .cpp .hpp .cc .cs .go .rs .rb .php .sh .bash .zsh .ps1 .sql "
    ".swift .lua .r .pl .scala .dart .vue .svelte .diff .patch .tex .srt .vtt".split())
IMAGE_EXTENSIONS = frozenset(".png .jpg .jpeg .gif .webp .bmp".split())
AUDIO_EXTENSIONS = frozenset(".ogg .oga .opus .mp3 .m4a .wav .webm .flac .aac".split())


@dataclass(frozen=True)
class AttachmentRef:
    """One attachment as the cog sees it (discord.Attachment's fields, nothing Discord-typed)."""

    filename: str
    url: str
    size: int
    content_type: str | None = None
    voice_message: bool = False  # Discord's IS_VOICE_MESSAGE flag
    duration: float | None = None  # seconds, for voice messages

    @property
    def extension(self) -> str:
        return PurePosixPath(self.filename.lower()).suffix

    @property
    def kind(self) -> str:
        mime = (self.content_type or "").split(";")[0].strip().lower()
        if self.voice_message or mime.startswith("audio/") or self.extension in AUDIO_EXTENSIONS:
            return "audio"
        if mime.startswith("image/") or self.extension in IMAGE_EXTENSIONS:
            return "image"
        if mime.startswith("text/") or mime in ("application/json", "application/xml") \
                or self.extension in TEXT_EXTENSIONS:
            return "text"
        return "other"


@dataclass
class Attachments:
    texts: list[tuple[str, str, bool]] = field(default_factory=list)  # (name, text, cut)
    images: list[ImagePart] = field(default_factory=list)
    transcripts: list[tuple[str, str]] = field(default_factory=list)  # (name, what was said)
    unseen_images: list[str] = field(default_factory=list)  # names of images the model cannot see
    notices: list[str] = field(default_factory=list)  # for the member, one short line each

    def member_words(self, typed: str) -> str:
        """What the member said themselves this turn: typed text and their voice messages."""
        return "\n".join([typed, *(said for _, said in self.transcripts)]).strip()

    def prompt(self, typed: str) -> str:
        """The user message for the model: what was typed, what was said, then each file with its name."""
        parts = [typed.strip()] if typed.strip() else []
        parts += [f"[Voice message {name}]: {said}" for name, said in self.transcripts]
        for name, text, cut in self.texts:
            note = " (cut short)" if cut else ""
            parts.append(f"----- attached file {name}{note} -----\n{text}\n----- end of {name} -----")
        if self.unseen_images:
            parts.append(f"[The member attached {len(self.unseen_images)} image(s) ({', '.join(self.unseen_images)}), "
                         "but this model cannot see images: say so if they matter.]")
        return "\n\n".join(parts)


class AttachmentReader:
    def __init__(self, session: aiohttp.ClientSession, *, stt: STT | None = None, max_bytes: int = 8_000_000,
                 max_files: int = 5, text_chars: int = 8000, image_max_side: int = 1568,
                 image_max_bytes: int = 3_500_000, voice_max_seconds: float = 300.0, timeout: float = 30.0) -> None:
        self._session = session
        self._stt = stt
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.text_chars = text_chars
        self.image_max_side = image_max_side
        self.image_max_bytes = image_max_bytes
        self.voice_max_seconds = voice_max_seconds
        self._timeout = timeout

    async def read(self, refs: Sequence[AttachmentRef], *, vision: bool) -> Attachments:
        """Every attachment read side by side; the result keeps the attachments' order."""
        out = Attachments()
        for ref in refs[self.max_files:]:
            out.notices.append(f"Skipped {ref.filename}: only the first {self.max_files} attachments are read.")
        refs = refs[:self.max_files]
        out.unseen_images = [ref.filename for ref in refs if ref.kind == "image" and not vision]
        refs = [ref for ref in refs if ref.filename not in out.unseen_images]
        results = await asyncio.gather(*(self._one(ref) for ref in refs))
        for ref, result in zip(refs, results, strict=True):
            if isinstance(result, str):
                out.notices.append(f"Skipped {ref.filename}: {result}")
            elif isinstance(result, ImagePart):
                out.images.append(result)
            elif ref.kind == "audio":
                out.transcripts.append((ref.filename, result[1]))
                if result[0]:
                    out.notices.append(f"Only the first {self.voice_max_seconds:g} seconds of {ref.filename} "
                                       "were transcribed.")
            else:
                out.texts.append((ref.filename, result[1], result[0]))
                if result[0]:
                    out.notices.append(f"{ref.filename} was cut to its first {self.text_chars:,} characters.")
        if out.unseen_images:
            out.notices.append(f"This model cannot see images, so {', '.join(out.unseen_images)} "
                               f"{'was' if len(out.unseen_images) == 1 else 'were'} not shown to it.")
        return out

    async def _one(self, ref: AttachmentRef) -> str | ImagePart | tuple[bool, str]:
        """A skip reason, an image, or (cut, text) for text files and transcripts."""
        kind = ref.kind
        if kind == "other":
            return f"{ref.extension or 'these'} files are not read (text, code, images and voice messages are)"
        if kind == "audio" and self._stt is None:
            return "voice messages cannot be transcribed: speech-to-text is not set up on this bot"
        limit = min(self.max_bytes, self.text_chars * 4 + 4) if kind == "text" else self.max_bytes
        if kind != "text" and ref.size > self.max_bytes:
            return f"it is larger than {self.max_bytes / 1e6:g} MB"
        try:
            data, more = await self._download(ref.url, limit)
        except ServiceError as exc:
            log.warning("Could not download attachment %s: %s", ref.filename, exc)
            return f"it could not be downloaded ({exc.cause})"
        if kind == "text":
            return self._text(data, more)
        if kind == "image":
            try:
                return await asyncio.to_thread(prepare_image, data, ref.filename, max_side=self.image_max_side,
                                               max_bytes=self.image_max_bytes)
            except NotAnImage as exc:
                return str(exc)
        return await self._transcribe(ref, data)

    def _text(self, data: bytes, more: bool) -> str | tuple[bool, str]:
        if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return "it is not a text file (binary data)"
        encoding = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            if not (more and exc.start >= len(data) - 4):  # not just our cut splitting a character
                return "it is not UTF-8 text"
            text = data[:exc.start].decode(encoding)
        return more or len(text) > self.text_chars, text[:self.text_chars]

    async def _transcribe(self, ref: AttachmentRef, data: bytes) -> str | tuple[bool, str]:
        assert self._stt is not None
        try:
            clip = await decode_audio(data, max_seconds=self.voice_max_seconds)
            transcript = await self._stt.transcribe(clip)
        except AudioFormatError as exc:
            return str(exc)
        except ServiceError as exc:
            log.warning("Could not transcribe %s: %s", ref.filename, exc)
            return f"it could not be transcribed ({exc.cause})"
        if not transcript:
            return f"nothing could be made out in it ({transcript.dropped or 'no speech'})"
        longer = ref.duration is not None and ref.duration > self.voice_max_seconds
        return longer, transcript.text

    async def _download(self, url: str, limit: int) -> tuple[bytes, bool]:
        """Up to `limit` bytes, and whether there was more."""
        try:
            async with self._session.get(url, timeout=aiohttp.ClientTimeout(total=self._timeout)) as response:
                await raise_for_status(response, SERVICE)
                chunks, size = [], 0
                async for chunk in response.content.iter_chunked(64 * 1024):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > limit:
                        return b"".join(chunks)[:limit], True
                return b"".join(chunks), False
        except ServiceError:
            raise
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise connection_error(SERVICE, exc) from exc
