"""Read a safetensors file's header, and only its header.

A safetensors file starts with an 8-byte little-endian length N, then N bytes of UTF-8 JSON:
``{"__metadata__": {str: str}, "<tensor>": {"dtype": "F16", "shape": [..], "data_offsets": [a, b]}}``,
then the tensor data. Reading the header costs a few kilobytes to a few megabytes, never the
weights. Every way a file can be broken (empty, truncated, a length that is absurd, JSON that
is not JSON) is a ``SafetensorsHeaderError`` with a message meant for the user, never a crash.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import reprlib
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from comfytui.core.errors import InputError

MAX_HEADER_BYTES = 100 * 1024 * 1024
"""A declared header longer than this is refused without being read (100 MB, like safetensors itself)."""

DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}

MAX_HEADER_DEPTH = 64
"""JSON nesting a header may have (a real one has 3: header, tensor, shape)."""


def _depth(value: Any, limit: int = MAX_HEADER_DEPTH) -> int:
    """Nesting depth of a decoded JSON value, counted no further than ``limit + 1``."""
    if limit < 0 or not isinstance(value, (dict, list)):
        return 0
    items = value.values() if isinstance(value, dict) else value
    return 1 + max((_depth(v, limit - 1) for v in items), default=0)


class SafetensorsHeaderError(InputError):
    """The file is not a readable safetensors file; the message says why."""


@dataclass(frozen=True)
class SafetensorsHeader:
    """What the header of one safetensors file says."""

    header_length: int
    metadata: dict[str, str]
    tensor_count: int
    dtypes: dict[str, int]
    """Tensors per dtype, most common first, e.g. ``{"F16": 1130, "F32": 2}``."""
    parameter_count: int
    tensor_names: tuple[str, ...] = ()
    data_bytes: int = 0
    """End of the last tensor's data (the data section's size the header implies)."""
    warnings: tuple[str, ...] = ()
    """Problems that do not stop the header from being read (e.g. the data section is truncated)."""
    path: str | None = None

    def has_prefix(self, prefix: str) -> bool:
        return any(name.startswith(prefix) for name in self.tensor_names)

    def to_dict(self, *, names: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "header_length": self.header_length,
            "tensor_count": self.tensor_count,
            "dtypes": dict(self.dtypes),
            "parameter_count": self.parameter_count,
            "data_bytes": self.data_bytes,
            "metadata": dict(self.metadata),
            "warnings": list(self.warnings),
        }
        if names:
            out["tensor_names"] = list(self.tensor_names)
        return out


def parse_header(raw: bytes, *, header_length: int | None = None, file_size: int | None = None,
                 path: str | None = None) -> SafetensorsHeader:
    """Parse the JSON header bytes (without the 8-byte length)."""
    where = f"{path}: " if path else ""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SafetensorsHeaderError(f"{where}corrupt safetensors header: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SafetensorsHeaderError(
            f"{where}corrupt safetensors header: not valid JSON ({exc.msg}: line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:  # a hostile header nested past the interpreter's limit
        raise SafetensorsHeaderError(
            f"{where}corrupt safetensors header: JSON nested too deeply to read (a real header has 3 levels)"
        ) from None
    if not isinstance(data, dict):
        raise SafetensorsHeaderError(f"{where}corrupt safetensors header: expected a JSON object, got {type(data).__name__}")
    metadata_raw = data.pop("__metadata__", None) or {}
    if not isinstance(metadata_raw, dict):
        raise SafetensorsHeaderError(f"{where}corrupt safetensors header: __metadata__ is not an object")
    for key, value in metadata_raw.items():  # non-string values are shown as JSON: bound them first
        if _depth(value) > MAX_HEADER_DEPTH:
            raise SafetensorsHeaderError(
                f"{where}corrupt safetensors header: __metadata__ entry {str(key)[:60]!r} is nested more than "
                f"{MAX_HEADER_DEPTH} levels deep"
            )
    metadata = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in metadata_raw.items()}
    dtypes: Counter[str] = Counter()
    params = 0
    end = 0
    warnings: list[str] = []
    for name, info in data.items():
        if not isinstance(info, dict):
            raise SafetensorsHeaderError(f"{where}corrupt safetensors header: tensor {name!r} is not an object")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if not isinstance(dtype, str):
            raise SafetensorsHeaderError(f"{where}corrupt safetensors header: tensor {name!r} has no dtype")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise SafetensorsHeaderError(f"{where}corrupt safetensors header: tensor {name!r} has a bad shape {reprlib.repr(shape)}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
                or offsets[0] > offsets[1]):
            raise SafetensorsHeaderError(
                f"{where}corrupt safetensors header: tensor {name!r} has bad data_offsets {reprlib.repr(offsets)}"
            )
        count = math.prod(shape)
        width = DTYPE_BYTES.get(dtype)
        if width is not None and offsets[1] - offsets[0] != count * width:
            warnings.append(f"tensor {name!r}: {offsets[1] - offsets[0]} bytes of data for {count} x {dtype}")
        dtypes[dtype] += 1
        params += count
        end = max(end, offsets[1])
    if header_length is not None and file_size is not None and 8 + header_length + end > file_size:
        warnings.insert(0, f"truncated: the header places tensor data up to byte {8 + header_length + end} "
                           f"but the file has {file_size} bytes")
    if len(warnings) > 20:
        warnings = [*warnings[:20], f"... and {len(warnings) - 20} more"]
    return SafetensorsHeader(
        header_length=header_length if header_length is not None else len(raw),
        metadata=metadata,
        tensor_count=sum(dtypes.values()),
        dtypes=dict(dtypes.most_common()),
        parameter_count=params,
        tensor_names=tuple(data),
        data_bytes=end,
        warnings=tuple(warnings),
        path=path,
    )


def read_header(path: str | os.PathLike[str], *, max_header_bytes: int = MAX_HEADER_BYTES) -> SafetensorsHeader:
    """Read and parse the header of a local safetensors file (blocking; see ``read_header_async``)."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise SafetensorsHeaderError(f"{p}: empty file (0 bytes), not a safetensors file")
            prefix = f.read(8)
            if len(prefix) < 8:
                raise SafetensorsHeaderError(
                    f"{p}: file too short ({size} bytes) to hold a safetensors header length (8 bytes)"
                )
            (length,) = struct.unpack("<Q", prefix)
            if length > max_header_bytes:
                raise SafetensorsHeaderError(
                    f"{p}: declared header length {length} bytes exceeds the {max_header_bytes // (1024 * 1024)} MB "
                    "limit; refusing to read it (corrupt or not a safetensors file)"
                )
            if length < 2:
                raise SafetensorsHeaderError(f"{p}: corrupt safetensors header: declared length {length} is too small")
            if 8 + length > size:
                raise SafetensorsHeaderError(
                    f"{p}: truncated safetensors header: it declares {length} bytes but the file has "
                    f"only {size - 8} after the length"
                )
            raw = f.read(length)
    except SafetensorsHeaderError:
        raise
    except IsADirectoryError:
        raise SafetensorsHeaderError(f"{p}: is a directory, not a safetensors file") from None
    except OSError as exc:
        raise SafetensorsHeaderError(f"{p}: cannot read: {exc.strerror or exc}") from None
    if len(raw) < length:
        raise SafetensorsHeaderError(f"{p}: truncated safetensors header (file shrank while reading)")
    return parse_header(raw, header_length=length, file_size=size, path=str(p))


