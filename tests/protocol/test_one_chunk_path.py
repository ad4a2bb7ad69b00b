"""One chunk -> events path: every copy of the common chunk's test is the one test's.

:func:`~xstream._protocol.accumulate.plain_choice` decides which chunks take the
fast path (append the text; ``chunk`` and ``content.delta``). Three places inline
it for speed: the accumulator's ``add_all``, the events' state ``handle_chunk``
(which calls it) and the async events stream (whose blocking twin is generated
from it). Each inline ``if`` must test every conjunct of ``plain_choice`` and
nothing else beyond the context it needs, so that a new delta field added to the
one test fails here until every copy has it. Behaviour is held by the
recorded-events tests and the property tests of the accumulator and the state.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from xstream._protocol.accumulate import ChatCompletionAccumulator, plain_choice
from xstream._streams.chat_events import AsyncChatCompletionStream
from xstream._sync.chat_events import ChatCompletionStream

# what an inline copy may test besides plain_choice's conjuncts: where it is
CONTEXT = {
    "choice.index == parts.index",  # the accumulator: the choice seen last
    "choice_state is not None",  # the streams: the choice's state is known ...
    "choice_state.fast",  # ... and its head is in
}


def _conjuncts(test: ast.expr) -> set[str]:
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return {ast.unparse(value) for value in test.values}
    return {ast.unparse(test)}


def _the_one_test() -> set[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(plain_choice)))
    (ret,) = [n for n in ast.walk(tree) if isinstance(n, ast.Return)]
    assert isinstance(ret.value, ast.Call)  # bool(... and ...)
    return _conjuncts(ret.value.args[0])


def _inline_tests(fn: Callable[..., Any]) -> list[set[str]]:
    """The ``if`` tests in ``fn`` that look like the common chunk's test."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    return [
        _conjuncts(node.test)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "delta.tool_calls is None" in _conjuncts(node.test)
    ]


ONE = _the_one_test()


def test_the_one_test_names_every_field_that_leaves_the_fast_path() -> None:
    assert {
        "choice.finish_reason is None",
        "choice.logprobs is None",
        "delta.tool_calls is None",
        "delta.refusal is None",
        "delta.reasoning_content is None",
        "delta.reasoning is None",
        "delta.reasoning_details is None",
        "chunk.citations is None",
        "delta.annotations is None",
        "not chunk._kept",
        "chunk.object",
    } == ONE


@pytest.mark.parametrize(
    "fn",
    [
        ChatCompletionAccumulator.add_all,
        AsyncChatCompletionStream._events,
        ChatCompletionStream._events,
    ],
    ids=lambda fn: fn.__qualname__,
)
def test_every_inline_copy_tests_what_the_one_test_tests(fn: Callable[..., Any]) -> None:
    (copy,) = _inline_tests(fn)
    assert ONE - copy == set(), f"{fn.__qualname__} lacks these tests of plain_choice"
    assert copy - ONE <= CONTEXT, f"{fn.__qualname__} tests more than plain_choice"


def test_the_pin_sees_a_missing_conjunct() -> None:
    # the test above must be able to fail: a copy without one conjunct is caught
    source = "if (delta.tool_calls is None and delta.refusal is None):\n    pass\n"
    (node,) = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.If)]
    assert ONE - _conjuncts(node.test)
