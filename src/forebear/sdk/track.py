"""``@forebear.track``: each call of a function becomes a tracked execution."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, overload

from forebear.sdk._values import argument_params
from forebear.sdk.run import Run

__all__ = ["track"]

P = ParamSpec("P")
R = TypeVar("R")


@overload
def track(func: Callable[P, R], *, name: str | None = None, kind: str = "run",
          **options: Any) -> Callable[P, R]: ...


@overload
def track(func: None = None, *, name: str | None = None, kind: str = "run",
          **options: Any) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def track(
    func: Callable[P, R] | None = None, *, name: str | None = None, kind: str = "run",
    **options: Any,
) -> Any:
    """Decorator: each call becomes an execution whose params are the call's arguments.

    A method's ``self`` (or a classmethod's ``cls``) is not a param: it is the object
    the call is about, not a setting of it, and as text it could only be its class.

    The execution lasts as long as the work does: for a coroutine function until it is
    awaited to the end, for a generator (sync or async) until it is exhausted or closed.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(fn)
        first = next(iter(signature.parameters.values()), None)
        receiver = first.name if first is not None and first.name in ("self", "cls") \
            and first.kind is first.POSITIONAL_OR_KEYWORD else None

        def start(args: Any, kwargs: Any) -> Run:
            bound = signature.bind_partial(*args, **kwargs)
            bound.apply_defaults()
            arguments = bound.arguments
            if receiver is not None:
                arguments = {k: v for k, v in arguments.items() if k != receiver}
            return Run(name or fn.__name__, kind=kind,
                       params=argument_params(arguments), **options)

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
