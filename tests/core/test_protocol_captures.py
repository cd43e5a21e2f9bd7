"""protocol: the recorded ComfyUI 0.3.75 captures decode into the events the dashboard shows."""

from __future__ import annotations

import json
import re
import struct

import pytest
from _captures import DATA, FILES, binaries, messages, notes, rebuild_frame, records

from comfytui.core.comfy import events as ev
from comfytui.core.comfy import protocol
from comfytui.core.comfy.client import node_errors_from
from comfytui.core.errors import PromptRejected

EXPECTED_CLASS = {
    "status": ev.Status,
    "execution_start": ev.ExecutionStart,
    "execution_cached": ev.ExecutionCached,
    "executing": ev.Executing,
    "progress": ev.Progress,
    "progress_state": ev.ProgressState,
    "executed": ev.Executed,
    "execution_success": ev.ExecutionSuccess,
    "execution_error": ev.ExecutionError,
    "execution_interrupted": ev.ExecutionInterrupted,
    "logs": ev.LogEntries,
    "feature_flags": ev.FeatureFlags,
}


def _is_capture_summary(msg: dict) -> bool:
    """ws_reconnect_logs summarises progress_state nodes as ``[state, value, max]`` lists."""
    nodes = (msg.get("data") or {}).get("nodes")
    return msg["type"] == "progress_state" and any(isinstance(v, list) for v in (nodes or {}).values())


@pytest.mark.parametrize("name", FILES)
def test_every_json_message_decodes_to_its_event_with_its_fields(name: str) -> None:
    seen: set[str] = set()
    for msg in messages(name):
        kind, data = msg["type"], msg["data"]
        event = protocol.decode_text(json.dumps(msg))
        if _is_capture_summary(msg):
            # Not the server's shape: skipped as malformed (counted) instead of killing the stream.
            assert isinstance(event, ev.Malformed) and event.kind == "progress_state message"
            assert "nodes.1" in event.reason, "the reason names the field at fault"
            continue
        assert isinstance(event, EXPECTED_CLASS[kind]), (kind, event)
        assert event == protocol.decode_message(msg)
        seen.add(kind)
        match event:
            case ev.Status():
                assert event.queue_remaining == data["status"]["exec_info"]["queue_remaining"]
                assert event.sid == data.get("sid")
            case ev.Executing():
                assert event.node == data["node"]
                assert event.prompt_id == data.get("prompt_id")
                assert event.display_node == data.get("display_node")
            case ev.Progress():
                assert (event.prompt_id, event.node, event.value, event.max) == (
                    data["prompt_id"], data["node"], data["value"], data["max"])
            case ev.ProgressState():
                assert event.prompt_id == data["prompt_id"]
                assert set(event.nodes) == set(data["nodes"])
                for node_id, raw in data["nodes"].items():
                    node = event.nodes[node_id]
                    assert (node.value, node.max, node.state) == (raw["value"], raw["max"], raw["state"])
                    assert node.display_node_id == raw["display_node_id"]
            case ev.Executed():
                assert (event.prompt_id, event.node, event.output) == (data["prompt_id"], data["node"], data["output"])
            case ev.ExecutionCached():
                assert event.nodes == tuple(data["nodes"])
            case ev.ExecutionStart() | ev.ExecutionSuccess():
                assert (event.prompt_id, event.timestamp) == (data["prompt_id"], data["timestamp"])
            case ev.ExecutionError():
                assert event.exception_message == data["exception_message"].rstrip("\n")
                assert (event.node_id, event.node_type, event.exception_type) == (
                    data["node_id"], data["node_type"], data["exception_type"])
                assert event.traceback == tuple(data["traceback"]) and event.traceback
            case ev.ExecutionInterrupted():
                assert (event.node_id, event.node_type, event.timestamp) == (
                    data["node_id"], data["node_type"], data["timestamp"])
            case ev.LogEntries():
                assert [(e.time, e.message) for e in event.entries] == [(e["t"], e["m"]) for e in data["entries"]]
            case ev.FeatureFlags():
                assert event.flags["supports_preview_metadata"] is True
    assert {"status", "executing", "progress", "execution_success"} <= seen
    if name != "ws_reconnect_logs.jsonl":  # there every progress_state is a summary
        assert "progress_state" in seen


def test_the_captures_cover_every_terminal_outcome() -> None:
    kinds = {m["type"] for m in messages("ws_capture_all.jsonl")}
    assert {"execution_error", "execution_interrupted", "execution_cached", "executed", "feature_flags"} <= kinds
    assert "logs" in {m["type"] for m in messages("ws_reconnect_logs.jsonl")}


