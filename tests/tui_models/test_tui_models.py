"""The model browser, driven through the app with Pilot against the real CPU ComfyUI and real
.safetensors files in its model folders: listing, filter, sort, details, sha256 while the UI works."""

from __future__ import annotations

import asyncio
import subprocess

import pytest
from textual.widgets import OptionList, ProgressBar

from comfytui.core.config import Config
from comfytui.tui.app import ComfyTuiApp
from comfytui.tui.screens.models import ModelsScreen
from harness.app import screen_text, wait_until

pytestmark = pytest.mark.comfy


def mine(screen: ModelsScreen, tag: str) -> list[str]:
    return [e.name.split("/", 1)[1] for e in screen.shown if e.name.startswith(f"{tag}/")]


async def open_browser(app: ComfyTuiApp, pilot) -> ModelsScreen:
    await pilot.press("m")
    await wait_until(pilot, lambda: isinstance(app.screen, ModelsScreen), what="the model browser")
    screen: ModelsScreen = app.screen  # type: ignore[assignment]
    await wait_until(pilot, lambda: not screen.listing_busy and screen.listing is not None, what="the listing")
    return screen


async def filter_to(pilot, screen: ModelsScreen, words: str) -> None:
    await pilot.press("slash")
    await pilot.press(*words)
    await pilot.press("enter")
    await wait_until(pilot, lambda: screen.filter_text == words, what=f"filter {words!r}")


async def test_browse_filter_sort_and_details(models_app_config: Config, tui_model_files) -> None:
    tag, files = tui_model_files
    app = ComfyTuiApp(models_app_config)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_browser(app, pilot)
        listed = {e.name: e for e in screen.entries}
        good = listed[f"{tag}/good.safetensors"]
        assert good.folder == "checkpoints" and good.size == files["good"].stat().st_size
        assert good.local_path == str(files["good"])
        assert listed[f"{tag}/style.safetensors"].folder == "loras"
        folders = screen.query_one("#models-folders", OptionList)
        labels = [str(folders.get_option_at_index(i).prompt) for i in range(folders.option_count)]
        assert labels[0].startswith("all ") and any(label.startswith("checkpoints ") for label in labels)
        assert any(label.startswith("loras ") for label in labels)

        # "/" filters: every word, case-insensitive
        await filter_to(pilot, screen, f"{tag.upper()} GOOD")
        assert mine(screen, tag) == ["good.safetensors"] and len(screen.shown) == 1
        text = screen_text(app)
        assert f"checkpoints/{tag}/good.safetensors" in text and "1 of " in text
        # details: metadata, tensor count, dtypes, local path
        await pilot.press("enter")
        text = screen_text(app)
        assert "modelspec.title: Good Model" in text and "ss_note: hello tui" in text
        assert "tensors: 4 (F16 2, F32 1, I64 1)" in text
        assert "local path:" in text and "good.safetensors" in text

        # flags and warnings: a VAE in checkpoints, a corrupt header
        await pilot.press("slash", "escape")  # Esc in the filter clears it
        assert screen.filter_text == "" and len(screen.shown) > 1
        await filter_to(pilot, screen, f"{tag} mystery")
        assert "looks like a VAE, not a diffusion checkpoint" in " ".join(screen_text(app).split())
        await pilot.press("slash", "escape")
        await filter_to(pilot, screen, f"{tag} corrupt")
        assert "header:" in screen_text(app) and "not a ckpt" not in screen_text(app)
        assert "bad header" in screen_text(app)

        # sort by size (2), again reverses; 1 is name
        await pilot.press("slash", "escape")
        await filter_to(pilot, screen, tag)
        await pilot.press("2")
        sizes = [e.size for e in screen.shown]
        assert screen.sort_by == "size" and sizes == sorted(sizes)
        assert mine(screen, tag)[-1] == "big.safetensors"
        await pilot.press("2")
        assert screen.reverse and mine(screen, tag)[0] == "big.safetensors"
        assert "sort: size ↓" in screen_text(app)
        await pilot.press("1")
        names = [e.path.lower() for e in screen.shown]
        assert screen.sort_by == "name" and names == sorted(names)

        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ModelsScreen), what="going back")


