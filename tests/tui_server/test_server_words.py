"""The Server screen's words: a requested stop reads "stopped", a process start has no container words."""

from __future__ import annotations

from comfytui.core.lifecycle import Phase
from comfytui.core.lifecycle.types import PhaseChanged
from comfytui.tui.screens.server import exit_description, phase_text


def test_a_requested_stop_reads_stopped_not_an_exit_code() -> None:
    assert exit_description(-15)[0].strip() == "stopped (SIGTERM)"  # a process stopped by comfytui
    assert exit_description(143)[0].strip() == "stopped (SIGTERM)"  # a container stopped by podman
    assert "killed by SIGKILL" in exit_description(137)[0]
    assert exit_description(7) == ("  exit code 7", "red")
    assert exit_description(0) == ("  exit code 0", "")


def test_a_process_start_is_told_in_process_words() -> None:
    running = PhaseChanged(phase=Phase.RUNNING, detail="pid 42", elapsed_s=1.0)
    process = phase_text(running, "starting", kind="process").plain
    assert "main.py found" in process and "prepared" in process and "pulled" not in process
    assert "✔ pulled" in phase_text(running, "starting", kind="container").plain
