"""Reading safetensors headers from real files: good ones and every kind of broken one."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest
from safetensors_files import CHECKPOINT, LORA, corrupt_header, huge_header_length, safetensors_bytes, write

from comfytui.core.models.safetensors import (
    SafetensorsHeaderError,
    parse_header,
    read_header,
    read_header_async,
    try_read_header,
)


def test_good_file(tmp_path: Path) -> None:
    path = write(tmp_path / "sd.safetensors", safetensors_bytes(CHECKPOINT, {"modelspec.title": "Test", "format": "pt"}))
    h = read_header(path)
    assert h.metadata == {"modelspec.title": "Test", "format": "pt"}
    assert h.tensor_count == 4
    assert h.dtypes == {"F16": 2, "F32": 1, "I64": 1}
    assert list(h.dtypes) == ["F16", "F32", "I64"]  # most common first
    assert h.parameter_count == 32 * 4 * 9 + 4 + 8 * 4 * 9 + 77
    assert h.data_bytes == path.stat().st_size - 8 - h.header_length
    assert h.warnings == ()
    assert h.has_prefix("model.diffusion_model.") and not h.has_prefix("lora_")
    d = h.to_dict()
    assert d["dtypes"] == {"F16": 2, "F32": 1, "I64": 1} and "tensor_names" not in d
    assert len(h.to_dict(names=True)["tensor_names"]) == 4


def test_dtype_summary_many_tensors(tmp_path: Path) -> None:
    tensors = {f"model.diffusion_model.t{i}": ("F16", [2, 2]) for i in range(1130)}
    tensors |= {"a": ("F32", [3]), "b": ("F32", [])}
    h = read_header(write(tmp_path / "big.safetensors", safetensors_bytes(tensors)))
    assert h.dtypes == {"F16": 1130, "F32": 2}
    assert h.parameter_count == 1130 * 4 + 3 + 1  # a scalar counts 1
    assert h.metadata == {}


def test_zero_byte_file(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.safetensors", b"")
    with pytest.raises(SafetensorsHeaderError, match=r"empty file \(0 bytes\)"):
        read_header(path)


def test_shorter_than_the_length_field(tmp_path: Path) -> None:
    with pytest.raises(SafetensorsHeaderError, match=r"too short \(5 bytes\)"):
        read_header(write(tmp_path / "short.safetensors", b"\x01\x02\x03\x04\x05"))


def test_huge_declared_length_is_refused_without_reading(tmp_path: Path) -> None:
    path = write(tmp_path / "huge.safetensors", huge_header_length())
    started = time.perf_counter()
    with pytest.raises(SafetensorsHeaderError) as info:
        read_header(path)
    assert time.perf_counter() - started < 0.5
    msg = str(info.value)
    assert f"declared header length {2**62} bytes exceeds the 100 MB limit" in msg
    assert msg.startswith(str(path))


def test_length_just_over_a_custom_limit(tmp_path: Path) -> None:
    path = write(tmp_path / "x.safetensors", safetensors_bytes(LORA))
    with pytest.raises(SafetensorsHeaderError, match="exceeds the 0 MB limit"):
        read_header(path, max_header_bytes=16)


def test_corrupt_json(tmp_path: Path) -> None:
    with pytest.raises(SafetensorsHeaderError, match=r"corrupt safetensors header: not valid JSON \(.*line 1 column"):
        read_header(write(tmp_path / "c.safetensors", corrupt_header()))


def test_truncated_header(tmp_path: Path) -> None:
    good = safetensors_bytes(LORA)
    path = write(tmp_path / "t.safetensors", good[:40])
    with pytest.raises(SafetensorsHeaderError, match="truncated safetensors header: it declares"):
        read_header(path)


def test_truncated_data_is_a_warning(tmp_path: Path) -> None:
    good = safetensors_bytes(LORA)
    (length,) = struct.unpack("<Q", good[:8])
    h = read_header(write(tmp_path / "t.safetensors", good[: 8 + length + 10]))
    assert h.tensor_count == 2
    assert h.warnings and h.warnings[0].startswith("truncated: the header places tensor data up to byte")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"[1, 2, 3]", "expected a JSON object, got list"),
        (b'{"__metadata__": [1]}', "__metadata__ is not an object"),
        (b'{"t": 5}', "tensor 't' is not an object"),
        (b'{"t": {"shape": [1], "data_offsets": [0, 2]}}', "tensor 't' has no dtype"),
        (b'{"t": {"dtype": "F16", "shape": [-1], "data_offsets": [0, 2]}}', "tensor 't' has a bad shape"),
        (b'{"t": {"dtype": "F16", "shape": [1], "data_offsets": [4, 2]}}', "tensor 't' has bad data_offsets"),
        (b'{"t": {"dtype": "F16", "shape": [1], "data_offsets": "x"}}', "tensor 't' has bad data_offsets"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_malformed_headers(tmp_path: Path, payload: bytes, message: str) -> None:
    path = write(tmp_path / "m.safetensors", struct.pack("<Q", len(payload)) + payload)
    with pytest.raises(SafetensorsHeaderError, match=message.replace("[", r"\[")):
        read_header(path)


def test_metadata_values_that_are_not_strings_are_kept_as_json() -> None:
    raw = json.dumps({"__metadata__": {"steps": 20, "name": "x"}}).encode()
    h = parse_header(raw)
    assert h.metadata == {"steps": "20", "name": "x"} and h.tensor_count == 0


def test_directory_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SafetensorsHeaderError, match="is a directory"):
        read_header(tmp_path)
    with pytest.raises(SafetensorsHeaderError, match="cannot read"):
        read_header(tmp_path / "nope.safetensors")


async def test_try_read_and_async(tmp_path: Path) -> None:
    bad = write(tmp_path / "empty.safetensors", b"")
    result = try_read_header(bad)
    assert not result.ok and result.header is None
    assert result.error == "empty file (0 bytes), not a safetensors file"  # the entry names the file already
    good = write(tmp_path / "l.safetensors", safetensors_bytes(LORA, {"ss_network_dim": "4"}))
    result = try_read_header(good)
    assert result.ok and result.metadata == {"ss_network_dim": "4"}
    assert result.to_dict()["tensor_count"] == 2
    h = await read_header_async(good)
    assert h.dtypes == {"F16": 2}
