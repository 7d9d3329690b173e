"""read_image / check_image_header: every mode to 8-bit RGB, orientation, guards, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from headstart.data.images import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    check_image_header,
    image_size,
    is_image_file,
    max_pixels,
    read_image,
    to_rgb,
)
from headstart.errors import BadItemError, TooManyPixelsError, UsageError


def _save(im: Image.Image, path: Path, **kwargs: object) -> Path:
    im.save(path, **kwargs)
    return path


@pytest.mark.parametrize("fmt", ["jpg", "jpeg", "png", "webp", "bmp", "gif"])
def test_common_formats_read_as_rgb(tmp_path: Path, fmt: str) -> None:
    path = _save(Image.new("RGB", (8, 6), (200, 30, 40)), tmp_path / f"a.{fmt}")
    im = read_image(path)
    assert im.mode == "RGB" and im.size == (8, 6)


def test_extensions_case_insensitive() -> None:
    assert {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"} == set(IMAGE_EXTENSIONS)
    assert is_image_file("X/PHOTO.JPG") and is_image_file("a.WebP")
    assert not is_image_file("notes.txt")


def test_grayscale_becomes_rgb(tmp_path: Path) -> None:
    path = _save(Image.new("L", (4, 4), 77), tmp_path / "g.png")
    assert read_image(path).getpixel((0, 0)) == (77, 77, 77)


def test_rgba_composited_on_white(tmp_path: Path) -> None:
    im = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    im.putpixel((1, 1), (0, 0, 255, 255))
    out = read_image(_save(im, tmp_path / "a.png"))
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((1, 1)) == (0, 0, 255)


def test_palette_with_transparency_composited_on_white(tmp_path: Path) -> None:
    im = Image.new("P", (4, 4), 0)
    im.putpalette([0, 0, 0, 10, 200, 10] + [0] * 762)
    im.putpixel((2, 2), 1)
    out = read_image(_save(im, tmp_path / "p.png", transparency=0))
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((2, 2)) == (10, 200, 10)


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    path = _save(Image.new("CMYK", (5, 5), (0, 255, 255, 0)), tmp_path / "c.jpg")
    out = read_image(path)
    r, g, b = out.getpixel((2, 2))
    assert out.mode == "RGB" and r > 200 and g < 60 and b < 60


def test_16_bit_png_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 32896, 65535, 1000]], dtype=np.uint16)
    path = _save(Image.fromarray(values), tmp_path / "deep.png")
    with Image.open(path) as raw:
        assert raw.mode in ("I;16", "I")
    out = np.asarray(read_image(path))[0, :, 0]
    assert out.tolist() == [0, 128, 255, 4]


def test_32_bit_int_mode_scaled() -> None:
    im = Image.fromarray(np.array([[0, 65535, 257]], dtype=np.int32))
    assert im.mode == "I"
    assert np.asarray(to_rgb(im))[0, :, 0].tolist() == [0, 255, 1]


def test_animated_gif_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (6, 6), (255, 0, 0)), Image.new("RGB", (6, 6), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    with Image.open(path) as raw:
        assert raw.n_frames == 2
    r, g, b = read_image(path).getpixel((3, 3))
    assert r > 200 and b < 60


def test_exif_orientation_applied(tmp_path: Path) -> None:
    im = Image.new("RGB", (40, 20), (0, 128, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = _save(im, tmp_path / "rotated.jpg", exif=exif.tobytes())
    assert image_size(path) == (40, 20)
    assert read_image(path).size == (20, 40)


def test_truncated_jpeg_is_bad_item(tmp_path: Path) -> None:
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    full = _save(noisy, tmp_path / "full.jpg", quality=95).read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(full[: len(full) // 2])
    check_image_header(path)  # the header is intact: only decoding finds the damage
    with pytest.raises(BadItemError, match="(?s)cut.jpg.*(corrupt|truncated)") as info:
        read_image(path)
    assert "fix:" in str(info.value)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    for fn in (read_image, check_image_header):
        with pytest.raises(BadItemError, match=r"empty.png.*empty \(0 bytes\)"):
            fn(path)


def test_text_file_renamed_jpg(tmp_path: Path) -> None:
    path = tmp_path / "fake.jpg"
    path.write_text("definitely not an image\n")
    with pytest.raises(BadItemError, match="fake.jpg.*not a readable image"):
        check_image_header(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadItemError, match="file not found"):
        read_image(tmp_path / "nope.png")


def test_pixel_limit_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(Image.new("RGB", (10, 10)), tmp_path / "big.png")
    monkeypatch.setenv("HEADSTART_MAX_PIXELS", "50")
    assert max_pixels() == 50
    for fn in (read_image, check_image_header):
        with pytest.raises(
            BadItemError, match=r"(?s)big.png.*100 pixels is over the limit of 50.*HEADSTART_MAX_PIXELS"
        ):
            fn(path)
    with pytest.raises(TooManyPixelsError) as refused:  # structured, so the service can answer 413 with the figures
        check_image_header(path)
    assert (refused.value.pixels, refused.value.limit, refused.value.guard) == (100, 50, "HEADSTART_MAX_PIXELS")
    monkeypatch.setenv("HEADSTART_MAX_PIXELS", "100")
    check_image_header(path)


def test_default_limit_and_bad_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEADSTART_MAX_PIXELS", raising=False)
    assert max_pixels() == MAX_PIXELS == 40_000_000
    monkeypatch.setenv("HEADSTART_MAX_PIXELS", "lots")
    with pytest.raises(UsageError, match="(?s)HEADSTART_MAX_PIXELS.*fix:"):
        max_pixels()


def test_pil_decompression_bomb_is_bad_item(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(Image.new("RGB", (20, 20)), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # PIL warns above 100, errors above 200
    with pytest.raises(BadItemError, match="decompression bomb"):
        read_image(path)


def test_image_digest_reads_each_file_once_and_notices_edits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib
    import os

    from headstart.data import hashing as dataset_module

    path = _save(Image.new("RGB", (8, 6), (1, 2, 3)), tmp_path / "a.png")
    want = hashlib.sha256(path.read_bytes()).hexdigest()
    reads: list[str] = []
    real = dataset_module.file_sha256
    monkeypatch.setattr(dataset_module, "file_sha256", lambda p, *a: reads.append(str(p)) or real(p, *a))
    dataset_module._stat_keyed_sha256.cache_clear()
    assert dataset_module.image_sha256(path) == want
    assert dataset_module.image_sha256(path) == want
    assert len(reads) == 1  # the second call is served from the memo

    _save(Image.new("RGB", (9, 6), (9, 9, 9)), path)  # new content, new size
    os.utime(path, ns=(1, 1))
    assert dataset_module.image_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest() != want
    assert len(reads) == 2
