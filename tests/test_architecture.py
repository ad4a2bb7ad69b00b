"""The shape of the house, read from the package's own source (ast), not from a diagram.

* Import ties run one way: every module sits in a layer, and imports only from
  its own layer or below; no import circle anywhere, typing-only imports and
  imports inside functions included.
* Only the transport sends requests: no other module calls aiohttp's request
  methods or builds a session or connector (the pool lives in one place).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "xstream"

# Bottom to top. A new module must be placed here, which is the point.
LAYERS: dict[str, int] = {
    # decoder, payload types, errors, policies: nothing of ours above them
    "_version": 0,
    "_redact": 0,
    "_errors": 0,
    "_sse": 0,
    "_managers": 0,
    "_timeouts": 0,
    "_retries": 0,
    "_relay": 1,
    "_types": 1,
    "_partial": 1,
    "_response_types": 2,
    "_accumulate": 2,
    "_schema": 2,
    # one request path, one read loop
    "_pool": 3,
    "_telemetry": 3,
    "_proxy": 3,
    "_raw": 3,
    "_transport": 3,
    "_engine": 4,
    # the stream kinds
    "_chat_stream": 5,
    "_event_stream": 5,
    "_response_stream": 6,
    "_chat_events": 6,
    # the client and its resources
    "_chat": 7,
    "_tool_runner": 7,
    "_responses": 7,
    "_sse_api": 7,
    "_client": 8,
    # the sync facade, the CLI, testing, the package
    "_portal": 9,
    "_sync_stream": 10,
    "_sync": 11,
    "_mock_responses": 12,
    "testing": 12,
    "_chat_page": 13,
    "__main__": 13,
    "pytest_plugin": 13,
    "__init__": 14,
}

SENDS = {"request", "post", "put", "patch", "delete", "ws_connect", "_request"}
POOL = {"ClientSession", "TCPConnector", "UnixConnector"}


def _modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.glob("*.py"))}


def _imports(name: str, tree: ast.Module) -> set[str]:
    """The package's modules ``name`` imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and not (node.module or "").startswith("xstream"):
                continue
            base = (node.module or "").removeprefix("xstream").lstrip(".")
            if base:
                found.add(base.split(".")[0])
            else:  # from . import _x / from xstream import x
                found.update(a.name for a in node.names if a.name in LAYERS)
                if node.level == 0 or node.module == "xstream":
                    found.add("__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "xstream":
                    found.add("__init__")
                elif alias.name.startswith("xstream."):
                    found.add(alias.name.split(".")[1])
    found.discard(name)
    return found


GRAPH = {name: _imports(name, tree) for name, tree in _modules().items()}


def test_every_module_has_a_layer() -> None:
    assert set(GRAPH) == set(LAYERS), "place new modules in LAYERS, remove gone ones"


@pytest.mark.parametrize("module", sorted(LAYERS, key=LAYERS.__getitem__))
def test_imports_run_down_the_layers(module: str) -> None:
    upward = {m for m in GRAPH.get(module, set()) if LAYERS.get(m, 99) > LAYERS[module]}
    assert not upward, f"{module} (layer {LAYERS[module]}) imports from above: {sorted(upward)}"


def test_there_is_no_import_circle() -> None:
    # The package imports itself lazily (PEP 562), so __init__ is a source, never a target.
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


@pytest.mark.parametrize("module", sorted(m for m in LAYERS if m != "_transport"))
def test_only_the_transport_sends_requests(module: str) -> None:
    tree = _modules()[module]
    assert _sends(tree) == [], f"{module} sends a request itself; use the transport"


def test_the_check_sees_the_transport_send() -> None:
    # the check above must be able to fail: it finds the transport's own calls
    found = _sends(_modules()["_transport"])
    assert any("session.request" in call for call in found)
    assert any("ClientSession" in call for call in found)
