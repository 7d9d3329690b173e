"""Reading a multipart body: every part named `files` is an upload, whether or not its client gave a file name.

Starlette treats a part without `filename=` as a text field (decoded, its bytes lost). RFC 7578 makes the file
name optional and the OpenAPI document says `files` holds binary parts, so such a part is read as a file here.
"""

from __future__ import annotations

from tempfile import SpooledTemporaryFile

from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

FILES_FIELD = "files"


class _UploadParser(MultiPartParser):
    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        part = self._current_part
        if part.file is None and part.field_name == FILES_FIELD:  # a file part sent without a file name
            self._current_fields -= 1
            self._current_files += 1
            if self._current_files > self.max_files:
                raise MultiPartException(f"Too many files. Maximum number of files is {self.max_files}.")
            spool: SpooledTemporaryFile[bytes] = SpooledTemporaryFile(max_size=self.spool_max_size)
            self._files_to_close_on_error.append(spool)
            part.file = UploadFile(file=spool, size=0, filename=None, headers=Headers(raw=part.item_headers))  # type: ignore[arg-type]


async def read_form(request: Request, *, max_files: int, max_fields: int) -> FormData:
    """The form of a multipart request; raises `MultiPartException` for a body that cannot be parsed."""
    parser = _UploadParser(request.headers, request.stream(), max_files=max_files, max_fields=max_fields)
    return await parser.parse()