async def read_header_async(path: str | os.PathLike[str], *, max_header_bytes: int = MAX_HEADER_BYTES) -> SafetensorsHeader:
    return await asyncio.to_thread(read_header, path, max_header_bytes=max_header_bytes)


@dataclass(frozen=True)
class HeaderResult:
    """A header or the reason there is none; ``source`` is "file" (local) or "server" (/view_metadata)."""

    header: SafetensorsHeader | None = None
    error: str | None = None
    source: str = "file"
    metadata: dict[str, str] = field(default_factory=dict)
    """``__metadata__`` (the only part the server's /view_metadata gives)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "error": self.error}
        if self.header is not None:
            out.update(self.header.to_dict())
        else:
            out["metadata"] = dict(self.metadata)
        return out


def try_read_header(path: str | os.PathLike[str], *, max_header_bytes: int = MAX_HEADER_BYTES) -> HeaderResult:
    """``read_header`` that returns the error as a string instead of raising."""
    try:
        header = read_header(path, max_header_bytes=max_header_bytes)
    except SafetensorsHeaderError as exc:
        # the entry already names the file: keep the reason only
        return HeaderResult(error=exc.message.removeprefix(f"{Path(path)}: "), source="file")
    return HeaderResult(header=header, source="file", metadata=header.metadata)

