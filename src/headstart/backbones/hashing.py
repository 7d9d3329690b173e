"""SHA-256 of weight files (memoised on disk by path, size and mtime) and of in-memory state dicts."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from headstart.cache import cache_dir

if TYPE_CHECKING:
    from torch import nn

_CHUNK = 1 << 20


def _memo_path() -> Path:
    return cache_dir("hashes") / "files.json"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hash a file once per (path, size, mtime); later calls read the memo instead of 20-90 MB of weights."""
    path = Path(path).resolve()
    st = path.stat()
    key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    memo_file = _memo_path()
    try:
        memo: dict[str, str] = json.loads(memo_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        memo = {}
    if key in memo:
        return memo[key]
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    memo[key] = digest
    tmp = memo_file.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(memo, indent=0, sort_keys=True))
    os.replace(tmp, memo_file)
    return digest


def files_sha256(paths: Iterable[str | os.PathLike[str]]) -> str:
    """One hash for several weight files (a single file hashes to its own sha256)."""
    paths = sorted(Path(p) for p in paths)
    if len(paths) == 1:
        return file_sha256(paths[0])
    h = hashlib.sha256()
    for p in paths:
        h.update(f"{p.name}:{file_sha256(p)}\n".encode())
    return h.hexdigest()


def state_dict_sha256(module: nn.Module) -> str:
    """Hash of parameter and buffer names, shapes, dtypes and bytes (for weights that live only in memory)."""
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
