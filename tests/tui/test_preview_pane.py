"""The Preview pane on its own (a small Textual app, real widgets, real JPEG frames): the latest
frame wins when frames come faster than ``max_fps``, and a resized pane draws the frame again at
its new size. The cells themselves are compared with textual_image's by the snapshot tests."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw
from textual.app import App, ComposeResult

from comfytui.tui.images import FrameImage
from comfytui.tui.widgets.preview_pane import PreviewPane, decode_image
from harness.app import screen_text, wait_until


def jpeg(step: int) -> bytes:
    picture = Image.new("RGB", (64, 64), (16, 16, 16))
    ImageDraw.Draw(picture).rectangle([0, 16, 2 * step, 47], fill=(220, 40, 40))
    out = io.BytesIO()
    picture.save(out, "JPEG")
    return out.getvalue()


class PreviewApp(App):
    def compose(self) -> ComposeResult:
        yield PreviewPane("halfcell", max_fps=10.0, id="preview")


async def test_a_burst_of_frames_ends_on_the_latest_one() -> None:
    app = PreviewApp()
    async with app.run_test(size=(60, 24)) as pilot:
        pane = app.query_one(PreviewPane)
        assert "no preview yet" in screen_text(app)
        for step in range(30):
            pane.offer(jpeg(step), f"step {step}/29")
        await wait_until(pilot, lambda: "step 29/29" in screen_text(app), what="the last frame's caption")
        image = app.query_one("#preview-image", FrameImage)
        await pilot.pause(0.3)
        assert pane.frames_received == 30
        assert pane.frames_shown < 5, "frames that a newer one replaced before their turn are skipped"
        assert image.picture.tobytes() == decode_image(jpeg(29)).tobytes()
        assert "no preview yet" not in screen_text(app)
        assert image.frame is not None and image.frame.size == (image.content_size.width, image.content_size.height)


async def test_a_resized_pane_draws_the_frame_at_its_new_size() -> None:
    app = PreviewApp()
    async with app.run_test(size=(40, 16)) as pilot:
        pane = app.query_one(PreviewPane)
        pane.offer(jpeg(10), "step 10")
        image = app.query_one("#preview-image", FrameImage)
        await wait_until(pilot, lambda: image.frame is not None, what="the first frame")
        small = image.frame.size
        await pilot.resize_terminal(80, 32)
        await wait_until(pilot, lambda: image.frame.size == (image.content_size.width, image.content_size.height),
                         what="the frame drawn again for the new size")
        assert image.frame.size != small and image.frame.width > 0
