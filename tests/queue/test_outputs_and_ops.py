"""Output collection's refusals and names, and the queue operations' rules, on a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from comfytui.core.comfy import events as ev
from comfytui.core.comfy.client import ComfyClient
from comfytui.core.config import OutputSettings, ServerSettings
from comfytui.core.errors import InputError
from comfytui.core.queue import ops
from comfytui.core.queue.outputs import collect_outputs, target_name
from comfytui.core.store.db import Store, StoredJob, new_job_id

SERVER = "http://127.0.0.1:9"


async def test_a_server_file_name_that_leaves_the_folder_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "state" / "db")
    job = StoredJob(id=new_job_id(), server=SERVER, state="success", label="evil",
                    outputs=[["../../escape.png", "", "output", "9", "images"], ["ok.png", "/etc", "output", "9", "images"]])
    async with ComfyClient(ServerSettings(url=SERVER, timeout_s=2)) as client:
        got = await collect_outputs(store, client, job, OutputSettings(), tmp_path / "out")
    assert got.files == [] and len(got.refused) == 2
    assert "refusing the server's output file name '../../escape.png'" in got.refused[0]
    assert "leaves the output folder" in got.refused[1]
    assert not (tmp_path / "out").exists() and not (tmp_path / "escape.png").exists()
    store.close()


def test_output_names_follow_the_template_and_stay_inside() -> None:
    job = StoredJob(id="0123456789ab-cdef", server=SERVER, label="my wf.json #2/3", ended_at=0.0)
    name = target_name("{date}/{label}-{id8}-{n}{ext}", job, ev.OutputFile("ComfyUI_0001_.png", "", "output"), 2)
    assert name.parts[1] == "my_wf.json_2_3-01234567-2.png" and len(name.parts) == 2
    with pytest.raises(InputError, match="leaves the output folder"):
        target_name("../{id}{ext}", job, ev.OutputFile("a.png", "", "output"), 1)


async def test_foreign_and_server_jobs_cannot_be_reordered_or_held(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    (local,) = store.add([StoredJob(id=new_job_id(), server=SERVER, prompt={"1": {}})])
    foreign = StoredJob(id=new_job_id(), server=SERVER, state="pending", foreign=True)
    sent = StoredJob(id=new_job_id(), server=SERVER, state="pending")
    store.upsert(foreign)
    store.upsert(sent)
    with pytest.raises(InputError, match="another client"):
        await ops.move(store, foreign.id, "top")
    with pytest.raises(InputError, match="not in the local queue"):
        await ops.hold(store, sent.id)
    assert (await ops.hold(store, local.id)).held
    assert await ops.clear(store, None, SERVER, "held") == 1
    assert store.get(local.id).state == "cancelled"
    store.close()


async def test_requeue_keeps_the_prompt_or_applies_overrides_and_new_seeds(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    prompt = {"1": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 20}}}
    old = StoredJob(id=new_job_id(), server=SERVER, state="lost", label="wf", prompt=prompt, ended_at=1.0)
    store.upsert(old)
    same = ops.requeued_copy(old)
    assert same.id != old.id and same.prompt == prompt and same.requeued_from == old.id and same.state == "queued"
    changed = ops.requeued_copy(old, overrides=["1.steps=3"], seed_mode="increment")
    assert changed.prompt["1"]["inputs"] == {"seed": 6, "steps": 3} and changed.seeds == [6]
    (again,) = await ops.requeue_lost(store, SERVER)
    assert store.get(again.id).state == "queued" and store.get(again.id).prompt == prompt
    store.close()
