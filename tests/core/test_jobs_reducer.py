"""JobBook: recorded event sequences folded into the job records the queue and history panes show."""

from __future__ import annotations

import pytest
from _captures import OWN_A, OWN_B, messages, submitted_prompt, timed_messages
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfytui.core.comfy import events as ev
from comfytui.core.comfy import protocol
from comfytui.core.comfy.jobs import Job, JobBook, JobState

ALL = "ws_capture_all.jsonl"


def _replay(book: JobBook, sock: str, scenario: str | None = None, name: str = ALL) -> list[tuple[float, set[str]]]:
    """Feed one socket's messages with their capture times as ``now``; returns the changes."""
    changes = []
    for t, msg in timed_messages(name, sock, scenario):
        changes.append((t, book.apply(protocol.decode_message(msg), 1_000.0 + t)))
    return changes


def _book_with(scenario: str, client_id: str = OWN_A) -> tuple[JobBook, str]:
    """A book that submitted ``scenario``'s prompt itself (as ComfySession.submit tracks it)."""
    book = JobBook(own_client_prefix="cap-")
    prompt_id, prompt = submitted_prompt(scenario)
    prompt = {k: {**v, "_meta": {"title": f"T{k}"}} for k, v in prompt.items()}
    book.track(Job(prompt_id, client_id=client_id, prompt=prompt, label=scenario))
    return book, prompt_id


def test_successful_run_goes_running_with_steps_then_success_with_outputs() -> None:
    book, pid = _book_with("run_A_legacy_preview")
    assert book.get(pid).state == JobState.PENDING and book.get(pid).nodes_total == 2
    steps_seen: list[tuple[int, int]] = []
    for t, msg in timed_messages(ALL, "A", "run_A_legacy_preview"):
        book.apply(protocol.decode_message(msg), 1_000.0 + t)
        job = book.get(pid)
        if job.state == JobState.RUNNING and job.node == "1":
            steps_seen.append((job.step, job.steps))
            assert job.node_class == "ProgressProbe" and job.node_title == "T1"
    assert (1, 4) in steps_seen and (4, 4) in steps_seen
    assert [s for s, _ in steps_seen] == sorted(s for s, _ in steps_seen), "steps never go backwards"
    job = book.get(pid)
    assert job.state == JobState.SUCCESS and not job.foreign
    assert job.outputs == (ev.OutputFile("capA_00001_.png", "", "output", "2", "images"),)
    assert job.started_at == pytest.approx(1795441199.457) and job.ended_at == pytest.approx(1795441200.665)
    assert job.duration_s == pytest.approx(1.208)
    assert job.nodes_done == job.nodes_total == 2
    assert book.running_id is None and book.queue_remaining == 0


def test_fully_cached_rerun_is_success_with_the_cached_outputs() -> None:
    book, pid = _book_with("run_A_cached")
    _replay(book, "A", "run_A_cached")
    job = book.get(pid)
    assert job.state == JobState.SUCCESS
    assert [o.filename for o in job.outputs] == ["capA_00001_.png"]


def test_metadata_socket_run_is_success() -> None:
    book, pid = _book_with("run_B_metadata_preview", client_id=OWN_B)
    _replay(book, "B", "run_B_metadata_preview")
    assert book.get(pid).state == JobState.SUCCESS
    assert [o.filename for o in book.get(pid).outputs] == ["capB_00001_.png"]


def test_failed_run_ends_error_with_message_node_and_traceback() -> None:
    book, pid = _book_with("run_A_error")
    _replay(book, "A", "run_A_error")
    job = book.get(pid)
    assert job.state == JobState.ERROR and job.outputs == ()
    assert job.error.exception_type == "ValueError"
    assert job.error.exception_message == "probe failure requested"
    assert (job.error.node_id, job.error.node_type) == ("1", "ProgressProbe")
    assert job.error.traceback and "execution.py" in job.error.traceback[0]
    assert job.rate is None and job.eta_s is None


