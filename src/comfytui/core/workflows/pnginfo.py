"""Read the workflow metadata ComfyUI embeds in the images it saves (COMFY_API §4.8).

- PNG: ``tEXt``, ``zTXt`` and ``iTXt`` chunks (``prompt``, ``workflow``, one per extra_pnginfo key),
  plus the private ``comf`` chunks of ``SaveAnimatedPNG`` (``key\\0json``).
- WebP (and any other format Pillow reads with EXIF): tag 0x0110 (Model) holds ``prompt:<json>``,
  tags 0x010F (Make) downward hold ``<key>:<json>``.

The PNG reader parses chunks itself (no size limit on text chunks, unlike Pillow's
``MAX_TEXT_CHUNK``); only the EXIF path needs Pillow. Nothing here imports a UI library, so the
model browser and the history pane can reuse it.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from comfytui.core.errors import InputError, SourcePositionError
from comfytui.core.workflows.strict_json import strict_json_loads

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt", b"comf"}
_EXIF_PROMPT_TAG = 0x0110
_EXIF_FIRST_EXTRA_TAG = 0x010F
_MAX_DECOMPRESSED = 64 * 1024 * 1024
"""One text chunk inflated: no bigger than a workflow can sanely be (a zTXt bomb stops here)."""
MAX_METADATA_BYTES = 64 * 1024**2
"""Text chunks read from one PNG, in total: the pixels after them are never read."""
MAX_IMAGE_PIXELS = 16384 * 16384
"""Set on Pillow explicitly (its default only warns below 2x this) for the EXIF path."""


@dataclass(frozen=True)
class ImageMetadata:
    """The text metadata of one image: raw ``{key: text}`` plus the decoded workflow parts."""

    path: str
    container: str
    """``"png"``, ``"webp"`` or another Pillow format name in lower case."""
    text: dict[str, str] = field(default_factory=dict)
    prompt: dict[str, Any] | None = None
    """The API-format prompt ComfyUI validated and ran, if embedded."""
    workflow: dict[str, Any] | None = None
    """The editor-format workflow (``extra_pnginfo.workflow``), if embedded."""

    @property
    def has_workflow(self) -> bool:
        return self.prompt is not None or self.workflow is not None


def sniff_image(head: bytes) -> str | None:
    """The container of a file from its first bytes: ``"png"``, ``"webp"``, ``"jpeg"`` or None."""
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    return None


def read_png_text(data: bytes) -> dict[str, str]:
    """All text-like chunks of a PNG as ``{keyword: text}``; the first chunk of a keyword wins.

    Damaged chunks are skipped, not fatal: a PNG whose pixels are fine but whose one text chunk is
    broken still yields the others. A file that is not a PNG at all raises ``ValueError``.
    """
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    out: dict[str, str] = {}
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if ctype == b"IEND":
            break
        if ctype not in _TEXT_CHUNKS or len(body) < length:
            continue
        try:
            key, text = _decode_text_chunk(ctype, body)
        except (ValueError, IndexError, zlib.error, UnicodeDecodeError):  # IndexError: an empty iTXt
            continue
        out.setdefault(key, text)
    return out


def _decode_text_chunk(ctype: bytes, body: bytes) -> tuple[str, str]:
    key_raw, sep, rest = body.partition(b"\0")
    if not sep:
        raise ValueError("chunk without a keyword separator")
    key = key_raw.decode("latin-1")
    if ctype == b"tEXt":
        return key, rest.decode("latin-1")
    if ctype == b"comf":
        return key, rest.decode("utf-8")
    if ctype == b"zTXt":
        return key, _inflate(rest[1:]).decode("latin-1")
    # iTXt: compression flag, compression method, language\0, translated keyword\0, text
    flag = rest[0]
    rest = rest[2:]
    _lang, _, rest = rest.partition(b"\0")
    _tkey, _, text = rest.partition(b"\0")
    if flag:
        text = _inflate(text)
    return key, text.decode("utf-8")


def _inflate(data: bytes) -> bytes:
    d = zlib.decompressobj()
    out = d.decompress(data, _MAX_DECOMPRESSED)
    if d.unconsumed_tail:
        raise ValueError("text chunk too large")
    return out


def read_exif_text(path: str | Path) -> dict[str, str]:
    """ComfyUI's EXIF ``key:json`` entries of a WebP (or JPEG) as ``{key: text}``."""
    from PIL import Image  # Pillow is heavy to import; only this path needs it

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    out: dict[str, str] = {}
    with Image.open(path) as img:
        exif = img.getexif()
    tags = [_EXIF_PROMPT_TAG] + list(range(_EXIF_FIRST_EXTRA_TAG, 0x00FF, -1))
    for tag in tags:
        value = exif.get(tag)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if not isinstance(value, str):
            continue
        value = value.rstrip("\0")
        key, sep, text = value.partition(":")
        if sep and key and text[:1] in ("{", "["):
            out.setdefault(key, text)
    return out


def _png_text_chunks(handle: Any, spath: str) -> bytes:
    """The chunks after the signature, every non-text chunk's body skipped (seeked over, never
    read): at most ``MAX_METADATA_BYTES`` of text chunks in total."""
    out = bytearray()
    handle.seek(len(PNG_SIGNATURE))
    total = 0
    while True:
        header = handle.read(8)
        if len(header) < 8:
            break
        (length,) = struct.unpack(">I", header[:4])
        ctype = header[4:8]
        if ctype in _TEXT_CHUNKS:
            total += length
            if total > MAX_METADATA_BYTES:
                raise InputError(f"{spath}: its text chunks exceed {MAX_METADATA_BYTES // 1024**2} MiB; not read")
            out += header + handle.read(length + 4)
        elif ctype == b"IEND":
            out += header
            break
        else:
            out += struct.pack(">I", 0) + ctype + b"\0\0\0\0"  # kept empty: offsets stay right
            handle.seek(length + 4, 1)
    return bytes(out)


def _parse_json_chunk(path: str, key: str, text: str) -> dict[str, Any]:
    try:
        value = strict_json_loads(text, path)
    except SourcePositionError as exc:
        raise InputError(
            f"{path}: the embedded '{key}' metadata is not valid JSON "
            f"(line {exc.line}, column {exc.column}: {exc.what})"
        ) from None
    if not isinstance(value, dict):
        raise InputError(f"{path}: the embedded '{key}' metadata is a {type(value).__name__}, not an object")
    return value


def read_image_metadata(path: str | Path) -> ImageMetadata:
    """Read an image's embedded ComfyUI metadata.

    Raises ``InputError`` when the file cannot be read, is not an image format we know, or when an
    embedded ``prompt``/``workflow`` is not valid JSON. An image without metadata is not an error
    here: check ``has_workflow``.
    """
    spath = str(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
            container = sniff_image(head)
            data = PNG_SIGNATURE + _png_text_chunks(handle, spath) if container == "png" else head
    except OSError as exc:
        raise InputError(f"{spath}: cannot read the file ({exc.strerror or exc})") from exc
    if container == "png":
        text = read_png_text(data)
    elif container is not None:
        try:
            text = read_exif_text(path)
        except Exception as exc:  # Pillow raises many types for damaged files
            raise InputError(f"{spath}: cannot read the image's metadata ({exc})") from exc
    else:
        raise InputError(f"{spath}: not a PNG, WebP or JPEG image")
    prompt = _parse_json_chunk(spath, "prompt", text["prompt"]) if "prompt" in text else None
    workflow = _parse_json_chunk(spath, "workflow", text["workflow"]) if "workflow" in text else None
    return ImageMetadata(path=spath, container=container, text=text, prompt=prompt, workflow=workflow)
