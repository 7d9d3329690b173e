"""Bad documents for tests, written offline: a decompression-bomb-sized PNG, a long PDF, a password-protected
PDF and a corrupt one (issue #22: each must be skipped with a reason or refused clearly, never a traceback)."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

# PDF's Standard security handler pads passwords with these 32 bytes (ISO 32000-1, 7.6.3.3)
PDF_PASSWORD_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(path: Path, side: int = 30_000) -> Path:
    """A real, decodable white `side` x `side` PNG (1 bit per pixel) of about 100 kB: 900 megapixels at 30,000."""
    row = b"\x00" + b"\xff" * ((side + 7) // 8)  # filter byte "none", then white pixels
    packer = zlib.compressobj(1)
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")
    path.write_bytes(png)
    return path


def long_pdf(path: Path, pages: int = 200, side_pt: float = 72) -> Path:
    """A PDF of `pages` blank pages of `side_pt` points square, made with pypdfium2."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    for _ in range(pages):
        pdf.new_page(side_pt, side_pt)
    pdf.save(str(path))
    pdf.close()
    return path


def _rc4(key: bytes, data: bytes) -> bytes:
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    i = j = 0
    out = bytearray()
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def locked_pdf(path: Path, user_password: bytes = b"secret") -> Path:
    """A one-page PDF that needs `user_password` to open: the Standard security handler, revision 2 (RC4, 40-bit),
    its /O and /U entries computed as ISO 32000-1 algorithms 3 and 4 say."""
    padded = (user_password + PDF_PASSWORD_PAD)[:32]
    owner_key = hashlib.md5((b"owner" + PDF_PASSWORD_PAD)[:32]).digest()[:5]
    owner_entry = _rc4(owner_key, padded)
    permissions, file_id = -4, b"0123456789abcdef"
    key = hashlib.md5(padded + owner_entry + struct.pack("<i", permissions) + file_id).digest()[:5]
    user_entry = _rc4(key, PDF_PASSWORD_PAD)
    encrypt = f"<< /Filter /Standard /V 1 /R 2 /O <{owner_entry.hex()}> /U <{user_entry.hex()}> /P {permissions} >>"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 72] >>",
        encrypt,
    ]
    body = b"%PDF-1.4\n"
    offsets = []
    for number, text in enumerate(objects, start=1):
        offsets.append(len(body))
        body += f"{number} 0 obj\n{text}\nendobj\n".encode()
    xref = len(body)
    body += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    body += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    ident = file_id.hex()
    trailer = f"<< /Size {len(objects) + 1} /Root 1 0 R /Encrypt 4 0 R /ID [<{ident}> <{ident}>] >>"
    body += f"trailer\n{trailer}\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(body)
    return path


def corrupt_pdf(path: Path) -> Path:
    """A file named .pdf whose body is not a PDF's."""
    path.write_bytes(b"%PDF-1.4\nthis is not a PDF body\n")
    return path