def test_interrupted_run_ends_interrupted_where_it_stopped() -> None:
    book, pid = _book_with("run_A_interrupt")
    _replay(book, "A", "run_A_interrupt")
    job = book.get(pid)
    assert job.state == JobState.INTERRUPTED and job.error is None
    assert (job.step, job.steps) == (6, 20)
    assert job.ended_at == pytest.approx(1795441206.062)


def test_whole_capture_on_socket_a_settles_every_own_job() -> None:
    book = JobBook(own_client_prefix="cap-")
    expected = {}
    for scenario, state in [("run_A_legacy_preview", JobState.SUCCESS), ("run_A_cached", JobState.SUCCESS),
                            ("run_A_error", JobState.ERROR), ("run_A_interrupt", JobState.INTERRUPTED)]:
        pid, prompt = submitted_prompt(scenario)
        book.track(Job(pid, client_id=OWN_A, prompt=prompt))
        expected[pid] = state
    _replay(book, "A")
    assert {pid: book.get(pid).state for pid in expected} == expected
    assert not any(book.get(pid).foreign for pid in expected)
    # The job of a client without an id is seen only through broadcasts: unknown, so foreign.
    (other,) = [j for j in book.jobs.values() if j.prompt_id not in expected]
    assert other.foreign and other.state == JobState.RUNNING
    assert [j.prompt_id for j in book.finished()][0] == max(expected, key=lambda p: book.get(p).ended_at)


def test_foreign_job_without_client_id_settles_from_a_history_snapshot() -> None:
    book = JobBook(own_client_prefix="cap-")
    _replay(book, "C", "run_no_client_id")
    (job,) = book.jobs.values()
    assert job.foreign and job.state == JobState.RUNNING, "progress broadcasts reveal it, nothing ends it"
    entry = ev.HistoryEntry(job.prompt_id, 5, {"1": {"class_type": "ProgressProbe", "inputs": {}}}, {},
                            "success", (ev.OutputFile("x_00001_.png", "", "output", "2"),), 1000, 2000)
    book.apply(ev.HistorySnapshot((entry,)), 3000.0)
    job = book.get(job.prompt_id)
    assert job.state == JobState.SUCCESS and job.foreign and job.outputs[0].filename == "x_00001_.png"
    assert job.duration_s == pytest.approx(1.0)


def _item(number: float, pid: str, client_id: str | None, prompt: dict | None = None) -> ev.QueueItem:
    extra = {"client_id": client_id, "create_time": 1795441238000} if client_id else {"create_time": 1795441238000}
    return ev.QueueItem(number, pid, prompt or {"1": {"class_type": "X", "inputs": {}}}, extra, ("1",))


def test_queue_snapshot_positions_follow_the_number_and_mark_foreign_jobs() -> None:
    payload = {
        "queue_running": [[7, "run", {}, {"client_id": "qprobe"}, ["2"]]],
        "queue_pending": [  # raw heap order, as the server sends it
            [-9, "front", {}, {"client_id": "comfytui-abc"}, ["2"]],
            [8, "eight", {}, {"client_id": "qprobe", "create_time": 1795441238000}, ["2"]],
            [1.5, "one-five", {}, {}, ["2"]],
            [10, "ten", {}, {"client_id": "comfytui-abc"}, ["2"]],
        ],
    }
    book = JobBook(own_client_prefix="comfytui-")
    book.apply(protocol.queue_snapshot(payload), 100.0)
    assert [(j.prompt_id, j.position) for j in book.active()] == [
        ("run", None), ("front", 0), ("one-five", 1), ("eight", 2), ("ten", 3)]
    assert book.get("run").state == JobState.RUNNING and book.running_id == "run"
    assert {pid: book.get(pid).foreign for pid in book.jobs} == {
        "run": True, "front": False, "eight": True, "one-five": True, "ten": False}
    assert book.get("eight").created_at == pytest.approx(1795441238.0)
    # The running job ends; the next one starts: positions move up.
    book.apply(ev.ExecutionSuccess("run", None), 101.0)
    book.apply(ev.ExecutionStart("front", None), 101.5)
    assert [(j.prompt_id, j.position) for j in book.active()] == [
        ("front", None), ("one-five", 0), ("eight", 1), ("ten", 2)]


