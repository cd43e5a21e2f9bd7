"""Small real .safetensors files, written by hand: 8-byte little-endian header length, JSON, data."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

WIDTH = {"F16": 2, "BF16": 2, "F32": 4, "I64": 8, "U8": 1}


def safetensors_bytes(tensors: dict[str, tuple[str, list[int]]], metadata: dict[str, str] | None = None,
                      pad_data: bytes = b"") -> bytes:
    header: dict = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = math.prod(shape) * WIDTH[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    data = bytes((i * 7 + 3) % 256 for i in range(offset))  # not all zeros: hashes differ per file
    return struct.pack("<Q", len(raw)) + raw + data + pad_data


def write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


CHECKPOINT = {
    "model.diffusion_model.input_blocks.0.0.weight": ("F16", [32, 4, 3, 3]),
    "model.diffusion_model.out.2.bias": ("F16", [4]),
    "first_stage_model.decoder.conv_in.weight": ("F32", [8, 4, 3, 3]),
    "cond_stage_model.transformer.text_model.embeddings.position_ids": ("I64", [1, 77]),
}
VAE = {
    "encoder.conv_in.weight": ("F16", [8, 3, 3, 3]),
    "decoder.conv_in.weight": ("F16", [8, 4, 3, 3]),
    "quant_conv.weight": ("F32", [8, 8, 1, 1]),
}
LORA = {
    "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": ("F16", [32, 4]),
    "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": ("F16", [4, 32]),
}


def corrupt_header() -> bytes:
    body = b'{"model.diffusion_model.x": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]'  # no closing braces
    return struct.pack("<Q", len(body)) + body + b"\0" * 4


def huge_header_length() -> bytes:
    return struct.pack("<Q", 2**62) + b'{"a": 1}' + b"\0" * 64
