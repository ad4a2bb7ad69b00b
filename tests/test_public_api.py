"""The public surface: what `import xstream` offers, and what it costs."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import xstream


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert xstream.__all__ == sorted(xstream.__all__)
    assert len(set(xstream.__all__)) == len(xstream.__all__)
    for name in xstream.__all__:
        assert getattr(xstream, name) is not None, name


def test_the_contract_names_are_public() -> None:
    contract = {
        "AsyncClient", "Client", "AsyncStream", "Stream", "SSEDecoder", "ServerSentEvent",
        "ChatCompletionChunk", "ChatCompletion", "XStreamError", "APIError", "APIStatusError",
        "BadRequestError", "AuthenticationError", "PermissionDeniedError", "NotFoundError",
        "UnprocessableEntityError", "RateLimitError", "InternalServerError",
        "APIConnectionError", "APITimeoutError", "ChatCompletionAccumulator", "Timeout",
    }  # fmt: skip
    assert contract <= set(xstream.__all__)


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        xstream.no_such_thing  # type: ignore[attr-defined]  # noqa: B018


def test_every_exception_derives_from_the_base() -> None:
    public = [getattr(xstream, n) for n in xstream.__all__]
    errors = [e for e in public if isinstance(e, type) and issubclass(e, BaseException)]
    assert len(errors) > 20
    assert all(issubclass(e, xstream.XStreamError) for e in errors)


def test_import_is_cheap_transport_loads_on_first_use() -> None:
    code = (
        "import sys, xstream\n"
        "print('aiohttp' in sys.modules, 'anyio' in sys.modules, 'msgspec' in sys.modules,"
        " sorted(m for m in sys.modules if m.startswith('xstream.')))\n"
        "xstream.RateLimitError\n"
        "print('aiohttp' in sys.modules, 'msgspec' in sys.modules)\n"
        "from xstream import Client as OpenAI\n"
        "print('aiohttp' in sys.modules, 'anyio' in sys.modules, OpenAI.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:3] == [
        "False False False ['xstream._version']",  # nothing but the version, yet
        "False False",  # the errors need neither
        "True True Client",
    ]


def test_py_typed_is_shipped() -> None:
    assert (Path(xstream.__file__).parent / "py.typed").exists()


def test_the_exports_are_declared_once_and_agree() -> None:
    # __init__.py names each export three times (for type checkers, for the lazy
    # loader, in __all__); this holds the three to one another
    tree = ast.parse(Path(xstream.__file__).read_text())
    (block,) = [
        n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
    ]
    declared = {
        alias.name: "." + (node.module or "")
        for node in block.body
        if isinstance(node, ast.ImportFrom) and node.level == 1
        for alias in node.names
    }
    assert declared == xstream._LAZY
    assert set(declared) == set(xstream.__all__) - {"__version__"}
