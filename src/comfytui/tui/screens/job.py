"""A finished (or running) job: status, times, outputs with an inline image, error traceback."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from comfytui.core.comfy.jobs import Job
from comfytui.core.comfy.session import ComfySession
from comfytui.core.config import OutputSettings
from comfytui.core.errors import ComfyTuiError
from comfytui.core.store.db import Store
from comfytui.tui.format import STATE_STYLES, clock, duration, job_label, origin
from comfytui.tui.widgets.preview_pane import PreviewPane


class JobScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    JobScreen { align: center middle; }
    JobScreen > Horizontal { width: 95%; height: 90%; border: thick $accent; background: $panel; }
    JobScreen #job-details { width: 1fr; padding: 0 1; }
    JobScreen PreviewPane { width: 1fr; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Close"),
        Binding("right,l", "next_output(1)", "Next output"),
        Binding("left,h", "next_output(-1)", "Previous output"),
        Binding("d", "download", "Download"),
    ]

    def __init__(
        self, session: ComfySession, job: Job, protocol: str, *, store: Store | None = None, outputs: OutputSettings | None = None
    ) -> None:
        """``store`` and ``outputs``: ``d`` collects through ``core.queue.outputs`` (the
        ``[outputs]`` folder and template, a JSON sidecar per file, no duplicate)."""
        super().__init__()
        self.session = session
        self.job = job
        self.protocol = protocol
        self.store = store
        self.outputs = outputs
        self.output_index = 0
        self.saved: list[str] = []
        """Where ``d`` put the files (for the user and tests)."""

    def compose(self) -> ComposeResult:
        with Horizontal():
            with VerticalScroll(id="job-details"):
                yield Static(self._details(), id="job-text")
            yield PreviewPane(self.protocol, 10.0, id="job-preview")

    def on_mount(self) -> None:
        self.query_one(PreviewPane).border_title = "Output"
        self._load_output()

    def _images(self) -> list:
        return [o for o in self.job.outputs if o.filename.lower().endswith((".png", ".jpg", ".jpeg", ".webp", ".gif"))]

    def _details(self) -> Text:
        job = self.job
        text = Text()
        text.append(job_label(job) + "\n", style="bold")
        text.append(f"{job.state}\n", style=STATE_STYLES[job.state])
        text.append(f"id        {job.prompt_id}\nfrom      {origin(job)}\n")
        text.append(f"queued    {clock(job.created_at)}\nstarted   {clock(job.started_at)}\n")
        text.append(f"finished  {clock(job.ended_at)}\nduration  {duration(job.duration_s)}\n")
        seeds = [
            f"{node.get('_meta', {}).get('title') or node.get('class_type')}.{name}={value}"
            for node in job.prompt.values()
            if isinstance(node, dict)
            for name, value in (node.get("inputs") or {}).items()
            if name in ("seed", "noise_seed") and not isinstance(value, list)
        ]
        if seeds:
            text.append("seed      " + ", ".join(seeds) + "\n")
        if job.outputs:
            text.append("\noutputs (←/→ to browse, d to download)\n", style="bold")
            for output in job.outputs:
                where = f"{output.subfolder}/" if output.subfolder else ""
                text.append(f"  {output.type}/{where}{output.filename}\n")
        if job.error is not None:
            err = job.error
            class_type, title = job.title_of(err.node_id)
            text.append("\nerror\n", style="bold red")
            text.append(f"node {err.node_id} ({title or err.node_type or class_type})\n")
            text.append(f"{err.exception_type}: {err.exception_message}\n", style="red")
            if err.traceback:
                text.append("".join(err.traceback), style="dim")
        return text

    @work(exclusive=True, group="job-output", exit_on_error=False, description="fetching an output image")
    async def _load_output(self) -> None:
        images = self._images()
        pane = self.query_one(PreviewPane)
        if not images:
            pane.query_one("#preview-empty", Static).update("no image output")
            return
        output = images[self.output_index % len(images)]
        try:
            data = await self.session.client.view(output)
        except ComfyTuiError as exc:
            pane.query_one("#preview-empty", Static).update(f"cannot fetch {output.filename}: {exc}")
            return
        pane.show_image(data, f"{self.output_index % len(images) + 1}/{len(images)} {output.filename}")

    def action_next_output(self, step: int) -> None:
        if self._images():
            self.output_index += step
            self._load_output()

    @work(exclusive=True, group="job-download", exit_on_error=False, description="downloading outputs")
    async def action_download(self) -> None:
        if not self.job.outputs:
            self.notify("nothing to download: the job has no outputs")
            return
        if self.store is not None and self.outputs is not None:
            await self._collect()
            return
        from comfytui.core import paths

        directory = paths.data_dir() / "outputs"
        saved = []
        try:
            for output in self.job.outputs:
                saved.append(await self.session.client.download(output, directory))
        except ComfyTuiError as exc:
            self.notify(str(exc), severity="error")
            return
        self._show_saved([str(p) for p in saved], [])

    async def _collect(self) -> None:
        from comfytui.core.comfy.journal import outputs_to_lists
        from comfytui.core.queue.outputs import collect_outputs, output_dir

        assert self.store is not None and self.outputs is not None
        row = await self.store.call(self.store.get, self.job.prompt_id)
        if row is None:  # a job the store never saw (another client's, seen live only)
            from comfytui.core.store.db import StoredJob

            row = StoredJob(id=self.job.prompt_id, server=self.session.client.url, state=str(self.job.state),
                            label=self.job.label, prompt=self.job.prompt, started_at=self.job.started_at,
                            ended_at=self.job.ended_at, foreign=self.job.foreign)
        if not row.outputs:
            row.outputs = outputs_to_lists(self.job.outputs)
        try:
            got = await collect_outputs(self.store, self.session.client, row, self.outputs)
        except ComfyTuiError as exc:
            self.notify(str(exc), severity="error")
            return
        self._show_saved([str(p) for p in got.files], got.refused, str(output_dir(self.outputs)))

    def _show_saved(self, saved: list[str], refused: list[str], folder: str = "") -> None:
        self.saved = saved
        text = self.query_one("#job-text", Static)
        details = self._details()
        if saved:
            details.append("\nsaved (with a .json sidecar each)\n", style="bold")
            for path in saved:
                details.append(f"  {path}\n")
        for message in refused:
            details.append(f"  refused: {message}\n", style="yellow")
        text.update(details)
        if saved:
            self.notify("saved " + ", ".join(saved), markup=False)
        elif refused:
            self.notify("; ".join(refused), severity="warning", markup=False)
        else:
            self.notify(f"nothing new to save{f' in {folder}' if folder else ''}", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
