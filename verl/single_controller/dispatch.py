"""Dispatch modes: how a worker group calls one method of its ranks, registered on the worker's method.

A worker marks each method the driver may call with ``@register(Dispatch.X)``; a worker group built
from that class exposes it as an attribute (``group.generate_sequences(batch)``), so a misspelt name
fails at once with an ``AttributeError`` instead of inside a Ray actor, and tools can follow the call.

* ``Dispatch.ALL``: every rank gets the same arguments; returns the list of the ranks' results
  (collectives such as ``init_model`` and checkpoints).
* ``Dispatch.DP_COMPUTE``: the one argument, a :class:`~verl.protocol.Batch`, is split into one chunk per
  rank; the ranks' Batch results are concatenated back (data-parallel compute).
"""

from __future__ import annotations

import difflib
import enum
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Dispatch", "DispatchedGroup", "register", "registered_methods"]

F = TypeVar("F", bound=Callable[..., Any])
_MODE_ATTR = "__dispatch_mode__"


class Dispatch(enum.Enum):
    ALL = "all"
    DP_COMPUTE = "dp_compute"


def register(mode: Dispatch) -> Callable[[F], F]:
    """Mark a worker method as callable from the driver through a worker group, with ``mode``."""
    if not isinstance(mode, Dispatch):
        raise TypeError(f"register() takes a Dispatch mode, got {mode!r}")

    def decorator(method: F) -> F:
        setattr(method, _MODE_ATTR, mode)
        return method

    return decorator


def registered_methods(worker_cls: type) -> dict[str, Dispatch]:
    """``{method name: mode}`` of the methods of ``worker_cls`` marked with :func:`register`."""
    return {name: getattr(member, _MODE_ATTR) for name, member in inspect.getmembers(worker_cls, callable)
            if isinstance(getattr(member, _MODE_ATTR, None), Dispatch)}


class DispatchedGroup:
    """Base of the worker groups: binds every registered method of the worker class as an attribute.

    Subclasses call :meth:`_bind_methods` in ``__init__`` and implement ``call_all(name, *args)`` and
    ``dispatch(name, batch)``, the two transports of the modes.
    """

    _methods: dict[str, Dispatch]
    _worker_name: str

    def _bind_methods(self, worker_cls: type) -> None:
        self._worker_name = getattr(worker_cls, "__name__", str(worker_cls))
        self._methods = registered_methods(worker_cls)
        for name, mode in self._methods.items():
            if hasattr(type(self), name):
                raise TypeError(f"{self._worker_name}.{name} is registered for dispatch but the worker group "
                                f"already has an attribute {name!r}; rename the worker method")
            transport = self.dispatch if mode is Dispatch.DP_COMPUTE else self.call_all  # type: ignore[attr-defined]
            setattr(self, name, functools.partial(transport, name))

    def __getattr__(self, name: str) -> Any:
        """Only reached for names that are neither group attributes nor registered worker methods."""
        if name.startswith("_"):
            raise AttributeError(name)
        methods = sorted(self.__dict__.get("_methods", {}))
        close = difflib.get_close_matches(name, methods, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise AttributeError(f"{self.__dict__.get('_worker_name', 'worker')} has no method {name!r} registered "
                             f"for dispatch{hint}; registered: {methods}")
