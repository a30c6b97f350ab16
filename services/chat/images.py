"""Images for vision models: checked to be images, turned upright, scaled and re-encoded to fit.

Providers cap what they take (pixels and bytes); an image over either is scaled down (longer side
at most `max_side`) and re-encoded (PNG when it has transparency, else JPEG, quality lowered and
then the size halved until it fits `max_bytes`). Animated images send their first frame. Pillow
refuses decompression bombs. CPU work: callers run `prepare_image` in a thread.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps, UnidentifiedImageError

from services.llm.base import ImagePart

MAX_PIXELS = 40_000_000  # an 8K photo is 33 M; anything bigger is refused before decoding


class NotAnImage(ValueError):
    """The bytes are not an image Pillow can read (or one too large to open safely)."""


def prepare_image(data: bytes, name: str, *, max_side: int = 1568, max_bytes: int = 3_500_000) -> ImagePart:
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.width * probe.height > MAX_PIXELS:
                raise NotAnImage(f"{probe.width}×{probe.height} pixels is too large")
            fmt, upright = probe.format, probe.getexif().get(0x0112, 1) == 1  # EXIF orientation
            image = ImageOps.exif_transpose(probe)  # also loads the (first) frame
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as exc:
        raise NotAnImage(f"not an image that can be read ({type(exc).__name__})") from None
    if fmt in ("PNG", "JPEG") and upright and len(data) <= max_bytes and max(image.size) <= max_side:
        return ImagePart(data, f"image/{fmt.lower()}", name)  # already fits: sent as it came
    alpha = image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info)
    image = image.convert("RGBA" if alpha else "RGB")
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    quality = 85
    while True:
        out = io.BytesIO()
        if alpha:
            image.save(out, "PNG", optimize=True)
        else:
            image.save(out, "JPEG", quality=quality, optimize=True)
        if out.tell() <= max_bytes or max(image.size) <= 64:
            return ImagePart(out.getvalue(), "image/png" if alpha else "image/jpeg", name)
        if not alpha and quality > 60:
            quality -= 15
        else:
            image = image.resize((max(1, image.width // 2), max(1, image.height // 2)), Image.Resampling.LANCZOS)
