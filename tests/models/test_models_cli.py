"""``comfytui models`` as a user runs it, against the real CPU ComfyUI and the real sha256sum."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from safetensors_files import (
    CHECKPOINT,
    LORA,
    VAE,
    corrupt_header,
    huge_header_length,
    safetensors_bytes,
    write,
)

pytestmark = pytest.mark.comfy

COMFYTUI = str(Path(sys.executable).with_name("comfytui"))


def run(*args: str, home: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COMFYTUI_HOME": str(home)}
    env.pop("COMFY_API_URL", None)
    return subprocess.run([COMFYTUI, *args], capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)


def sha256sum(*paths: Path) -> dict[str, str]:
    out = subprocess.run(["sha256sum", *map(str, paths)], capture_output=True, text=True, check=True).stdout
    return {line.split(None, 1)[1].strip(): line.split()[0] for line in out.splitlines()}


@pytest.fixture(scope="module")
def files(comfy_server):
    tag = f"cli-{uuid.uuid4().hex[:8]}"
    models = Path(comfy_server.base) / "models"
    ck, lo = models / "checkpoints" / tag, models / "loras" / tag
    made = {
        f"{tag}/good.safetensors": write(ck / "good.safetensors", safetensors_bytes(CHECKPOINT, {"title": "g"})),
        f"{tag}/sdxl_vae.safetensors": write(ck / "sdxl_vae.safetensors", safetensors_bytes(VAE)),
        f"{tag}/corrupt.safetensors": write(ck / "corrupt.safetensors", corrupt_header()),
        f"{tag}/empty.safetensors": write(ck / "empty.safetensors", b""),
        f"{tag}/huge.safetensors": write(ck / "huge.safetensors", huge_header_length()),
        f"{tag}/big.safetensors": write(ck / "big.safetensors", safetensors_bytes(CHECKPOINT, pad_data=os.urandom(9 << 20))),
    }
    lora = write(lo / "detail.safetensors", safetensors_bytes(LORA))
    yield tag, made, lora
    shutil.rmtree(ck, ignore_errors=True)
    shutil.rmtree(lo, ignore_errors=True)


def _mine(data: dict, tag: str) -> dict[str, dict]:
    return {m["name"]: m for m in data["models"] if m["name"].startswith(f"{tag}/")}


def test_models_json_lists_files_with_sizes(comfy_server, files, tmp_path: Path) -> None:
    tag, made, lora = files
    proc = run("models", "--url", comfy_server.url, "--json", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["server"] == comfy_server.url and data["server_error"] is None
    assert data["folders"][:3] == ["checkpoints", "loras", "vae"]
    mine = _mine(data, tag)
    assert set(mine) == {*made, f"{tag}/detail.safetensors"}
    for name, path in made.items():
        item = mine[name]
        assert item["folder"] == "checkpoints" and item["size"] == path.stat().st_size
        assert item["local_path"] == str(path) and item["on_server"] is True
        assert "sha256" not in item  # only with --hash
    assert mine[f"{tag}/detail.safetensors"]["folder"] == "loras"
    flags = {n: [f["kind"] for f in m["flags"]] for n, m in mine.items()}
    assert flags[f"{tag}/good.safetensors"] == []
    assert flags[f"{tag}/sdxl_vae.safetensors"] == ["name_not_checkpoint", "header_not_checkpoint"]
    for bad in ("corrupt", "empty", "huge"):
        assert flags[f"{tag}/{bad}.safetensors"] == ["bad_header"]
    good = mine[f"{tag}/good.safetensors"]["header"]
    assert good["dtypes"] == {"F16": 2, "F32": 1, "I64": 1} and good["metadata"] == {"title": "g"}
    assert good["tensor_count"] == 4 and good["parameter_count"] == 32 * 4 * 9 + 4 + 8 * 4 * 9 + 77


def test_models_hash_matches_sha256sum_and_is_cached(comfy_server, files, tmp_path: Path) -> None:
    tag, made, lora = files
    expected = sha256sum(*made.values(), lora)
    args = ("models", "--url", comfy_server.url, "--json", "--hash", "--filter", tag)
    first = run(*args, home=tmp_path)
    assert first.returncode == 0, first.stderr
    mine = _mine(json.loads(first.stdout), tag)
    assert len(mine) == len(made) + 1
    for item in mine.values():
        assert item["sha256"] == expected[item["local_path"]]
        assert item["hash_cached"] is False and item["hash_error"] is None
    cache = tmp_path / "cache" / "model-hashes.json"
    assert cache.is_file()

    second = run(*args, home=tmp_path)
    assert second.returncode == 0, second.stderr
    again = _mine(json.loads(second.stdout), tag)
    assert {n: (m["sha256"], m["hash_cached"]) for n, m in again.items()} == {
        n: (m["sha256"], True) for n, m in mine.items()
    }

    other_home = tmp_path / "elsewhere"  # another COMFYTUI_HOME has its own cache
    third = run(*args, home=other_home)
    assert all(m["hash_cached"] is False for m in _mine(json.loads(third.stdout), tag).values())


def test_models_plain_text_type_filter_and_sort(comfy_server, files, tmp_path: Path) -> None:
    tag, made, _lora = files
    proc = run("models", "--url", comfy_server.url, "--type", "checkpoints", "--filter", f"{tag} VAE",
               "--hash", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["FOLDER", "NAME", "SIZE", "MODIFIED", "WHERE", "SHA256", "CACHED"]
    row = lines[1].split()
    digest = sha256sum(made[f"{tag}/sdxl_vae.safetensors"]).popitem()[1]
    assert row[:2] == ["checkpoints", f"{tag}/sdxl_vae.safetensors"] and digest in row
    assert "i the name suggests a VAE, not a diffusion checkpoint" in proc.stdout
    assert "! looks like a VAE, not a diffusion checkpoint" in proc.stdout
    assert f"{tag}/good" not in proc.stdout

    proc = run("models", "--url", comfy_server.url, "-t", "checkpoints", "-f", tag, "--sort", "size", "--reverse",
               "--json", home=tmp_path)
    names = [m["name"] for m in json.loads(proc.stdout)["models"]]
    assert names[0] == f"{tag}/big.safetensors" and names[-1] == f"{tag}/empty.safetensors"


def test_models_metadata_in_plain_text(comfy_server, files, tmp_path: Path) -> None:
    tag, _made, _lora = files
    proc = run("models", "--url", comfy_server.url, "-t", "checkpoints", "-f", f"{tag}/good", "--metadata",
               home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "header: 4 tensors (F16 2, F32 1, I64 1), 1,521 parameters" in proc.stdout
    assert "title: g" in proc.stdout


def test_models_unreachable_server(tmp_path: Path) -> None:
    proc = run("models", "--url", "http://127.0.0.1:9", "--timeout", "2", home=tmp_path)
    assert proc.returncode == 3
    assert "cannot reach ComfyUI at http://127.0.0.1:9" in proc.stderr
    # with a local models dir, the local files are still listed (and the server's absence is a warning)
    write(tmp_path / "m" / "loras" / "x.safetensors", safetensors_bytes(LORA))
    proc = run("models", "--url", "http://127.0.0.1:9", "--dir", str(tmp_path / "m"), "--json", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [m["name"] for m in data["models"]] == ["x.safetensors"] and data["server_error"]
    assert "warning" in proc.stderr
