"""Reading image files safely: one RGB picture per file, or a `BadItemError` that says why not.

Guards run before decoding: a header whose width x height exceeds `max_pixels()` is refused, so a
decompression bomb never allocates its pixels; so is one longer than `max_aspect_ratio()` times its width (or
the reverse): an 8000x1 PNG of 104 bytes passes any pixel limit, but resizing its shorter side to a backbone's
input size would make a picture of half a billion pixels.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from headstart.errors import BadItemError, TooManyPixelsError, UsageError

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
MAX_PIXELS = 40_000_000
MAX_PIXELS_ENV = "HEADSTART_MAX_PIXELS"
MAX_ASPECT_RATIO = 100  # a 40-megapixel limit then bounds each side to about 63,000 pixels
MAX_ASPECT_ENV = "HEADSTART_MAX_ASPECT_RATIO"
PIL_GUARD = "PIL's decompression-bomb guard"
_PIL_BOMB = re.compile(r"\((\d+) pixels\) exceeds limit of (\d+) pixels")  # PIL's message: the only place it says

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def is_image_file(path: str | Path) -> bool:
    """True when the file name ends in one of `IMAGE_EXTENSIONS` (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def max_pixels() -> int:
    """The pixel limit per image: `HEADSTART_MAX_PIXELS` when set, else 40 megapixels."""
    return _positive_env(MAX_PIXELS_ENV, MAX_PIXELS, "pixels, e.g. 40000000")


def max_aspect_ratio() -> int:
    """The most a side may exceed the other, as a ratio: `HEADSTART_MAX_ASPECT_RATIO` when set, else 100."""
    return _positive_env(MAX_ASPECT_ENV, MAX_ASPECT_RATIO, "ratio, e.g. 100")


def _positive_env(name: str, default: int, unit: str) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise UsageError(
            f"environment variable {name}={raw!r} is not a positive integer",
            expected=f"a positive integer {unit}",
            fix=f"set {name} to a positive integer or unset it",
        )
    return value


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from the file header, after the size guard; nothing is decoded."""
    with _open(path) as im:
        return im.size


def check_image_header(path: str | Path) -> None:
    """Cheap load-time validation: the file opens as an image and passes the size guard.

    A truncated body is only found by `read_image`, which decodes the pixels.
    """
    image_size(path)


# What `read_image` does before any backbone sees the pixels: exported models document it for other runtimes.
DECODE_STEPS = {
    "frames": "first frame only",
    "orientation": "EXIF orientation applied (PIL ImageOps.exif_transpose)",
    "alpha": "composited on white (RGBA, LA, P with transparency)",
    "sixteen_bit": "grey levels divided by 257 (wider ranges: scaled by their maximum)",
    "other_modes": "converted to 8-bit RGB (grey replicated to 3 channels)",
}


def read_image(path: str | Path) -> Image.Image:
    """The image at `path` as 8-bit RGB, EXIF orientation applied, first frame only."""
    with _open(path) as im:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im.seek(0)
                im.load()
                upright = ImageOps.exif_transpose(im)
                return to_rgb(upright)
        except BadItemError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise BadItemError(str(path), f"refused as a possible decompression bomb ({e})") from e
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise BadItemError(str(path), f"the image data is corrupt or truncated ({e})") from e


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB: alpha composited on white, 16-bit scaled down, not clipped."""
    if im.mode == "RGB":
        return im.copy()
    if im.mode in _SIXTEEN_BIT_MODES:
        return Image.fromarray(_scale_to_uint8(np.asarray(im)), mode="L").convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def _scale_to_uint8(a: np.ndarray) -> np.ndarray:
    """Map integer or float grey levels to 0..255: 16-bit by /257, wider ranges by their maximum."""
    a = a.astype(np.float64)
    a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
    a = np.clip(a, 0.0, None)
    top = float(a.max()) if a.size else 0.0
    if top <= 255.0:
        scale = 1.0
    elif top <= 65535.0:
        scale = 255.0 / 65535.0
    else:
        scale = 255.0 / top
    return np.clip(np.rint(a * scale), 0, 255).astype(np.uint8)


def _open(path: str | Path) -> Image.Image:
    """Open the header of `path` and run the guards; the caller must close the image."""
    p = Path(path)
    if not p.exists():
        raise BadItemError(str(path), "file not found")
    if not p.is_file():
        raise BadItemError(str(path), "not a regular file")
    if p.stat().st_size == 0:
        raise BadItemError(str(path), "the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(p)
    except UnidentifiedImageError as e:
        raise BadItemError(
            str(path), f"not a readable image: no known image format in the file (extension {p.suffix!r})"
        ) from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        found = _PIL_BOMB.search(str(e))
        guard = Image.MAX_IMAGE_PIXELS or 0
        pixels, limit = (int(found.group(1)), int(found.group(2))) if found else (guard, guard)
        raise TooManyPixelsError(
            str(path), f"refused as a possible decompression bomb ({e})", pixels=pixels, limit=limit, guard=PIL_GUARD
        ) from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise BadItemError(str(path), f"cannot read the image header ({e})") from e
    width, height = im.size
    limit = max_pixels()
    if width <= 0 or height <= 0:
        im.close()
        raise BadItemError(str(path), f"the image has no pixels ({width}x{height})")
    if width * height > limit:
        im.close()
        raise TooManyPixelsError(
            str(path),
            f"{width}x{height} = {width * height:,} pixels is over the limit of {limit:,} "
            f"(raise it with {MAX_PIXELS_ENV} if the image is genuine)",
            pixels=width * height,
            limit=limit,
            guard=MAX_PIXELS_ENV,
        )
    ratio = max(width, height) / min(width, height)
    if ratio > max_aspect_ratio():
        im.close()
        raise BadItemError(
            str(path),
            f"{width}x{height} is a strip, not a picture: one side is {ratio:,.0f} times the other, over the limit "
            f"of {max_aspect_ratio()} (raise it with {MAX_ASPECT_ENV} if the image is genuine)",
        )
    return im
