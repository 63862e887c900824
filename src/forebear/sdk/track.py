"""``@forebear.track``: each call of a function becomes a tracked execution."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from forebear.sdk._values import argument_params
from forebear.sdk.run import Run

__all__ = ["track"]

P = ParamSpec("P")
R = TypeVar("R")


def track(
    func: Callable[P, R] | None = None, *, name: str | None = None, kind: str = "run",
    **options: Any,
) -> Any:
    """Decorator: each call becomes an execution whose params are the call's arguments.

    The execution lasts as long as the work does: for a coroutine function until it is
    awaited to the end, for a generator (sync or async) until it is exhausted or closed.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(fn)

        def start(args: Any, kwargs: Any) -> Run:
            bound = signature.bind_partial(*args, **kwargs)
            bound.apply_defaults()
            return Run(name or fn.__name__, kind=kind,
                       params=argument_params(bound.arguments), **options)

        wrapper: Any
        if inspect.iscoroutinefunction(fn):
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                with start(args, kwargs):
                    return await fn(*args, **kwargs)
        elif inspect.isasyncgenfunction(fn):
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                with start(args, kwargs):
                    async for item in fn(*args, **kwargs):
                        yield item
        elif inspect.isgeneratorfunction(fn):
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with start(args, kwargs):
                    return (yield from fn(*args, **kwargs))
        else:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with start(args, kwargs):
                    return fn(*args, **kwargs)

        return functools.wraps(fn)(wrapper)

    if func is not None:
        return decorate(func)
    return decorate