def test_error_message_keeps_the_traceback_and_drops_the_trailing_newline() -> None:
    (raw,) = [m for m in messages("ws_capture_all.jsonl", sock="A") if m["type"] == "execution_error"]
    event = protocol.decode_message(raw)
    assert event.exception_message == "probe failure requested"
    assert event.node_type == "ProgressProbe"
    assert any("execution.py" in line for line in event.traceback)


def test_reconnect_replay_without_prompt_id_decodes() -> None:
    replay = [m for m in messages("ws_reconnect_logs.jsonl") if m["type"] == "executing" and "prompt_id" not in m["data"]]
    assert replay, "the capture holds the bare executing replay sent on reconnect"
    event = protocol.decode_message(replay[0])
    assert event == ev.Executing(None, "1", None)


@pytest.mark.parametrize("name", ("ws_capture_all.jsonl", "ws_transcript.jsonl"))
def test_binary_frames_rebuilt_from_the_captures_decode(name: str) -> None:
    rebuilt = 0
    for summary in binaries(name):
        frame = rebuild_frame(summary)
        if frame is None:
            continue
        rebuilt += 1
        assert frame[: len(bytes.fromhex(summary["head_hex"]))] == bytes.fromhex(summary["head_hex"])
        event = protocol.decode_binary(frame)
        match summary["event_type"]:
            case 1:
                assert isinstance(event, ev.PreviewImage)
                assert event.mime == {1: "image/jpeg", 2: "image/png"}[summary["image_format_code"]]
                assert len(event.image) == summary["image_len"]
                assert event.image.startswith(bytes.fromhex(summary["image_magic_hex"]))
                assert event.prompt_id is None and event.node_id is None
            case 3:
                assert event == ev.ProgressText(summary["node_id"], summary["text"])
            case 4:
                meta = summary["metadata"]
                assert isinstance(event, ev.PreviewImage)
                assert event.mime == meta["image_type"] == "image/png"
                assert (event.prompt_id, event.node_id, event.display_node_id) == (
                    meta["prompt_id"], meta["node_id"], meta["display_node_id"])
                assert len(event.image) == summary["image_len"]
                assert event.image.startswith(b"\x89PNG")
    kinds = {b["event_type"] for b in binaries(name) if rebuild_frame(b) is not None}
    assert rebuilt == len([b for b in binaries(name) if b.get("head_hex")])
    assert {1, 3} <= kinds
    if name == "ws_capture_all.jsonl":
        assert 4 in kinds


def test_png_legacy_preview_and_unknown_binary_types() -> None:
    png = struct.pack(">II", 1, 2) + b"\x89PNG\r\n\x1a\n" + b"rest"
    assert protocol.decode_binary(png) == ev.PreviewImage(b"\x89PNG\r\n\x1a\nrest", "image/png")
    unknown = protocol.decode_binary(struct.pack(">II", 9, 0) + b"xyz")
    assert unknown == ev.UnknownMessage("binary-9", 11)
    short = protocol.decode_binary(b"\x00\x00")
    assert isinstance(short, ev.Malformed) and "2 bytes" in short.reason and short.head == repr(b"\x00\x00")
    # Type 4 whose metadata is not an object: still a preview, without ids.
    meta = b"[1, 2]"
    odd = protocol.decode_binary(struct.pack(">II", 4, len(meta)) + meta + b"\xff\xd8img")
    assert isinstance(odd, ev.PreviewImage) and odd.image == b"\xff\xd8img" and odd.prompt_id is None


