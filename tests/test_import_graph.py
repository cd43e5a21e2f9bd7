"""The package's import graph: no cycles, and arrows only entry → tui/headless → core.

Read from the source with ``ast`` (imports inside functions and under ``TYPE_CHECKING`` count too:
a cycle hidden in a function is still a cycle for a reader). Importing a submodule also runs its
package's ``__init__``, so ``a.b.c`` depends on ``a.b`` as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

import comfytui

PACKAGE = Path(comfytui.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".")
                    base = base[: len(base) - node.level + (1 if is_package else 0)]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                targets = [stem] + [f"{stem}.{alias.name}" for alias in node.names]
            for target in targets:
                if not target.startswith("comfytui"):
                    continue
                # the deepest known module named by the import, plus every package above it
                parts = target.split(".")
                while parts and ".".join(parts) not in modules:
                    parts.pop()
                for depth in range(1, len(parts) + 1):
                    dep = ".".join(parts[:depth])
                    if dep in modules and dep != name and not name.startswith(dep + "."):
                        graph[name].add(dep)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def layer(name: str) -> str:
    for prefix in ("comfytui.core", "comfytui.tui", "comfytui.headless"):
        if name == prefix or name.startswith(prefix + "."):
            return prefix.split(".")[1]
    return "entry"  # comfytui, comfytui.cli, comfytui.__main__


ALLOWED = {"core": {"core"}, "headless": {"headless", "core"}, "tui": {"tui", "core"},
           "entry": {"entry", "tui", "headless", "core"}}


def test_the_graph_sees_the_package() -> None:
    graph = import_graph()
    assert "comfytui.core.comfy.session" in graph
    assert "comfytui.core.comfy.client" in graph["comfytui.core.comfy.session"]


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_arrows_point_from_entry_to_ui_to_core() -> None:
    bad = sorted(f"{a} → {b}" for a, deps in import_graph().items() for b in deps
                 if layer(b) not in ALLOWED[layer(a)])
    assert bad == [], "imports against the layering:\n" + "\n".join(bad)


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


# The rooms of the core and what each may import (README "Architecture", each room's __init__).
# "root" is config, paths, errors, logs, redaction, themes, config_template: used by every room.
ROOM_RULES: dict[str, set[str]] = {
    "root": {"root"},
    "store": {"root"},
    "gpu": {"root"},
    "comfy": {"root", "store"},
    "workflows": {"root", "comfy"},
    "models": {"root", "comfy"},
    "lifecycle": {"root", "comfy"},
    "queue": {"root", "store", "comfy", "workflows"},
    "metrics": {"root", "store", "comfy", "gpu", "queue"},
}


def room(name: str) -> str | None:
    parts = name.split(".")
    if parts[:2] != ["comfytui", "core"]:
        return None
    if len(parts) == 2:
        return "root"
    return parts[2] if parts[2] in ROOM_RULES else "root"


def test_each_room_imports_only_what_its_docstring_allows() -> None:
    bad = sorted(f"{a} → {b}" for a, deps in import_graph().items() if (ra := room(a))
                 for b in deps if (rb := room(b)) and rb != ra and rb not in ROOM_RULES[ra])
    assert bad == [], "imports across rooms that the architecture does not allow:\n" + "\n".join(bad)


def test_every_room_says_what_it_may_import() -> None:
    for name in ROOM_RULES:
        if name in ("root", "metrics"):
            continue
        doc = (PACKAGE / "core" / name / "__init__.py").read_text()
        assert "May import" in doc, f"core/{name}/__init__.py does not say what the room may import"
