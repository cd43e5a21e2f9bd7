"""The bad-input corpus: workflows, images, configs and safetensors files a user (or a hostile
file) can hand comfytui. ``build(dir)`` writes every item; ``python tests/corpus/corpus.py``
refreshes the small static copies in ``tests/corpus/files/`` (the large ones, a nesting bomb and
a text-chunk bomb, are only ever generated)."""

from __future__ import annotations

import json
import struct
import sys
import zlib
from pathlib import Path

GOOD_API = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
            "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}


def _editor(links: list, widgets: object = (8, 8, 1, 0)) -> dict:
    empty = {"id": 1, "type": "EmptyImage", "mode": 0, "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}],
             "inputs": [], "widgets_values": list(widgets) if isinstance(widgets, tuple) else widgets}
    preview = {"id": 2, "type": "PreviewImage", "mode": 0,
               "inputs": [{"name": "images", "type": "IMAGE", "link": 1}], "outputs": [], "widgets_values": []}
    return {"last_node_id": 2, "last_link_id": 1, "nodes": [empty, preview], "links": links, "version": 0.4}


def _chunk(ctype: bytes, body: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(ctype + body) if crc is None else crc
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", crc)


def _png(*chunks: bytes) -> bytes:
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    idat = _chunk(b"IDAT", zlib.compress(b"\0\0\0\0"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + b"".join(chunks) + idat + _chunk(b"IEND", b"")


def _safetensors(header: bytes, length: int | None = None) -> bytes:
    return struct.pack("<Q", len(header) if length is None else length) + header


WORKFLOWS: dict[str, bytes] = {
    "truncated.json": json.dumps(GOOD_API).encode()[:-7],
    "top_level_list.json": b"[1, 2, 3]\n",
    "top_level_string.json": b'"a workflow"\n',
    "nan.json": json.dumps(GOOD_API, indent=1).replace('"color": 0', '"color": NaN').encode(),
    "infinity.json": json.dumps(GOOD_API).replace('"width": 8', '"width": -Infinity').encode(),
    "huge_number.json": json.dumps(GOOD_API).replace('"width": 8', '"width": 1e999').encode(),
    "bad_link_slot.json": json.dumps(_editor([[1, 1, "zero", 2, 0, "IMAGE"]])).encode(),
    "float_link_slot.json": json.dumps(_editor([[1, 1, 0, 2, 0.5, "IMAGE"]])).encode(),
    "widgets_not_list.json": json.dumps(_editor([[1, 1, 0, 2, 0, "IMAGE"]], widgets="8x8")).encode(),
    "unknown_node_type.json": json.dumps(
        {"1": {"class_type": "NoSuchNodeAnywhere", "inputs": {}}, **{k: v for k, v in GOOD_API.items() if k == "2"}}
    ).replace('["1", 0]', '["1", 0]').encode(),
    "not_utf8.json": b'{"1": {"class_type": "\xff\xfe"}}',
    "empty.json": b"",
}

GENERATED_WORKFLOWS: dict[str, bytes] = {
    "nesting_bomb.json": b'{"1": {"class_type": "EmptyImage", "inputs": {"x": ' + b"[" * 200_000 + b"]" * 200_000
                         + b"}}}",
}

IMAGES: dict[str, bytes] = {
    "truncated.png": _png(_chunk(b"tEXt", b"prompt\0" + json.dumps(GOOD_API).encode()))[:60],
    "bad_crc.png": _png(_chunk(b"tEXt", b"prompt\0" + json.dumps(GOOD_API).encode()[:-3], crc=0)),
    "empty_itxt.png": _png(_chunk(b"iTXt", b"")),
    "prompt_not_json.png": _png(_chunk(b"tEXt", b"prompt\0{not json")),
    "prompt_nan.png": _png(_chunk(b"tEXt", b"prompt\0" + json.dumps(GOOD_API).replace("8", "NaN", 1).encode())),
    "not_a_png.png": b"GIF89a this is not a png at all",
}

GENERATED_IMAGES: dict[str, bytes] = {
    # 2 MiB of zeros behind a zTXt that claims to be the prompt: inflates past any sane size
    "text_chunk_bomb.png": _png(*[_chunk(b"zTXt", b"prompt\0\0" + zlib.compress(b"\0" * (300 * 1024 * 1024), 9))]),
}

CONFIGS: dict[str, bytes] = {
    "bad_toml.toml": b'[server\nurl = "http://127.0.0.1:8188"\n',
    "wrong_type.toml": b'[server]\ntimeout_s = "ten seconds"\n',
    "nan.toml": b"[server]\ntimeout_s = nan\n",
    "inf.toml": b"[gpu]\ninterval_s = inf\n",
    "interval_zero.toml": b"[gpu]\ninterval_s = 0\n",
    "ftp_url.toml": b'[server]\nurl = "ftp://127.0.0.1:8188"\n',
    "unknown_section.toml": b'[sevrer]\nurl = "http://127.0.0.1:8188"\n',
    "unknown_key.toml": b'[server]\nulr = "http://127.0.0.1:8188"\n',
}

SAFETENSORS: dict[str, bytes] = {
    "negative_length.safetensors": struct.pack("<q", -5) + b"{}",
    "huge_length.safetensors": _safetensors(b"{}", length=2**62),
    "truncated_header.safetensors": _safetensors(b'{"a": {"dtype": "F16"', length=4096),
    "nested_header.safetensors": _safetensors(b'{"a": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"),
    "nested_metadata.safetensors": _safetensors(b'{"__metadata__": {"k": ' + b'{"a": ' * 200 + b"1" + b"}" * 200
                                                + b"}}"),
    "not_json.safetensors": _safetensors(b"\x00\x01binary garbage"),
    "empty.safetensors": b"",
}


def build(root: Path, *, generated: bool = True) -> dict[str, list[Path]]:
    """Write the corpus under ``root``/{workflows,images,configs,models/checkpoints}."""
    groups = {
        "workflows": WORKFLOWS | (GENERATED_WORKFLOWS if generated else {}),
        "images": IMAGES | (GENERATED_IMAGES if generated else {}),
        "configs": CONFIGS,
        "models/checkpoints": SAFETENSORS,
    }
    out: dict[str, list[Path]] = {}
    for folder, items in groups.items():
        d = root / folder
        d.mkdir(parents=True, exist_ok=True)
        out[folder] = []
        for name, data in items.items():
            (d / name).write_bytes(data)
            out[folder].append(d / name)
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("files")
    build(target, generated=False)
    print(f"wrote the static corpus under {target}")
