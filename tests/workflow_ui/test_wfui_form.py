"""The parameter form, driven through the whole dashboard with Pilot against the real ComfyUI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from wfui_helpers import app_config_fixture, object_info_fixture, user_dir_fixture, wait_until  # noqa: F401 - fixtures

from comfytui.core.comfy.jobs import JobState
from comfytui.core.workflows.convert import editor_to_api
from comfytui.core.workflows.userdata import list_saved_workflows, write_saved_workflow
from comfytui.tui.app import ComfyTuiApp
from comfytui.tui.screens.workflow_form import SaveAsScreen, WorkflowFormScreen
from comfytui.tui.widgets.history_pane import HistoryTable
from comfytui.tui.widgets.workflows_pane import WorkflowList
from harness.comfy import unique_seed

pytestmark = pytest.mark.comfy

REPO = Path(__file__).resolve().parents[2]
ACCEPTANCE = REPO / "tests" / "workflow" / "fixtures" / "acceptance.json"


async def select_entry(pilot, app: ComfyTuiApp, source: str, name: str) -> None:
    """Focus the Workflows pane (key 1) and move the cursor onto the entry with the arrow keys."""
    pane = app.query_one(WorkflowList)
    await wait_until(pilot, lambda: any((e.source, e.name) == (source, name) for e in pane.entries), what=f"{source}/{name} listed")
    await wait_until(pilot, lambda: all(e.format or e.error for e in pane.entries if e.source != "server"), what="entries inspected")
    await pilot.press("1")
    await pilot.press("home")
    for _ in range(len(pane.entries) + 8):
        chosen = pane.selected()
        if chosen is not None and (chosen.source, chosen.name) == (source, name):
            return
        await pilot.press("down")
    raise AssertionError(f"could not reach {source}/{name} in the Workflows pane")


async def open_form(pilot, app: ComfyTuiApp, source: str, name: str) -> WorkflowFormScreen:
    await select_entry(pilot, app, source, name)
    await pilot.press("e")
    await wait_until(pilot, lambda: isinstance(app.screen, WorkflowFormScreen) and app.screen.ready, what="the form")
    form = app.screen
    assert isinstance(form, WorkflowFormScreen)
    return form


def field(form: WorkflowFormScreen, node: str, name: str):
    """The input widget and its error line for a node (title or id) and input name."""
    found = next(f for f in form.fields if node in (f.param.title, f.param.node_id) and f.param.input_name == name)
    return form.query_one(f"#{found.widget_id}"), form.query_one(f"#{found.error_id}")


async def replace_text(pilot, text: str) -> None:
    await pilot.press("end", "ctrl+u", *text)


def rendered(widget) -> str:
    return str(widget.render())


async def test_edit_seed_count_three_increment_queues_consecutive_seeds_that_run(app_config):
    seed = unique_seed()
    app = ComfyTuiApp(app_config)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.session.connection.state == "connected", what="connected")
        form = await open_form(pilot, app, "bundled", "demo-progress.json")
        steps, _ = field(form, "Demo sampler", "steps")
        assert app.focused is steps, "the first input has the focus"
        await replace_text(pilot, "2")
        await pilot.press("tab")
        await replace_text(pilot, "0")  # delay
        await pilot.press("tab", "tab")  # fmt (a Select) → seed
        seed_input, _ = field(form, "Demo sampler", "seed")
        assert app.focused is seed_input
        await replace_text(pilot, str(seed))
        await pilot.press("tab", "tab", "tab", "tab")  # blur_radius, sigma, filename_prefix → count
        assert app.focused is form.query_one("#count")
        await replace_text(pilot, "3")
        await pilot.press("tab", "enter", "down", "enter")  # seed mode: fixed → increment
        assert form.query_one("#seed-mode").value == "increment"
        await pilot.press("tab", "tab")  # front → batch name
        assert app.focused is form.query_one("#batch-name")
        await pilot.press(*"cats")
        await pilot.press("tab")
        assert app.focused is form.query_one("#submit")
        before = set(app.session.book.jobs)
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, WorkflowFormScreen), what="the form to close")

        def new_jobs() -> list:
            return [j for pid, j in app.session.book.jobs.items() if pid not in before]

        # the dashboard is the dispatcher: the batch goes out of the local queue one job at a time
        await wait_until(pilot, lambda: len(new_jobs()) == 3, timeout=40, what="all three jobs sent to ComfyUI")
        jobs = new_jobs()
        assert {j.batch for j in jobs} == {"cats"}
        jobs.sort(key=lambda j: j.label)
        assert [j.label for j in jobs] == [f"demo-progress.json #{i}/3" for i in (1, 2, 3)]
        assert [j.prompt["1"]["inputs"]["seed"] for j in jobs] == [seed, seed + 1, seed + 2]
        assert all(j.prompt["1"]["inputs"]["steps"] == 2 for j in jobs)
        ids = [j.prompt_id for j in jobs]
        await wait_until(
            pilot,
            lambda: all(app.session.book.jobs[p].state.finished for p in ids),
            timeout=40,
            what="the three jobs to finish",
        )
        assert [app.session.book.jobs[p].state for p in ids] == [JobState.SUCCESS] * 3
        history = app.query_one(HistoryTable)

        def cats_rows() -> list[str]:
            cells = [str(history.get_cell_at((row, 2))) for row in range(history.row_count)]
            return [c for c in cells if "cats" in c]

        # History renders at most every 0.1 s after the book changes: on a loaded machine, later
        await wait_until(pilot, lambda: len(cats_rows()) == 3, timeout=10, what=f"three 'cats' rows in History (ids {ids})")
        assert sorted(cats_rows()) == [f"demo-progress.json #{i}/3 · cats" for i in (1, 2, 3)]


async def test_out_of_range_is_flagged_inline_and_nothing_is_sent(app_config):
    app = ComfyTuiApp(app_config)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, app, "bundled", "demo-progress.json")
        steps, steps_error = field(form, "Demo sampler", "steps")
        await replace_text(pilot, "5000")
        await pilot.pause(0.05)
        assert "5000 is above the maximum 1000" in rendered(steps_error)
        assert steps_error.display
        blur, blur_error = field(form, "Blur", "blur_radius")
        blur.focus()
        await replace_text(pilot, "0")
        await pilot.pause(0.05)
        assert "0 is below the minimum 1" in rendered(blur_error)
        before = dict(app.session.book.jobs)
        await pilot.press("f10")
        await pilot.pause(0.3)
        assert isinstance(app.screen, WorkflowFormScreen), "the form stays open"
        assert app.session.book.jobs.keys() == before.keys(), "nothing was queued"
        assert app.focused is steps, "the first bad field gets the focus"
        # fixing the values clears the messages
        await replace_text(pilot, "3")
        await pilot.pause(0.05)
        assert not steps_error.display
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, WorkflowFormScreen), what="Esc to close the form")


async def test_unknown_node_type_and_missing_model_are_refused_naming_the_node(app_config, user_dir):
    prompt = json.loads((REPO / "workflows" / "demo-progress.json").read_text())
    prompt["9"] = {"class_type": "NoSuchNodeType", "inputs": {"value": 1}, "_meta": {"title": "Mystery node"}}
    (user_dir / "mystery.json").write_text(json.dumps(prompt))
    app = ComfyTuiApp(app_config)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, app, "user", "mystery.json")
        before = dict(app.session.book.jobs)
        await pilot.press("f10")
        await pilot.pause(0.2)
        problems = rendered(form.query_one("#problems"))
        assert "node 9 (Mystery node): unknown node type 'NoSuchNodeType'" in problems
        assert [p.kind for p in form.problems] == ["missing_node_type"]
        assert app.session.book.jobs.keys() == before.keys()
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, WorkflowFormScreen), what="the form to close")

        # txt2img needs a checkpoint the CPU server does not have: flagged as soon as the form opens
        form = await open_form(pilot, app, "bundled", "txt2img-sd15.json")
        _ckpt, ckpt_error = field(form, "Load Checkpoint", "ckpt_name")
        assert "v1-5-pruned-emaonly.safetensors" in rendered(ckpt_error)
        problems = rendered(form.query_one("#problems"))
        assert "node 4 (Load Checkpoint), input 'ckpt_name': model 'v1-5-pruned-emaonly.safetensors' is not installed" in problems
        await pilot.press("f10")
        await pilot.pause(0.2)
        assert app.session.book.jobs.keys() == before.keys()


async def test_editor_workflow_edits_are_saved_as_a_new_editor_file(app_config, user_dir, object_info):
    shutil.copy(ACCEPTANCE, user_dir / "acceptance.json")
    app = ComfyTuiApp(app_config)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, app, "user", "acceptance.json")
        assert form.data is not None and form.data.loaded.format == "editor"
        seed, _ = field(form, "8", "seed")
        seed.focus()
        await replace_text(pilot, "4242")
        prefix, _ = field(form, "6", "filename_prefix")
        prefix.focus()
        await replace_text(pilot, "edited/run")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, SaveAsScreen), what="the save dialog")
        assert app.screen.query_one("#save-name").value == "acceptance-edited.json"
        await pilot.press("enter")
        target = user_dir / "acceptance-edited.json"
        await wait_until(pilot, target.exists, what="the saved file")
        assert form.saved_to == str(target)
        saved = json.loads(target.read_text())
        assert "nodes" in saved, "an editor workflow is saved in the editor format"
        prompt = editor_to_api(saved, object_info).prompt
        assert prompt["8"]["inputs"]["seed"] == 4242
        assert prompt["6"]["inputs"]["filename_prefix"] == "edited/run"
        assert json.loads((user_dir / "acceptance.json").read_text()) == json.loads(ACCEPTANCE.read_text())
        # saving again under the same name refuses to overwrite
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, SaveAsScreen), what="the save dialog")
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, WorkflowFormScreen)


async def test_server_saved_workflow_is_listed_opened_and_saved_back(app_config):
    seed = unique_seed()
    prompt = json.loads((REPO / "workflows" / "demo-progress.json").read_text())
    prompt["1"]["inputs"].update(seed=seed, steps=2, delay=0.0)
    name = f"ui-tests/flow-{seed}.json"
    app = ComfyTuiApp(app_config)
    async with app.run_test(size=(120, 40)) as pilot:
        await write_saved_workflow(app.session.client, name, json.dumps(prompt).encode())
        await pilot.press("f5")  # refresh: the pane lists the server's saved workflows again
        form = await open_form(pilot, app, "server", name)
        entry = next(e for e in app.query_one(WorkflowList).entries if e.name == name)
        assert (entry.format, entry.nodes) == ("api", 3)
        steps, _ = field(form, "Demo sampler", "steps")
        steps.focus()
        await replace_text(pilot, "3")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, SaveAsScreen), what="the save dialog")
        await pilot.press("enter")
        await wait_until(pilot, lambda: bool(form.saved_to), what="saved on the server")
        assert form.saved_to == f"server: workflows/ui-tests/flow-{seed}-edited.json"
        saved = {f.path for f in await list_saved_workflows(app.session.client)}
        assert f"ui-tests/flow-{seed}-edited.json" in saved
