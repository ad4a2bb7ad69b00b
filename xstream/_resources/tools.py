"""Running a tool for ``run_tools``, async: a plain function in a worker thread, an
``async`` one as a task, started the moment its call's arguments are complete.

``xstream/_sync/tools.py`` has the same names for the blocking runner (generated
from ``tool_runner.py``): there a tool runs on the client's loop thread, started
through its portal.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable
from typing import Any

from .._protocol.tools import ToolInvocation
from .api import AsyncAPI

__all__ = ["ToolTask", "outcome", "run_tool", "settle", "start_tool"]

ToolTask = asyncio.Task[Any]


async def run_tool(fn: Callable[..., Any] | None, call: ToolInvocation) -> Any:
    """Call ``fn`` with the call's arguments (a plain function in a worker thread).
    An unknown tool, or arguments that do not fit, raise here: the model is told."""
    if fn is None:
        raise LookupError(f"no tool named {call.name!r}")
    kwargs = call.kwargs()
    if inspect.iscoroutinefunction(fn):
        return await fn(**kwargs)
    return await asyncio.to_thread(fn, **kwargs)


def start_tool(api: AsyncAPI, fn: Callable[..., Any] | None, call: ToolInvocation) -> ToolTask:
    """Start a tool now; the model goes on meanwhile."""
    return asyncio.get_running_loop().create_task(
        run_tool(fn, call), name=f"xstream-tool-{call.name}"
    )


async def outcome(task: ToolTask) -> tuple[Any, BaseException | None]:
    """What the tool returned, or what it raised (the model is told either)."""
    try:
        return await task, None
    except Exception as exc:  # the model is told; the event carries it
        return None, exc


async def settle(task: ToolTask) -> None:
    """Wait for a tool that was cancelled (the runner is closing), whatever it raises."""
    with contextlib.suppress(BaseException):
        await task
