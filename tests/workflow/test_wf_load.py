"""load_workflow_file and the PNG/WebP metadata reader."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from comfytui.core.errors import InputError, SourcePositionError
from comfytui.core.workflows.load import load_workflow_file
from comfytui.core.workflows.pnginfo import read_image_metadata, read_png_text
from conftest import FIXTURES

API = {"3": {"class_type": "EmptyImage", "inputs": {"width": 8}, "_meta": {"title": "E"}}}
EDITOR = json.loads((FIXTURES / "acceptance.json").read_text())


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_api_json(tmp_path):
    wf = load_workflow_file(write(tmp_path, "a.json", json.dumps(API)))
    assert (wf.format, wf.source, wf.prompt, wf.workflow) == ("api", "file", API, None)
    assert wf.name == "a"


def test_editor_json(tmp_path):
    wf = load_workflow_file(write(tmp_path, "e.json", json.dumps(EDITOR)))
    assert (wf.format, wf.prompt, wf.workflow) == ("editor", None, EDITOR)


def test_editor_json_with_bom(tmp_path):
    p = tmp_path / "bom.json"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps(EDITOR).encode())
    assert load_workflow_file(p).format == "editor"


def test_syntax_error_has_line_and_column(tmp_path):
    p = write(tmp_path, "bad.json", '{\n  "3": {\n    "class_type": "X",,\n  }\n}')
    with pytest.raises(SourcePositionError) as info:
        load_workflow_file(p)
    assert (info.value.line, info.value.column) == (3, 23)
    assert str(info.value).startswith(f"{p}:3:23: ")


@pytest.mark.parametrize(
    "payload",
    [[1, 2], {}, {"a": 1}, {"3": {"inputs": {}}}, {"nodes": "x", "links": []}, "text"],
)
def test_wrong_shape_names_file_and_expectation(tmp_path, payload):
    p = write(tmp_path, "w.json", json.dumps(payload))
    with pytest.raises(InputError) as info:
        load_workflow_file(p)
    assert str(p) in str(info.value)
    assert "API-format" in str(info.value) and "editor-format" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        load_workflow_file(tmp_path / "nope.json")


def png_with(tmp_path: Path, name: str, info: PngInfo | None) -> Path:
    p = tmp_path / name
    Image.new("RGB", (4, 4), "red").save(p, pnginfo=info)
    return p


def test_png_text_chunks_like_save_image(tmp_path):
    info = PngInfo()
    info.add_text("prompt", json.dumps(API))
    info.add_text("workflow", json.dumps(EDITOR))
    info.add_text("custom_key", json.dumps({"a": 1}))
    wf = load_workflow_file(png_with(tmp_path, "o.png", info))
    assert (wf.format, wf.source, wf.prompt, wf.workflow) == ("editor", "png", API, EDITOR)


def test_png_prompt_only_is_api(tmp_path):
    info = PngInfo()
    info.add_text("prompt", json.dumps(API))
    wf = load_workflow_file(png_with(tmp_path, "o.png", info))
    assert (wf.format, wf.prompt, wf.workflow) == ("api", API, None)


def test_png_itxt_and_ztxt(tmp_path):
    info = PngInfo()
    info.add_itxt("workflow", json.dumps(EDITOR), zip=True)
    info.add_text("prompt", json.dumps(API), zip=True)
    wf = load_workflow_file(png_with(tmp_path, "o.png", info))
    assert (wf.prompt, wf.workflow) == (API, EDITOR)


def test_animated_png_comf_chunks(tmp_path):
    p = png_with(tmp_path, "anim.png", None)
    data = p.read_bytes()
    body = b"prompt\0" + json.dumps(API).encode()
    chunk = struct.pack(">I", len(body)) + b"comf" + body + struct.pack(">I", zlib.crc32(b"comf" + body))
    iend = data.rindex(b"IEND") - 4
    p.write_bytes(data[:iend] + chunk + data[iend:])
    assert read_png_text(p.read_bytes())["prompt"] == json.dumps(API)
    assert load_workflow_file(p).prompt == API


def test_png_without_metadata(tmp_path):
    p = png_with(tmp_path, "plain.png", None)
    with pytest.raises(InputError, match="neither a 'prompt' nor a 'workflow'"):
        load_workflow_file(p)


def test_png_with_broken_prompt_json(tmp_path):
    info = PngInfo()
    info.add_text("prompt", "{not json")
    with pytest.raises(InputError, match="'prompt' metadata is not valid JSON"):
        load_workflow_file(png_with(tmp_path, "o.png", info))


def test_webp_exif_like_save_animated_webp(tmp_path):
    exif = Image.Exif()
    exif[0x0110] = "prompt:" + json.dumps(API)
    exif[0x010F] = "workflow:" + json.dumps(EDITOR)
    p = tmp_path / "o.webp"
    Image.new("RGB", (4, 4), "blue").save(p, exif=exif)
    wf = load_workflow_file(p)
    assert (wf.format, wf.source, wf.prompt, wf.workflow) == ("editor", "webp", API, EDITOR)
    meta = read_image_metadata(p)
    assert meta.container == "webp" and set(meta.text) == {"prompt", "workflow"}


def test_webp_without_metadata(tmp_path):
    p = tmp_path / "o.webp"
    Image.new("RGB", (4, 4), "blue").save(p)
    with pytest.raises(InputError, match="WEBP image holds no ComfyUI workflow"):
        load_workflow_file(p)
