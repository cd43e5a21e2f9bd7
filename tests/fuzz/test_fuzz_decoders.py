"""Hypothesis fuzzing of everything that reads untrusted bytes: websocket frame decoding, the job
reducer fed with what the decoder makes of them, /queue and /history payloads, config loading and
PNG metadata. Nothing but a ComfyTuiError subclass may escape, and decoders never raise at all."""

from __future__ import annotations

import json
import struct
import zlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfytui.core.comfy import events as ev
from comfytui.core.comfy import protocol
from comfytui.core.comfy.jobs import JobBook
from comfytui.core.config import parse_config
from comfytui.core.errors import ComfyTuiError
from comfytui.core.workflows.pnginfo import PNG_SIGNATURE, read_png_text

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TYPES = ["status", "executing", "progress", "progress_state", "executed", "execution_start", "execution_cached",
         "execution_success", "execution_error", "execution_interrupted", "logs", "feature_flags", "x"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
fields = st.dictionaries(
    st.sampled_from(["prompt_id", "node", "value", "max", "timestamp", "nodes", "output", "status", "entries",
                     "exception_message", "traceback", "executed", "sid", "display_node"]),
    json_values, max_size=6,
)
messages = st.fixed_dictionaries({"type": st.sampled_from(TYPES), "data": st.one_of(fields, json_values)})


@FAST
@given(st.lists(messages, max_size=8), st.lists(st.binary(max_size=40), max_size=3))
def test_frames_decode_and_fold_without_escaping_exceptions(frames: list[dict], binaries: list[bytes]) -> None:
    book = JobBook()
    for frame in frames:
        event = protocol.decode_text(json.dumps(frame))  # NaN/Infinity included: json.dumps writes them
        book.apply(event, 1000.0)
    for blob in binaries:
        assert protocol.decode_binary(struct.pack(">I", 3) + blob) is not None
        assert protocol.decode_binary(blob) is not None


@FAST
@given(st.text(max_size=200))
def test_any_text_frame_decodes_to_an_event(text: str) -> None:
    event = protocol.decode_text(text)
    assert isinstance(event, ev.Malformed | ev.UnknownMessage) or type(event).__module__ == ev.__name__


@FAST
@given(json_values, json_values)
def test_queue_and_history_payloads_raise_only_comfytui_errors(queue: object, history: object) -> None:
    book = JobBook()
    for decode in (protocol.queue_snapshot, protocol.history_entries):
        for payload in (queue, {"queue_running": queue, "queue_pending": history}, {"a": history}):
            try:
                result = decode(payload)
            except ComfyTuiError:
                continue
            book.apply(result if isinstance(result, ev.QueueSnapshot) else ev.HistorySnapshot(tuple(result)), 5.0)


@FAST
@given(st.text(max_size=300))
def test_config_text_raises_only_config_errors(text: str) -> None:
    try:
        parse_config(text, "fuzz.toml")
    except ComfyTuiError:
        pass


@FAST
@given(st.lists(st.tuples(st.sampled_from([b"tEXt", b"zTXt", b"iTXt", b"comf", b"IDAT", b"IEND"]), st.binary(max_size=40)), max_size=5))
def test_png_text_chunks_never_crash(chunks: list[tuple[bytes, bytes]]) -> None:
    data = PNG_SIGNATURE
    for ctype, body in chunks:
        if ctype == b"zTXt" and body:
            body = b"k\0\0" + zlib.compress(body)
        data += struct.pack(">I", len(body)) + ctype + body + b"\0\0\0\0"
    assert isinstance(read_png_text(data), dict)
