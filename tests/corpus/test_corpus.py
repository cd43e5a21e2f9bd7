"""Every item of the bad-input corpus (tests/corpus/corpus.py) through the real headless CLI, as
a subprocess, against the real CPU ComfyUI where a server is needed: the exit code says what
kind of failure it was (2 bad input; never 0 for a file that cannot run), one clear ``comfytui:``
line names the file, and no traceback reaches the user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from corpus import CONFIGS, GENERATED_IMAGES, GENERATED_WORKFLOWS, IMAGES, SAFETENSORS, WORKFLOWS, build

COMFYTUI = Path(sys.executable).with_name("comfytui")

# What the one line must say besides the file name (a word of the reason).
WORKFLOW_REASONS = {
    "truncated.json": "Expecting",
    "top_level_list.json": "not a ComfyUI workflow",
    "top_level_string.json": "not a ComfyUI workflow",
    "nan.json": "NaN is not valid JSON",
    "infinity.json": "-Infinity is not valid JSON",
    "huge_number.json": "1e999 is not valid JSON",
    "bad_link_slot.json": "link 1: origin_slot",
    "float_link_slot.json": "link 1: target_slot",
    "widgets_not_list.json": "node 1 (EmptyImage): 'widgets_values' is a str",
    "unknown_node_type.json": "NoSuchNodeAnywhere",
    "not_utf8.json": "not a UTF-8",
    "empty.json": "Expecting value",
    "nesting_bomb.json": "nested too deeply",
}
IMAGE_REASONS = {
    "truncated.png": "holds no ComfyUI workflow",
    "bad_crc.png": "not valid JSON",
    "empty_itxt.png": "holds no ComfyUI workflow",
    "prompt_not_json.png": "not valid JSON",
    "prompt_nan.png": "NaN is not valid JSON",
    "not_a_png.png": "not a PNG, WebP or JPEG image",
    "text_chunk_bomb.png": "holds no ComfyUI workflow",
}
CONFIG_REASONS = {
    "bad_toml.toml": "",
    "wrong_type.toml": "timeout_s",
    "nan.toml": "timeout_s",
    "inf.toml": "interval_s",
    "interval_zero.toml": "interval_s",
    "ftp_url.toml": "ftp",
    "unknown_section.toml": "sevrer",
    "unknown_key.toml": "ulr",
}
SAFETENSORS_REASONS = {
    "negative_length.safetensors": "exceeds",
    "huge_length.safetensors": "exceeds",
    "truncated_header.safetensors": "truncated",
    "nested_header.safetensors": "nested too deeply",
    "nested_metadata.safetensors": "nested more than 64 levels",
    "not_json.safetensors": "not valid JSON",
    "empty.safetensors": "empty file",
}


def test_the_reason_tables_cover_the_corpus() -> None:
    assert set(WORKFLOW_REASONS) == set(WORKFLOWS) | set(GENERATED_WORKFLOWS)
    assert set(IMAGE_REASONS) == set(IMAGES) | set(GENERATED_IMAGES)
    assert set(CONFIG_REASONS) == set(CONFIGS)
    assert set(SAFETENSORS_REASONS) == set(SAFETENSORS)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    return build(tmp_path_factory.mktemp("corpus"))


def _cli(*args: str | Path, home: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMFY_", "COMFYTUI_"))}
    env["COMFYTUI_HOME"] = str(home)
    return subprocess.run([str(COMFYTUI), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=env, stdin=subprocess.DEVNULL, cwd=home)


def _assert_clean_failure(proc: subprocess.CompletedProcess[str], path: Path, reason: str, codes=(2,)) -> None:
    what = f"{path.name}: exit {proc.returncode}\nstdout: {proc.stdout[-1500:]}\nstderr: {proc.stderr[-1500:]}"
    assert proc.returncode in codes, what
    assert "Traceback" not in proc.stdout + proc.stderr, what
    lines = [line for line in proc.stderr.splitlines() if line.startswith("comfytui: ") and "note:" not in line]
    assert lines, what
    first = lines[0]
    assert str(path) in first or path.name in first, what
    assert reason in proc.stderr, f"expected {reason!r}\n{what}"


@pytest.mark.comfy
@pytest.mark.parametrize("name", sorted(WORKFLOW_REASONS))
def test_run_refuses_each_bad_workflow(name: str, corpus, comfy_server, tmp_path: Path) -> None:
    path = next(p for p in corpus["workflows"] if p.name == name)
    proc = _cli("run", path, "--url", comfy_server.url, "--wait", "--no-download", home=tmp_path)
    _assert_clean_failure(proc, path, WORKFLOW_REASONS[name])


@pytest.mark.comfy
@pytest.mark.parametrize("name", sorted(WORKFLOW_REASONS))
def test_workflow_convert_refuses_each_bad_workflow(name: str, corpus, comfy_server, tmp_path: Path) -> None:
    path = next(p for p in corpus["workflows"] if p.name == name)
    proc = _cli("workflow", "convert", path, "--url", comfy_server.url, "--check", home=tmp_path)
    _assert_clean_failure(proc, path, WORKFLOW_REASONS[name])
    assert proc.stdout.strip() == "" or name == "unknown_node_type.json", "a refused file printed a prompt"


@pytest.mark.comfy
@pytest.mark.parametrize("name", sorted(IMAGE_REASONS))
def test_run_refuses_each_bad_image(name: str, corpus, comfy_server, tmp_path: Path) -> None:
    path = next(p for p in corpus["images"] if p.name == name)
    proc = _cli("run", path, "--url", comfy_server.url, "--wait", "--no-download", home=tmp_path)
    _assert_clean_failure(proc, path, IMAGE_REASONS[name])


@pytest.mark.parametrize("name", sorted(CONFIG_REASONS))
def test_each_bad_config_stops_status_with_its_file_and_setting(name: str, corpus, tmp_path: Path) -> None:
    path = next(p for p in corpus["configs"] if p.name == name)
    proc = _cli("--config", path, "status", home=tmp_path)
    _assert_clean_failure(proc, path, CONFIG_REASONS[name])


def test_corrupt_safetensors_are_listed_with_their_reason_not_a_crash(corpus, tmp_path: Path) -> None:
    """``models --dir`` over the corrupt files: the listing still works (exit 0, no server needed
    beyond saying it is unreachable) and each file carries its own reason."""
    models = corpus["models/checkpoints"][0].parents[1]
    proc = _cli("--url", "http://127.0.0.1:9", "models", "--dir", models, "--json", "--type", "checkpoints",
                "--metadata", home=tmp_path)
    what = f"exit {proc.returncode}\n{proc.stderr[-2000:]}"
    assert proc.returncode == 0, what
    assert "Traceback" not in proc.stdout + proc.stderr, what
    listed = {Path(m["path"]).name if "path" in m else m["name"]: m for m in json.loads(proc.stdout)["models"]}
    for name, reason in SAFETENSORS_REASONS.items():
        entry = listed.get(name)
        assert entry is not None, f"{name} not listed: {sorted(listed)}"
        assert reason in json.dumps(entry), f"{name}: expected {reason!r} in {entry}"


def test_models_with_an_unknown_type_exits_2_listing_the_folders(tmp_path: Path) -> None:
    proc = _cli("--url", "http://127.0.0.1:9", "models", "--type", "chekpoints", home=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert "unknown model folder 'chekpoints'" in line and "checkpoints, loras, vae" in line, line
    assert "No model files." not in proc.stdout


def test_the_workflow_list_marks_each_bad_file_unreadable_and_keeps_going(corpus, tmp_path: Path) -> None:
    """The same loader feeds the dashboard's workflow list: every corpus file is listed as
    unreadable with its reason, the good one next to them as a workflow."""
    wdir = corpus["workflows"][0].parent
    good = wdir / "zz_good.json"
    good.write_text(json.dumps({"1": {"class_type": "EmptyImage", "inputs": {}}}))
    config = tmp_path / "config.toml"
    config.write_text(f"[workflows]\ndirs = [{json.dumps(str(wdir))}]\n")
    try:
        proc = _cli("--config", config, "--url", "http://127.0.0.1:9", "workflow", "list", "--local", "--json",
                    home=tmp_path)
    finally:
        good.unlink()
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    entries = {e["name"]: e for e in json.loads(proc.stdout)}
    assert entries["zz_good.json"]["error"] is None and entries["zz_good.json"]["format"] == "api"
    for name, reason in WORKFLOW_REASONS.items():
        if name == "unknown_node_type.json":  # a valid file: the server, not the loader, refuses it
            continue
        entry = entries[name]
        assert entry["error"] and reason in entry["error"], (name, entry)
