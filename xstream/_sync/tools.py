"""Running a tool for the blocking ``run_tools``: the tool runs on the client's loop
thread (a plain function in a worker thread, an ``async`` one as a task), started
through the loop's portal; this thread waits for its outcome. The same names as
``xstream/_resources/tools.py``, which the generated runner imports."""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Callable
from typing import Any

from .._protocol.tools import ToolInvocation
from .._resources.tools import run_tool
from .api import SyncAPI

__all__ = ["ToolTask", "outcome", "settle", "start_tool"]

ToolTask = concurrent.futures.Future[Any]


def start_tool(api: SyncAPI, fn: Callable[..., Any] | None, call: ToolInvocation) -> ToolTask:
    """Start a tool on the loop thread now; the model goes on meanwhile."""
    return api.loop.get().start_task_soon(run_tool, fn, call, name=f"xstream-tool-{call.name}")


def outcome(task: ToolTask) -> tuple[Any, BaseException | None]:
    """What the tool returned, or what it raised (the model is told either)."""
    try:
        return task.result(), None
    except Exception as exc:  # the model is told; the event carries it
        return None, exc


def settle(task: ToolTask) -> None:
    """Wait for a tool that was cancelled (the runner is closing), whatever it raises."""
    with contextlib.suppress(BaseException):
        task.result()
