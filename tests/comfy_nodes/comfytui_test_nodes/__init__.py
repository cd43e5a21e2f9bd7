"""Test-only ComfyUI custom nodes for comfytui's tests.

Loaded by the real CPU ComfyUI server (0.3.75) that the test harness starts: ``scripts/comfy-cpu
start --custom-nodes tests/comfy_nodes/comfytui_test_nodes`` links this package into
``BASE/custom_nodes``. It runs inside the *server's* Python 3.11 venv (torch, numpy, Pillow), never
inside comfytui's own venv, so it must not import anything from comfytui.

Nodes (category "comfytui/testing"):

- ``ComfyTUIProgress``: ``steps`` steps of ``delay`` seconds; each step sends a ``progress``
  message, a binary preview frame (JPEG or PNG: a bar that grows with the step, so frames differ)
  and a progress-text frame "step i/steps". Returns a 64x64 IMAGE whose colour depends on ``seed``
  and ``steps`` (mixed with the optional input image).
- ``ComfyTUISleep``: sleeps ``seconds`` in ~50 ms ticks, reporting progress every tick; the
  progress hook raises when the job is interrupted, so ``POST /interrupt`` stops it within a tick.
- ``ComfyTUIFail``: raises ``ValueError(message)`` when ``fail`` is true.

Identical prompts are served from ComfyUI's cache: tests vary ``seed`` (or another input).
"""

from __future__ import annotations

import time

import comfy.utils
import torch
from PIL import Image, ImageDraw

try:  # the server module exists whenever ComfyUI loads custom nodes; guard for direct imports
    from server import PromptServer
except Exception:  # pragma: no cover - only outside a running server
    PromptServer = None

CATEGORY = "comfytui/testing"
SIZE = 64
TICK = 0.05
MAX_SEED = 2**32 - 1


def _colour(seed: int, steps: int) -> tuple[int, int, int]:
    """A deterministic, well-spread RGB colour from seed and step count."""
    x = (int(seed) * 2654435761 + int(steps) * 40503 + 0x9E3779B9) & 0xFFFFFFFF
    return (64 + (x & 0xBF), 64 + ((x >> 8) & 0xBF), 64 + ((x >> 16) & 0xBF))


def _preview(step: int, steps: int, colour: tuple[int, int, int]) -> Image.Image:
    """A dark square with a bar whose width grows with ``step`` (frames are distinguishable)."""
    img = Image.new("RGB", (SIZE, SIZE), (16, 16, 16))
    draw = ImageDraw.Draw(img)
    width = max(1, round(SIZE * step / max(1, steps)))
    draw.rectangle([0, SIZE // 4, width - 1, 3 * SIZE // 4 - 1], fill=colour)
    return img


def _solid(colour: tuple[int, int, int], like: torch.Tensor | None = None) -> torch.Tensor:
    rgb = torch.tensor(colour, dtype=torch.float32) / 255.0
    if like is not None and like.ndim == 4 and like.shape[-1] >= 3:
        base = like[..., :3].to(torch.float32)
        return (base * 0.5 + rgb * 0.5).clamp(0.0, 1.0)
    return rgb.view(1, 1, 1, 3).expand(1, SIZE, SIZE, 3).contiguous()


def _small_image() -> torch.Tensor:
    return torch.zeros((1, SIZE, SIZE, 3), dtype=torch.float32)


def _progress_text(text: str, unique_id) -> None:
    if PromptServer is not None and getattr(PromptServer, "instance", None) is not None:
        PromptServer.instance.send_progress_text(text, unique_id)


def _seed_input(**extra) -> tuple:
    return ("INT", {"default": 0, "min": 0, "max": MAX_SEED, "control_after_generate": True, **extra})


class ComfyTUIProgress:
    """Steps with progress messages, preview frames and progress text."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "steps": ("INT", {"default": 4, "min": 1, "max": 1000}),
                "delay": ("FLOAT", {"default": 0.05, "min": 0.0, "max": 10.0, "step": 0.01,
                                    "tooltip": "seconds per step"}),
                "fmt": (["JPEG", "PNG"],),
                "seed": _seed_input(),
            },
            "optional": {"image": ("IMAGE",)},
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    FUNCTION = "run"
    CATEGORY = CATEGORY
    DESCRIPTION = "comfytui test node: N steps with progress, a preview frame and progress text per step."

    def run(self, steps, delay, fmt, seed, image=None, unique_id=None):
        steps = int(steps)
        colour = _colour(seed, steps)
        pbar = comfy.utils.ProgressBar(steps, node_id=unique_id)
        for i in range(1, steps + 1):
            if delay > 0:
                time.sleep(float(delay))
            pbar.update_absolute(i, steps, (fmt, _preview(i, steps, colour), 512))
            _progress_text(f"step {i}/{steps}", unique_id)
        return (_solid(colour, image),)


class ComfyTUISleep:
    """Sleeps in ~50 ms ticks; interruptible within a tick."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "seconds": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 600.0, "step": 0.01}),
                "seed": _seed_input(),
            },
            "optional": {"image": ("IMAGE",)},
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    FUNCTION = "run"
    CATEGORY = CATEGORY
    DESCRIPTION = "comfytui test node: sleeps, reporting progress every 50 ms (interruptible)."

    def run(self, seconds, seed, image=None, unique_id=None):
        ticks = max(1, round(float(seconds) / TICK))
        pbar = comfy.utils.ProgressBar(ticks, node_id=unique_id)
        deadline = time.monotonic()
        for i in range(1, ticks + 1):
            deadline += float(seconds) / ticks
            remaining = deadline - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)
            # Raises comfy.model_management.InterruptProcessingException after POST /interrupt.
            pbar.update_absolute(i, ticks)
        return (image if image is not None else _small_image(),)


class ComfyTUIFail:
    """Raises ValueError(message) when ``fail`` is true."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "message": ("STRING", {"default": "requested failure"}),
                "fail": ("BOOLEAN", {"default": True}),
            },
            "optional": {"image": ("IMAGE",)},
        }

    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    FUNCTION = "run"
    CATEGORY = CATEGORY
    DESCRIPTION = "comfytui test node: raises ValueError(message) when fail is true."

    def run(self, message, fail, image=None):
        if fail:
            raise ValueError(message)
        return (image if image is not None else _small_image(),)


NODE_CLASS_MAPPINGS = {
    "ComfyTUIProgress": ComfyTUIProgress,
    "ComfyTUISleep": ComfyTUISleep,
    "ComfyTUIFail": ComfyTUIFail,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "ComfyTUIProgress": "ComfyTUI Progress (test)",
    "ComfyTUISleep": "ComfyTUI Sleep (test)",
    "ComfyTUIFail": "ComfyTUI Fail (test)",
}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