def test_unknown_and_malformed_messages_are_kept_not_fatal() -> None:
    note = {"type": "notification", "data": {"value": "Manager: update available", "id": "x"}}
    assert protocol.decode_text(json.dumps(note)) == ev.UnknownMessage("notification", note["data"])
    not_json = protocol.decode_text("not json{")
    assert isinstance(not_json, ev.Malformed) and not_json.kind == "invalid-json" and not_json.head == "'not json{'"
    listed = protocol.decode_text("[1, 2]")
    assert isinstance(listed, ev.Malformed) and "list" in listed.reason
    assert protocol.decode_text(json.dumps({"type": "crystools.monitor", "data": [1, 2]})).type == "crystools.monitor"
    bad = protocol.decode_text(json.dumps({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": "many"}}}}))
    assert isinstance(bad, ev.Malformed) and bad.kind == "status message" and "queue_remaining" in bad.reason


def _probe_queue_payload() -> dict:
    """``/queue`` as seen by the HTTP probe: running item verbatim, pending items from its listing."""
    text = (DATA / "http_queue_probe.txt").read_text()
    running = json.loads(re.search(r"^queue_running: (.*)$", text, re.M).group(1))
    pending = []
    for number, prompt_id, outputs, extra in re.findall(r"^\s+(-?[\d.]+) (\S+) (\[.*?\]) (\{.*?\}) len 5$", text, re.M):
        pending.append([float(number), prompt_id, {}, eval(extra), eval(outputs)])  # noqa: S307 - python reprs from the probe
    return {"queue_running": running, "queue_pending": pending}


def test_queue_snapshot_orders_pending_by_number_not_heap_order() -> None:
    payload = _probe_queue_payload()
    assert [p[0] for p in payload["queue_pending"]] == [-9, 8, 1.5, 10], "the probe's raw heap order"
    snap = protocol.queue_snapshot(payload)
    assert [q.number for q in snap.pending] == [-9, 1.5, 8, 10]
    assert snap.pending[-1].prompt_id == "my-own-id-123"
    (running,) = snap.running
    assert running.prompt_id == "8ebea68f-4ef8-4c5c-b4f4-64ac0f07254a"
    assert running.client_id == "qprobe" and running.create_time_ms == 1795441238185
    assert running.outputs == ("2",) and running.prompt["1"]["class_type"] == "ProgressProbe"


def _history_raw(prompt_id: str, last: str, **data) -> dict:
    return {
        "prompt": [3, prompt_id, {"1": {"class_type": "ProgressProbe", "inputs": {}}}, {"client_id": "cap-A"}, ["2"]],
        "outputs": {} if last != "execution_success" else {"2": {"images": [{"filename": "capA_00001_.png", "subfolder": "", "type": "output"}]}},
        "status": {
            "status_str": "success" if last == "execution_success" else "error",
            "completed": last == "execution_success",
            "messages": [
                ["execution_start", {"prompt_id": prompt_id, "timestamp": 1000}],
                ["execution_cached", {"nodes": [], "prompt_id": prompt_id, "timestamp": 1001}],
                [last, {"prompt_id": prompt_id, "timestamp": 3500, **data}],
            ],
        },
        "meta": {},
    }


def test_history_entries_tell_success_error_and_interrupted_apart() -> None:
    ok = protocol.history_entry("p1", _history_raw("p1", "execution_success"))
    assert ok.status == "success" and ok.started_ms == 1000 and ok.ended_ms == 3500
    assert ok.outputs == (ev.OutputFile("capA_00001_.png", "", "output", "2", "images"),)
    assert ok.client_id == "cap-A" and ok.number == 3

    (raw_error,) = [m["data"] for m in messages("ws_capture_all.jsonl") if m["type"] == "execution_error"]
    failed = protocol.history_entry("p2", _history_raw("p2", "execution_error", **{k: v for k, v in raw_error.items() if k != "prompt_id"}))
    assert failed.status == "error" and failed.outputs == ()
    assert failed.error is not None and failed.error.prompt_id == "p2"
    assert failed.error.exception_message == "probe failure requested" and failed.error.traceback

    stopped = protocol.history_entry("p3", _history_raw("p3", "execution_interrupted", node_id="1"))
    assert stopped.status == "interrupted" and stopped.error is None


def test_validation_error_from_the_capture_names_node_and_inputs() -> None:
    (note,) = [n for n in notes("ws_capture_all.jsonl", "POST /prompt") if n["status"] == 400]
    prompt = {"1": {"class_type": "ProgressProbe", "inputs": {}, "_meta": {"title": "Probe"}}}
    errors = node_errors_from(note["response"], prompt)
    assert [(e.node_id, e.input_name, e.kind) for e in errors] == [
        ("1", "seed", "value_smaller_than_min"), ("1", "fmt", "value_not_in_list")]
    rejected = PromptRejected("prompt_outputs_failed_validation", note["response"]["error"]["message"], errors)
    text = str(rejected)
    assert "node 1 (Probe), input 'seed': Value -5 smaller than min of 0" in text
    assert "input 'fmt': Value not in list: fmt: 'GIF' not in ['JPEG', 'PNG']" in text


def test_capture_files_are_complete() -> None:
    # Guards the copies in tests/core/data against truncation.
    assert [len(records(n)) for n in FILES] == [232, 77, 50]
