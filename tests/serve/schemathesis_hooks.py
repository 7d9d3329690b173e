"""Schemathesis hooks (loaded through SCHEMATHESIS_HOOKS): what a valid image upload is.

JSON Schema can say "binary, at least one byte" but not "a file that decodes as an image", so the fuzzer is told
how to make real images for the raw-body media types without a built-in sample (application/octet-stream and
image/bmp); it already sends real PNG, JPEG, GIF and WebP files for the others.
"""

from __future__ import annotations

import io

import schemathesis
from hypothesis import strategies as st
from PIL import Image
from schemathesis.core.parameters import ParameterLocation


@st.composite
def images(draw: st.DrawFn, image_format: str) -> bytes:
    """A small solid-colour image of a random size and colour, encoded as `image_format`."""
    size = (draw(st.integers(1, 48)), draw(st.integers(1, 48)))
    colour = tuple(draw(st.integers(0, 255)) for _ in range(3))
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=image_format)
    return buffer.getvalue()


schemathesis.openapi.media_type("application/octet-stream", images("PNG"))
schemathesis.openapi.media_type("image/bmp", images("BMP"))


@schemathesis.hook
def filter_case(context: schemathesis.HookContext, case: schemathesis.Case) -> bool:
    """Leave out bodies that break the schema combined with `?on_bad=skip`.

    With skip the service answers 200 and lists each unusable input (an empty file, a blank or overlong text) in
    `skipped`, by design: a body rule that depends on a query parameter, which no OpenAPI document can state.
    Schema-breaking bodies are still sent without skip, and valid bodies with it.
    """
    negative_body = case.meta is not None and case.meta.is_negative_at(ParameterLocation.BODY)
    return not (negative_body and (case.query or {}).get("on_bad") == "skip")