async def test_hash_a_large_file_while_the_ui_keeps_working(models_app_config: Config, tui_model_files) -> None:
    tag, files = tui_model_files
    big = files["big"]
    size = big.stat().st_size
    app = ComfyTuiApp(models_app_config)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_browser(app, pilot)
        await filter_to(pilot, screen, f"{tag} big")
        assert mine(screen, tag) == ["big.safetensors"]
        entry = screen.shown[0]
        bar = screen.query_one("#hash-progress", ProgressBar)

        # record what the UI does while the hash runs (hashing takes ~0.5 s here: keys take milliseconds)
        progress_seen: list[tuple[int, int]] = []
        keys_seen: list[tuple[str, bool, int]] = []
        frames: list[tuple[bool, int, str]] = []
        on_progress, sort, reverse = screen._on_hash_progress, screen.action_sort, screen.action_reverse

        def recording_progress(done: int, total: int) -> None:
            progress_seen.append((done, total))
            on_progress(done, total)
            if 0 < done < total and not frames:  # one screenshot taken mid-hash, after the next refresh
                screen.call_after_refresh(
                    lambda: frames.append((screen.hashing is not None, screen.hash_progress[0], screen_text(app)))
                )

        def recording_sort(key: str) -> None:
            keys_seen.append((f"sort {key}", screen.hashing is not None, screen.hash_progress[0]))
            sort(key)

        def recording_reverse() -> None:
            keys_seen.append(("reverse", screen.hashing is not None, screen.hash_progress[0]))
            reverse()

        screen._on_hash_progress = recording_progress  # type: ignore[method-assign]
        screen.action_sort = recording_sort  # type: ignore[method-assign]
        screen.action_reverse = recording_reverse  # type: ignore[method-assign]

        # h starts hashing; h again cancels it: nothing cached, nothing shown
        app.simulate_key("h")
        await wait_until(pilot, lambda: screen.hashing is not None and progress_seen, timeout=5, what="hashing")
        app.simulate_key("h")
        await wait_until(pilot, lambda: screen.hashing is None, what="the cancellation")
        assert str(big) not in screen.hashes and screen.catalog.cached_sha256(entry) is None
        assert progress_seen[-1][0] < size
        await pilot.pause()
        assert "press h to compute" in screen_text(app)
        # Esc cancels too (and stays on the screen)
        progress_seen.clear()
        app.simulate_key("h")
        await wait_until(pilot, lambda: screen.hashing is not None and progress_seen, timeout=5, what="hashing")
        app.simulate_key("escape")
        await wait_until(pilot, lambda: screen.hashing is None, what="the cancellation by Esc")
        assert app.screen is screen and str(big) not in screen.hashes

        # hash for real; keys pressed meanwhile are handled before the hash ends
        progress_seen.clear()
        app.simulate_key("h")
        app.simulate_key("2")  # sort by size
        app.simulate_key("v")  # reverse
        await wait_until(pilot, lambda: screen.sort_by == "size" and screen.reverse, timeout=5, what="the keys")
        await wait_until(pilot, lambda: screen.hashing is None, timeout=60, what="the hash")
        assert [k[0] for k in keys_seen] == ["sort size", "reverse"]
        for name, hashing, done in keys_seen:
            assert hashing and done < size, f"{name} waited for the hash ({keys_seen})"
        assert any(0 < done < total for done, total in progress_seen), progress_seen
        assert progress_seen[-1] == (size, size) and bar.progress == size and bar.total == size
        assert frames, "no refresh happened while hashing"
        hashing, done, text = frames[0]
        assert hashing and done < size  # the screen redrew mid-hash: progress row, bar and status line
        assert f"sha256 checkpoints/{tag}/big.safetensors (h or Esc: cancel)" in text and "%" in text

        digest = screen.hashes[str(big)]
        out = await asyncio.to_thread(subprocess.run, ["sha256sum", str(big)], capture_output=True, text=True,
                                      check=True)
        assert digest == out.stdout.split()[0]
        await pilot.pause()
        assert digest in screen_text(app) and "sort: size ↓" in screen_text(app)
        assert not screen.query_one("#hash-box").display

        # reopen: the cached digest is shown at once, without hashing
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ModelsScreen), what="going back")
        screen = await open_browser(app, pilot)
        assert screen.hashes.get(str(big)) == digest
        await filter_to(pilot, screen, f"{tag} big")
        assert digest in screen_text(app) and screen.hashing is None
