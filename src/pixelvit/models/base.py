"""What every model family shares: constructor arguments captured once as ``model.config``.

:func:`capture_config` wraps a model's ``__init__``: it binds the call with :func:`inspect.signature`,
fills in the defaults and stores the arguments, JSON-friendly (tuples as lists, ``img_size`` as
``[H, W]``), as ``self.config``, the dict that ``config.json`` stores and that rebuilds the model
(``type(model)(**model.config)``). No class copies its own signature by hand.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

Init = TypeVar("Init", bound=Callable[..., None])


def to_2tuple(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """7 -> (7, 7); (48, 64) stays."""
    if isinstance(size, int):
        return (size, size)
    if len(size) != 2:
        raise ValueError(f"an image size is an int or (height, width), got {size!r}")
    return (int(size[0]), int(size[1]))


def block_indices(depth: int, indices: list[int] | None) -> set[int]:
    """Blocks picked by ``indices`` (negative counts from the end) of ``depth``; None picks all."""
    if indices is None:
        return set(range(depth))
    for i in indices:
        if not -depth <= i < depth:
            raise IndexError(f"block index {i} out of range for a model of depth {depth}")
    return {i % depth for i in indices}


def json_friendly(value: Any) -> Any:
    """Tuples (nested too) -> lists, so that a config equals its JSON round trip."""
    if isinstance(value, (tuple, list)):
        return [json_friendly(v) for v in value]
    if isinstance(value, dict):
        return {k: json_friendly(v) for k, v in value.items()}
    return value


def call_arguments(
    init: Callable[..., None], args: tuple, kwargs: dict[str, Any], extends: Callable | None = None, exclude: Iterable[str] = ()
) -> dict[str, Any]:
    """The arguments of ``init(self, *args, **kwargs)`` by name, defaults included, ``**kwargs`` merged in.

    ``extends``: the callable that receives the ``**kwargs`` (e.g. the encoder class); its defaults
    fill the names it takes that were not passed, except ``exclude``.
    """
    sig = inspect.signature(init)
    try:
        bound = sig.bind(None, *args, **kwargs)  # None stands for self
    except TypeError as e:
        raise TypeError(f"{init.__qualname__}() {e}") from None
    bound.apply_defaults()
    out: dict[str, Any] = {}
    for name, value in list(bound.arguments.items())[1:]:
        kind = sig.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            raise TypeError(f"{init.__qualname__}: a model takes no *{name}; pass arguments by name")
        if kind is inspect.Parameter.VAR_KEYWORD:
            out.update(value)
        else:
            out[name] = value
    if extends is not None:
        skip = set(out) | set(exclude)
        for name, param in inspect.signature(extends).parameters.items():
            if name not in skip and param.default is not inspect.Parameter.empty:
                out[name] = param.default
    if "img_size" in out:
        out["img_size"] = to_2tuple(out["img_size"])
    return json_friendly(out)


def capture_config(init: Init | None = None, *, extends: Callable | None = None, exclude: Iterable[str] = ()) -> Any:
    """Decorator for a model's ``__init__``: after it runs, ``self.config`` holds every constructor argument.

    Use bare (``@capture_config``) or with ``extends``/``exclude`` for a model that forwards its
    ``**kwargs`` to another constructor (see :func:`call_arguments`). ``img_size`` is stored as ``[H, W]``.
    """
    exclude = tuple(exclude)

    def wrap(fn: Init) -> Init:
        @functools.wraps(fn)
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            config = call_arguments(fn, args, kwargs, extends, exclude)
            fn(self, *args, **kwargs)
            self.config = config

        return __init__  # type: ignore[return-value]

    return wrap(init) if init is not None else wrap
