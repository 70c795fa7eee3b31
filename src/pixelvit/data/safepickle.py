"""Read a data pickle (CIFAR's format) without letting it run code.

A pickle can name any importable callable and call it on load (``os.system`` included). The
unpickler here resolves only the few names that rebuild numpy arrays; any other global is refused
before it is imported, so nothing from the file runs.
"""

from __future__ import annotations

import io
import os
import pickle
from typing import Any

import numpy as np

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
    from numpy._core.numeric import _frombuffer
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct
    from numpy.core.numeric import _frombuffer


class RefusedPickleError(pickle.UnpicklingError):
    """The pickle names a global outside the allowed few (it may be trying to run code)."""


def _latin1_bytes(text: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """What a protocol-2 pickle written by Python 3 calls (as ``_codecs.encode``) to rebuild ``bytes``."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise RefusedPickleError(f"refused to load _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1", errors)


# (module, name) -> object. Old pickles say numpy.core, numpy >= 2 writes numpy._core; _frombuffer
# is what numpy writes for arrays under pickle protocol 5; _codecs.encode rebuilds bytes under protocol 2.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles plain containers, strings, numbers and numpy arrays; refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise RefusedPickleError(
                f"refused to load {module}.{name}: this pickle is not plain data (lists, dicts, numpy arrays); "
                "it may have been tampered with. Replace it with a fresh copy of the dataset."
            ) from None


def load_restricted(path: str | os.PathLike, encoding: str = "latin1") -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler` (``encoding`` as in ``pickle.load``)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding=encoding).load()
    except RefusedPickleError as e:
        raise RefusedPickleError(f"{path}: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError) as e:
        raise pickle.UnpicklingError(f"{path} is not a readable pickle ({type(e).__name__}: {e}); replace the file") from e
