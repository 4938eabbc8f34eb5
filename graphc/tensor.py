"""Tensor and Parameter: lazy handles on graph nodes, with MegEngine's interface.

Operations build nodes; nothing is computed until a value is needed (``numpy()``,
``item()``, ``repr``, ``bool/int/float`` or :func:`graphc.realize`).

>>> import graphc
>>> a = graphc.tensor([1., 2., 3.])
>>> b = a * 2 + 1          # builds two nodes, computes nothing
>>> b
Tensor([3. 5. 7.], device=xpux:0)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from . import dtypes, lazy
from .device import Device, canonical_device, check_available
from .ir import Node, buffer_node, user_location
from .runtime.donation import expose


def _on_cpu(device: str) -> bool:
    return device[:3] == "cpu"


def place(array: np.ndarray, device: str) -> Any:
    """The value a new leaf on ``device`` holds for host ``array`` (uploaded to a GPU)."""
    if _on_cpu(device):
        return array
    from .runtime.transfer import place as place_on

    return place_on(array, device)


def to_host(value: Any) -> np.ndarray:
    """A leaf's or realized node's value as a host array (GPU values copied)."""
    if type(value) is np.ndarray:
        return value
    from .runtime.transfer import to_host as copy_to_host

    return copy_to_host(value)


def _array_from(data: Any, dtype: Any) -> np.ndarray:
    """A private, read-only, C-contiguous copy of ``data`` with MegEngine's dtype rules,
    or ``data`` itself when it is such an array already and nothing can write to its
    memory (see :func:`_never_written`)."""
    if isinstance(data, (bool, np.bool_, int, float, np.number)) and dtype is None:
        dtype = dtypes.scalar_dtype(data) if not isinstance(data, np.generic) else \
            dtypes.default_for_data(data.dtype)
    arr = np.asarray(data)
    if dtype is None:
        if arr.dtype == object:
            raise TypeError(f"cannot make a Tensor from {type(data).__name__} data")
        dtype = dtypes.default_for_data(arr.dtype)
    dtype = dtypes.canonical(dtype)
    if (type(data) is np.ndarray and data.dtype == dtype and data.flags.c_contiguous
            and data.flags.aligned and _never_written(data)):
        return data  # a read-only batch (graphc.data yields them): no copy per step
    arr = np.array(arr, dtype=dtype, order="C", copy=True)
    arr.flags.writeable = False
    return arr


def _never_written(arr: np.ndarray) -> bool:
    """Whether no array can write to ``arr``'s memory: it and every array it views are
    read-only, down to an array owning its memory (or immutable bytes). A Tensor may then
    share it instead of copying it, as ``torch.as_tensor`` shares a NumPy array. (Its
    owner could still flag it writeable again: changing it then is undefined.)"""
    while True:
        if arr.flags.writeable:
            return False
        base = arr.base
        if base is None or type(base) is bytes:
            return True
        if not isinstance(base, np.ndarray):
            return False  # a buffer we cannot vouch for (a writable mmap, a memoryview)
        arr = base


class Tensor:
    """A lazy n-dimensional array on a device.

    As in MegEngine, code may store its own attributes on a Tensor or Parameter.

    >>> Tensor([[1, 2], [3, 4]]).sum(axis=1).numpy()
    array([3, 7], dtype=int32)
    >>> p = Parameter([1.0]); p.frozen = True; p.frozen
    True
    """

    # "__dict__" lets code store attributes (MegEngine's Tensor allows it); the dict is
    # made only when one is set: building graphs costs no more within noise
    # (docs/performance.md, attributes on Tensors).
    __slots__ = ("_node", "name", "_grad", "__weakref__", "__dict__")
    __array_priority__ = 1001

    def __init__(self, data: Any = None, dtype: Any = None, device: Any = None,
                 name: str | None = None) -> None:
        self.name = name or ""
        self._grad = None
        if isinstance(data, Tensor):
            if dtype is not None and dtypes.canonical(dtype) != data.dtype:
                raise RuntimeError(f"Tensor(t, dtype={dtypes.canonical(dtype).name}) of a "
                                   f"{data.dtype.name} tensor: use t.astype(...)")
            if device is not None and canonical_device(device) != data._node.type.device:
                raise RuntimeError(f"Tensor(t, device={device}) of a tensor on "
                                   f"{data.device}: use t.to(...)")
            node = self._node = data._node
            if not node.inputs:  # a second holder of a leaf's array (runtime/donation.py)
                expose(node.data)
            lazy.track(self)
            return
        dev = canonical_device(device)
        check_available(dev)
        array = _array_from(data, dtype)
        self._node = buffer_node(array, dev) if _on_cpu(dev) else \
            buffer_node(place(array, dev), dev)

    @classmethod
    def _wrap(cls, node: Node) -> Tensor:
        """A Tensor holding ``node`` (the result of an operation)."""
        t = object.__new__(Tensor)
        t._node = node
        if not node.inputs:  # maybe a second holder of a leaf's array (runtime/donation.py)
            expose(node.data)
        t.name = ""
        t._grad = None
        lazy.track(t)
        return t

    # ---- attributes -------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        return self._node.type.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return self._node.type.shape

    @property
    def ndim(self) -> int:
        return len(self._node.type.shape)

    @property
    def size(self) -> int:
        return self._node.type.size

    @property
    def device(self) -> Device:
        return Device(self._node.type.device)

    @property
    def grad(self) -> Tensor | None:
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        lazy.set_grad(self, value)

    @property
    def T(self) -> Tensor:
        return self.transpose()

    # ---- realization ------------------------------------------------------------
    def _value(self) -> np.ndarray:
        """The value as a host array (a GPU value is copied: the one place reads do)."""
        lazy.realize([self._node])
        return to_host(self._node.buffer)

    def numpy(self) -> np.ndarray:
        """A NumPy copy of the value (realizes the pending graph)."""
        return np.array(self._value())

    def item(self, *index: int) -> bool | int | float:
        value = self._value()
        if not index and value.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return value.item(*index)

    def tolist(self) -> Any:
        return self._value().tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        value = self._value()
        if dtype is not None or copy:
            return np.array(value, dtype=dtype)
        expose(value)  # the value itself (read-only), seen by the caller from now on
        return value

    def __bool__(self) -> bool:
        if self.size != 1:  # known from the type: nothing is computed to say so
            raise ValueError(f"the truth value of a Tensor with {self.size} elements (shape "
                             f"{self.shape}) is ambiguous: reduce it first, e.g. "
                             f"bool(t.max()) for any, bool(t.min()) for all "
                             f"({user_location()})")
        return bool(self.item())

    def __int__(self) -> int:
        self._one_element("int")
        return int(self.item())

    def __float__(self) -> float:
        self._one_element("float")
        return float(self.item())

    def _one_element(self, what: str) -> None:
        if self.size != 1:
            raise ValueError(f"only a Tensor with one element converts to a Python {what}; "
                             f"this one has shape {self.shape} ({user_location()})")

    def __index__(self) -> int:
        if not np.issubdtype(self.dtype, np.integer):
            raise TypeError(f"only integer tensors can be used as an index, got {self.dtype}")
        return int(self.item())

    def __repr__(self) -> str:
        body = np.array_str(self._value(), precision=4)
        dtype = "" if self.dtype == dtypes.float32 else f", dtype={self.dtype.name}"
        return f"{type(self).__name__}({body}{dtype}, device={self.device})"

    __str__ = __repr__

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __hash__(self) -> int:
        return id(self)

    def __contains__(self, item: Any) -> bool:
        raise NotImplementedError("'in' is not supported for Tensors; use F.equal(...).sum()")

    # ---- conversions and shape --------------------------------------------------
    def astype(self, dtype: Any) -> Tensor:
        """A new tensor with elements cast to ``dtype``."""
        dtype = dtypes.canonical(dtype)
        if dtype == self.dtype:
            return Tensor._wrap(self._node)
        from .ops import apply

        return Tensor._wrap(apply("astype", [self._node], dtype=dtype.name))

    def reshape(self, *shape: Any) -> Tensor:
        return F.reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, *axes: Any) -> Tensor:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return F.transpose(self, axes or tuple(reversed(range(self.ndim))))

    def flatten(self, start_axis: int = 0, end_axis: int = -1) -> Tensor:
        return F.flatten(self, start_axis, end_axis)

    def to(self, device: Any) -> Tensor:
        """A copy on ``device`` (``"cpu0"``, ``"gpu0"``, ...)."""
        return F.copy(self, device)

    def detach(self) -> Tensor:
        """The same value, cut from automatic differentiation."""
        if self._node.buffer is not None:  # (_wrap exposes the array it shares)
            return Tensor._wrap(buffer_node(self._node.buffer, self._node.type.device))
        from .ops import apply

        return Tensor._wrap(apply("detach", [self._node]))

    # ---- reductions -------------------------------------------------------------
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return F.sum(self, axis, keepdims)

    def prod(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return F.prod(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return F.mean(self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return F.max(self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return F.min(self, axis, keepdims)

    # ---- indexing ---------------------------------------------------------------
    def __getitem__(self, key: Any) -> Tensor:
        from .indexing import getitem

        return Tensor._wrap(getitem(self._node, key))

    def __setitem__(self, key: Any, value: Any) -> None:
        from .indexing import setitem

        v = as_tensor(value, dtype=self.dtype, device=self._node.type.device)
        lazy.rebind(self, setitem(self._node, key, v._node))

    # ---- operators --------------------------------------------------------------
    def __add__(self, o): return F.add(self, o)
    def __radd__(self, o): return F.add(o, self)
    def __sub__(self, o): return F.sub(self, o)
    def __rsub__(self, o): return F.sub(o, self)
    def __mul__(self, o): return F.mul(self, o)
    def __rmul__(self, o): return F.mul(o, self)
    def __truediv__(self, o): return F.div(self, o)
    def __rtruediv__(self, o): return F.div(o, self)
    def __floordiv__(self, o): return F.floor_div(self, o)
    def __rfloordiv__(self, o): return F.floor_div(o, self)
    def __mod__(self, o): return F.mod(self, o)
    def __rmod__(self, o): return F.mod(o, self)
    def __pow__(self, o): return F.pow(self, o)
    def __rpow__(self, o): return F.pow(o, self)
    def __matmul__(self, o): return F.matmul(self, o)
    def __rmatmul__(self, o): return F.matmul(o, self)
    def __neg__(self): return F.neg(self)
    def __pos__(self): return self
    def __abs__(self): return F.abs(self)
    def __round__(self): return F.round(self)
    def __lt__(self, o): return F.less(self, o)
    def __le__(self, o): return F.less_equal(self, o)
    def __gt__(self, o): return F.greater(self, o)
    def __ge__(self, o): return F.greater_equal(self, o)
    def __eq__(self, o): return F.equal(self, o)  # type: ignore[override]
    def __ne__(self, o): return F.not_equal(self, o)  # type: ignore[override]
    def __and__(self, o): return F.logical_and(self, o)
    def __rand__(self, o): return F.logical_and(o, self)
    def __or__(self, o): return F.logical_or(self, o)
    def __ror__(self, o): return F.logical_or(o, self)
    def __xor__(self, o): return F.logical_xor(self, o)
    def __rxor__(self, o): return F.logical_xor(o, self)
    def __invert__(self): return F.logical_not(self)

    def _inplace(self, result: Tensor) -> Tensor:
        lazy.rebind(self, result._node)
        return self

    def __iadd__(self, o): return self._inplace(F.add(self, o))
    def __isub__(self, o): return self._inplace(F.sub(self, o))
    def __imul__(self, o): return self._inplace(F.mul(self, o))
    def __itruediv__(self, o): return self._inplace(F.div(self, o))
    def __ifloordiv__(self, o): return self._inplace(F.floor_div(self, o))
    def __imod__(self, o): return self._inplace(F.mod(self, o))
    def __ipow__(self, o): return self._inplace(F.pow(self, o))
    def __imatmul__(self, o): return self._inplace(F.matmul(self, o))

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any):
        fn = getattr(F, _UFUNCS.get(ufunc.__name__, ""), None)
        if method == "__call__" and fn is not None and not kwargs:
            return fn(*inputs)
        arrays = [np.asarray(i) if isinstance(i, Tensor) else i for i in inputs]
        out = getattr(ufunc, method)(*arrays, **kwargs)
        return Tensor(out, device=self.device) if isinstance(out, np.ndarray) else out


_UFUNCS = {"add": "add", "subtract": "sub", "multiply": "mul", "true_divide": "div",
           "divide": "div", "floor_divide": "floor_div", "remainder": "mod", "power": "pow",
           "negative": "neg", "absolute": "abs", "exp": "exp", "log": "log", "sqrt": "sqrt",
           "sin": "sin", "cos": "cos", "tanh": "tanh", "maximum": "maximum",
           "minimum": "minimum", "equal": "equal", "not_equal": "not_equal", "less": "less",
           "less_equal": "less_equal", "greater": "greater", "greater_equal": "greater_equal",
           "matmul": "matmul", "square": "square", "log1p": "log1p"}


class Parameter(Tensor):
    """A Tensor that modules and optimizers treat as a trainable weight.

    >>> Parameter([1., 2.])
    Parameter([1. 2.], device=xpux:0)
    """

    __slots__ = ()


def tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Make a Tensor from an array, nested list, Python scalar or Tensor.

    The Tensor holds a copy of ``data``, except for a read-only C-contiguous NumPy array
    of the Tensor's dtype whose memory no array can write (a :mod:`graphc.data` batch):
    that one is shared, not copied.

    >>> tensor([1, 2]).dtype, tensor(1.5).dtype
    (dtype('int32'), dtype('float32'))
    """
    return Tensor(data, dtype=dtype, device=device)


def as_tensor(value: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``value`` as a Tensor: Tensors pass through (cast when ``dtype`` differs)."""
    if isinstance(value, Tensor):
        return value if dtype is None else value.astype(dtype)
    return Tensor(value, dtype=dtype, device=device)


def realize(*tensors: Tensor) -> None:
    """Compute the given tensors now, in one pass over their pending graphs.

    >>> x = tensor([1., 2.]); y = x * 3
    >>> realize(y); y._node.realized
    True
    """
    lazy.realize([t._node for t in tensors])


from . import functional as F  # noqa: E402  (functional builds on Tensor)
