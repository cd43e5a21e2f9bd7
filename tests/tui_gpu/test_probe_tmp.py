import pytest
from comfytui.tui.app import ComfyTuiApp
from harness.app import screen_text, wait_until
pytestmark = pytest.mark.comfy

@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_probe(gpu_app_config, size):
    app = ComfyTuiApp(gpu_app_config)
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: app.session.connection.state == "connected", what="conn")
        await pilot.pause(3.5)
        print(screen_text(app)[-6000:]); print(repr(str(app.query_one('DevicesPane').render())))
        from comfytui.tui.widgets.devices_pane import DevicesPane
        p = app.query_one(DevicesPane)
        print(p.region, p.content_region)
