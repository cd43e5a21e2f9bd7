"""Fixtures of the workflow tests: the captured /object_info and the fixture workflows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def object_info() -> dict[str, Any]:
    """``GET /object_info`` of the real CPU ComfyUI 0.3.75 with the comfytui test nodes (captured)."""
    return load_fixture("object_info.json")


@pytest.fixture
def acceptance_workflow() -> dict[str, Any]:
    """Editor workflow with a PrimitiveNode, a Reroute, a muted node, a bypassed node and a subgraph."""
    return load_fixture("acceptance.json")