def test_history_snapshot_missing_ids_are_cancelled_when_pending_and_lost_when_running() -> None:
    book = JobBook(own_client_prefix="comfytui-")
    book.apply(ev.QueueSnapshot((_item(1, "running", "comfytui-x"),),
                                (_item(2, "pending", "comfytui-x"), _item(3, "done", "comfytui-x"))), 10.0)
    book.apply(ev.ExecutionSuccess("done", None), 11.0)
    changed = book.apply(ev.HistorySnapshot((), missing=("running", "pending", "done", "never-seen")), 12.0)
    assert book.get("pending").state == JobState.CANCELLED
    assert book.get("running").state == JobState.LOST
    assert book.get("done").state == JobState.SUCCESS, "a finished job stays finished"
    assert book.get("never-seen") is None
    assert changed == {"running", "pending"}
    assert book.active() == []


def test_server_restarted_marks_unfinished_jobs_lost_and_keeps_finished_ones() -> None:
    book = JobBook(own_client_prefix="comfytui-")
    book.apply(ev.QueueSnapshot((_item(1, "a", "comfytui-x"),), (_item(2, "b", "comfytui-x"),)), 10.0)
    book.apply(ev.QueueSnapshot((), ()), 10.5)
    book.track(Job("c", client_id="comfytui-x"))
    book.apply(ev.ExecutionSuccess("c", None), 11.0)
    book.apply(ev.ServerRestarted(("a", "b", "c")), 20.0)
    assert [book.get(p).state for p in "abc"] == [JobState.LOST, JobState.LOST, JobState.SUCCESS]
    assert book.get("a").ended_at == 20.0 and book.running_id is None
    # A late history entry does not resurrect a lost job.
    entry = ev.HistoryEntry("a", 1, {}, {}, "success", (), 1, 2)
    book.apply(ev.HistorySnapshot((entry,)), 21.0)
    assert book.get("a").state == JobState.LOST


def test_rate_and_eta_come_from_progress_and_the_given_clock() -> None:
    book = JobBook()
    book.track(Job("p", client_id="comfytui-x", prompt={"1": {"class_type": "KSampler", "inputs": {}}}))
    book.apply(ev.Executing("p", "1", "1"), 100.0)
    book.apply(ev.Progress("p", "1", 1, 10), 100.0)
    job = book.get("p")
    assert job.state == JobState.RUNNING and job.rate is None and job.eta_s is None
    assert (job.node_class, job.step, job.steps) == ("KSampler", 1, 10)
    for step in range(2, 6):  # one step a second
        book.apply(ev.Progress("p", "1", step, 10), 100.0 + step - 1)
    job = book.get("p")
    assert job.rate == pytest.approx(1.0) and job.eta_s == pytest.approx(5.0)
    book.apply(ev.Progress("p", "1", 7, 10), 105.0)  # now two steps a second
    book.apply(ev.Progress("p", "1", 9, 10), 106.0)
    job = book.get("p")
    assert 1.0 < job.rate < 2.0, "the rate follows the speed-up, smoothed"
    assert job.eta_s == pytest.approx(1 / job.rate)
    book.apply(ev.Progress("p", "1", 9, 10), 107.0)  # a repeat of the same step changes no rate
    assert book.get("p").rate == job.rate
    book.apply(ev.Executing("p", "2", "2"), 108.0)  # the next node starts afresh
    job = book.get("p")
    assert (job.node, job.step, job.steps, job.rate, job.eta_s) == ("2", 0, 0, None, None)
    book.apply(ev.ExecutionSuccess("p", None), 110.0)
    assert book.get("p").eta_s is None and book.get("p").duration_s == pytest.approx(10.0)


def test_a_burst_of_queued_progress_messages_does_not_read_as_a_huge_rate() -> None:
    book = JobBook()
    book.track(Job("p", client_id="comfytui-x"))
    book.apply(ev.Progress("p", "1", 1, 100), 100.0)
    book.apply(ev.Progress("p", "1", 2, 100), 101.0)
    for step in range(3, 30):  # frames that piled up while the loop was busy
        book.apply(ev.Progress("p", "1", step, 100), 101.0 + step * 0.001)
    job = book.get("p")
    assert job.step == 29 and job.rate is not None and job.rate < 3.0


