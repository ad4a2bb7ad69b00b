"""The shape of the house, read from the package's own source (ast), not from a diagram.

* Every module sits on a floor, and the folder it is in says which (see
  ``../shared/design.md``, "Shape"): a module imports only from its own floor
  or below; no import circle anywhere, typing-only imports and imports inside
  functions included.
* No module is longer than 600 lines: one idea each.
* Only the transport sends requests: no other module calls aiohttp's request
  methods or builds a session or connector (the pool lives in one place).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "xstream"

# Bottom to top: a top-level module or private folder of the package, and its floor.
# A new folder or top-level module must be placed here, which is the point.
FLOORS: dict[str, int] = {
    "_version": 0,
    "_exceptions": 0,  # the error tree
    "_config": 0,  # timeouts, retry policy, sentinels
    "_sse": 1,  # the sans-IO decoder and encoder
    "_models": 1,  # payload Structs and request parameters, declared once
    "_protocol": 2,  # sans-IO meaning: chunks -> accumulator and events, partial JSON, schemas
    "_transport": 3,  # the one place requests are sent and errors mapped
    "_telemetry": 3,  # spans and metrics
    "_streams": 4,  # the engine and the stream kinds on it; the relay
    "_resources": 5,  # chat.completions, responses, sse, tool runners
    "_client": 6,  # AsyncClient
    "_sync": 7,  # the portal and the generated blocking twin
    "testing": 8,
    "_cli": 8,
    "pytest_plugin": 8,
    "__main__": 8,
    "__init__": 9,
}
MAX_LINES = 600

SENDS = {"request", "post", "put", "patch", "delete", "ws_connect", "_request"}
POOL = {"ClientSession", "TCPConnector", "UnixConnector"}


def _name(path: Path) -> str:
    """``xstream/_streams/engine.py`` -> ``_streams.engine``; a package's
    ``__init__.py`` -> the package."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, tuple[Path, ast.Module]]:
    return {_name(p): (p, ast.parse(p.read_text(), str(p))) for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _floor_of(module: str) -> str:
    return module.split(".")[0]


def _resolve(module: str, node: ast.ImportFrom) -> list[str]:
    """The package's modules an ``ImportFrom`` names, as dotted names within the package."""
    if node.level == 0:
        name = node.module or ""
        if name != "xstream" and not name.startswith("xstream."):
            return []
        base = name.removeprefix("xstream").lstrip(".").split(".") if name != "xstream" else []
    else:
        here = module.split(".")
        is_package = MODULES[module][0].name == "__init__.py"
        package = here if is_package else here[:-1]
        if module == "__init__":
            package = []
        base = package[: len(package) - (node.level - 1)] + (
            node.module.split(".") if node.module else []
        )
    found = []
    for alias in node.names:  # `from . import x` / `from ._sse import decoder`
        candidate = ".".join([*base, alias.name])
        if candidate in MODULES:
            found.append(candidate)
    dotted = ".".join(base)
    if dotted in MODULES or not found:
        found.append(dotted or "__init__")
    return found


def _imports(module: str, tree: ast.Module) -> set[str]:
    """The package's modules ``module`` imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.update(_resolve(module, node))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "xstream":
                    found.add("__init__")
                elif alias.name.startswith("xstream."):
                    found.add(alias.name.removeprefix("xstream."))
    found.discard(module)
    return {m for m in found if m}


GRAPH = {name: _imports(name, tree) for name, (_, tree) in MODULES.items()}


def test_every_module_is_on_a_floor() -> None:
    homeless = sorted(m for m in MODULES if _floor_of(m) not in FLOORS)
    assert not homeless, "put new folders or modules in FLOORS"
    assert {_floor_of(m) for m in MODULES} == set(FLOORS), "remove gone ones from FLOORS"


def test_the_check_resolves_imports() -> None:
    # the checks below must be able to fail: they see real ties
    assert "_streams.engine" in GRAPH["_streams.chat"]
    assert "_sse.decoder" in GRAPH["_streams.engine"]
    assert "_exceptions" in GRAPH["_transport.transport"]
    assert {"_client", "_sync.client"} & GRAPH["pytest_plugin"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_down_the_floors(module: str) -> None:
    floor = FLOORS[_floor_of(module)]
    upward = {m for m in GRAPH[module] if FLOORS.get(_floor_of(m), 99) > floor}
    assert not upward, f"{module} (floor {floor}) imports from above: {sorted(upward)}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_longer_than_its_one_idea(module: str) -> None:
    path = MODULES[module][0]
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)}: {lines} lines; split it"


def test_there_is_no_import_circle() -> None:
    # The package imports itself lazily (PEP 562), so __init__ is a source, never a
    # target; a package's __init__ that only re-exports is read as its modules.
    graph = {m: {t for t in targets if t != "__init__"} for m, targets in GRAPH.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                circle = [*path[path.index(target) :], target]
                pytest.fail("import circle: " + " -> ".join(circle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def _sends(tree: ast.Module) -> list[str]:
    calls = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        receiver = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
        on_a_session = "session" in receiver.lower() or receiver == "aiohttp"
        if name in POOL or (on_a_session and (name in SENDS or name == "get")):
            calls.append(f"line {node.lineno}: {ast.unparse(func)}(...)")
    return calls


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _floor_of(m) != "_transport"))
def test_only_the_transport_sends_requests(module: str) -> None:
    assert _sends(MODULES[module][1]) == [], f"{module} sends a request itself; use the transport"


def test_the_check_sees_the_transport_send() -> None:
    # the check above must be able to fail: it finds the transport's own calls
    found = [c for m, (_, t) in MODULES.items() if _floor_of(m) == "_transport" for c in _sends(t)]
    assert any("session.request" in call for call in found)
    assert any("ClientSession" in call for call in found)