def test_progress_state_drives_progress_and_counts_finished_nodes() -> None:
    book, pid = _book_with("run_A_legacy_preview")
    for msg in messages(ALL, "A", "run_A_legacy_preview"):
        event = protocol.decode_message(msg)
        if isinstance(event, ev.ProgressState):  # only the cumulative messages
            book.apply(event, 1.0)
    job = book.get(pid)
    assert job.state == JobState.RUNNING and job.nodes_done == 2 and job.nodes_total == 2


def test_late_messages_never_revive_a_finished_job() -> None:
    book, pid = _book_with("run_A_legacy_preview")
    _replay(book, "A", "run_A_legacy_preview")
    assert book.get(pid).state == JobState.SUCCESS
    # A reconnect replay or a stale /queue fetched just before the job ended.
    book.apply(ev.Executing(pid, "1", "1"), 5000.0)
    book.apply(ev.QueueSnapshot((_item(0, pid, OWN_A),), ()), 5001.0)
    assert book.get(pid).state == JobState.SUCCESS
    assert book.running_id is None


# -- properties ---------------------------------------------------------------------------------

_SCENARIOS = ("run_A_legacy_preview", "run_A_cached", "run_A_error", "run_A_interrupt")
_EVENTS_A = [protocol.decode_message(m) for m in messages(ALL, "A") if m["type"] != "status"]
_STATUSES = [ev.Status(n) for n in range(3)] + [ev.Status(0, "cap-A-e6c98d31")]


def _fresh_book() -> JobBook:
    book = JobBook(own_client_prefix="cap-")
    for scenario in _SCENARIOS:
        pid, prompt = submitted_prompt(scenario)
        book.track(Job(pid, client_id=OWN_A, prompt=prompt))
    return book


def _states(book: JobBook) -> dict[str, Job]:
    return dict(book.jobs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_EVENTS_A)), st.sampled_from(_STATUSES)), max_size=40))
def test_status_events_anywhere_never_change_jobs(inserts: list[tuple[int, ev.Status]]) -> None:
    plain = _fresh_book()
    for i, event in enumerate(_EVENTS_A):
        plain.apply(event, 1000.0 + i)
    mixed = _fresh_book()
    by_index: dict[int, list[ev.Status]] = {}
    for index, status in inserts:
        by_index.setdefault(index, []).append(status)
    for i, event in enumerate(_EVENTS_A):
        for status in by_index.get(i, ()):
            assert mixed.apply(status, 1000.0 + i) == set()
        mixed.apply(event, 1000.0 + i)
    for status in by_index.get(len(_EVENTS_A), ()):
        mixed.apply(status, 2000.0)
    assert _states(mixed) == _states(plain)


def _pool() -> list[object]:
    pool: list[object] = list(_EVENTS_A) + _STATUSES
    for scenario in _SCENARIOS:
        pid, _ = submitted_prompt(scenario)
        pool += [ev.QueueSnapshot((_item(0, pid, OWN_A),), ()), ev.QueueSnapshot((), (_item(1, pid, OWN_A),)),
                 ev.Executing(None, "1")]
    return pool


_POOL = _pool()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_POOL), max_size=80))
def test_finished_jobs_never_go_back_to_running_or_pending(events: list[object]) -> None:
    book = _fresh_book()
    finished: dict[str, JobState] = {}
    for i, event in enumerate(events):
        book.apply(event, 1000.0 + i)
        for pid, job in book.jobs.items():
            if pid in finished:
                assert job.state.finished, f"{pid} went from {finished[pid]} back to {job.state} after {event!r}"
            elif job.state.finished:
                finished[pid] = job.state


def test_book_trims_the_oldest_finished_jobs() -> None:
    book = JobBook(max_finished=3)
    for i in range(6):
        book.track(Job(f"p{i}", client_id="comfytui-x"))
        book.apply(ev.ExecutionSuccess(f"p{i}", None), float(i))
    assert list(book.jobs) == ["p3", "p4", "p5"]
    assert book.get("p5").state == JobState.SUCCESS
