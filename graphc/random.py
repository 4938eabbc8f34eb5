"""Random tensors from a counter-based generator: ``seed``, ``uniform``, ``normal``, ...

Design. Every draw uses NumPy's Philox bit generator keyed by ``(seed, counter)``: the key
is the seed, and the call number sits in the high 128 bits of Philox's 256-bit counter,
so each call reads its own stream that no other call can overlap. The random array is
drawn when the graph is built and enters the graph as a *buffer leaf*. Structural keys
abstract buffers to their type, so a training step that draws a fresh dropout mask each
time has the same key as the step before and reuses its compiled Program, while
``seed(n)`` makes a whole run repeat bit for bit (draws happen in program order).

Consequences: two calls always draw different values (different counters); randomness
costs nothing in compiled kernels; and a define-then-run function replayed without
running its Python body would replay one fixed draw, so tracing must re-draw (call the
body or feed the random arrays as inputs).

>>> import graphc
>>> graphc.random.seed(7)
>>> a = graphc.random.uniform(size=(3,)).numpy()
>>> graphc.random.seed(7)
>>> b = graphc.random.uniform(size=(3,)).numpy()
>>> bool((a == b).all()), bool((graphc.random.uniform(size=(3,)).numpy() != a).any())
(True, True)
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from . import dtypes, lazy
from .device import canonical_device
from .ir.state import current
from .tensor import Tensor

__all__ = ["RNG", "bernoulli", "beta", "gamma", "get_seed", "normal", "numpy_generator",
           "permutation", "poisson", "seed", "seeded_stream", "shuffle", "uniform"]

_MAX_SEED = 2 ** 128

# Every draw's buffer node → (generator, recipe), while the node lives (graphc.jit hook).
drawn: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _check_seed(value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(value).__name__}")
    if not 0 <= int(value) < _MAX_SEED:
        raise ValueError(f"seed must be in [0, 2**128), got {value}")
    return int(value)


def _shape(op: str, size: Any) -> tuple[int, ...]:
    if size is None:
        return ()
    shape = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
    if not all(isinstance(d, (int, np.integer)) and d >= 0 for d in shape):
        raise ValueError(f"random.{op}: size must be non-negative ints, got {size!r}")
    return tuple(int(d) for d in shape)


class RNG:
    """A generator with its own seed and counter (module functions share a global one).

    >>> rng = RNG(seed=3)
    >>> rng.normal(size=(2, 2)).shape
    (2, 2)
    """

    def __init__(self, seed: int | None = None, device: Any = None) -> None:
        self.device = canonical_device(device) if device is not None else None
        self.seed(np.random.SeedSequence().entropy % _MAX_SEED if seed is None else seed)

    def seed(self, seed: int) -> None:
        """Restart from ``seed``: the following draws repeat those after any earlier
        ``seed(seed)`` call."""
        self._seed = _check_seed(seed)
        self._counter = 0

    def get_seed(self) -> int:
        """The seed of the current stream."""
        return self._seed

    def _generator(self) -> np.random.Generator:
        """A NumPy Generator on this call's own Philox stream (advances the counter)."""
        bits = np.random.Philox(key=self._seed, counter=self._counter << 128)
        self._counter += 1
        return np.random.Generator(bits)

    def _draw(self, kind: str, shape: tuple[int, ...], dtype: Any, params: tuple,
              device: Any = None) -> Tensor:
        """One call's draw as a buffer Tensor (every public sampler goes through here)."""
        data = _sample(self._generator(), kind, shape, dtype, params)
        out = Tensor(data, dtype=dtype, device=self.device if device is None else device)
        # graphc.jit hook: compiled functions find their draws here and redraw per call.
        drawn[out._node] = (self, (kind, shape, dtype, params))
        return out

    def redraw(self, recipe: tuple) -> np.ndarray:
        """Draw again what an earlier call drew (``recipe`` as recorded in ``drawn``),
        advancing the counter as that call did: compiled functions replay draws with it."""
        kind, shape, dtype, params = recipe
        return _sample(self._generator(), kind, shape, dtype, params)

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None,
                dtype: Any = "float32") -> Tensor:
        """Samples from ``[low, high)``."""
        if not low <= high:
            raise ValueError(f"random.uniform: low {low} is greater than high {high}")
        return self._draw("uniform", _shape("uniform", size), dtypes.canonical(dtype),
                          (low, high))

    def normal(self, mean: float = 0.0, std: float = 1.0, size: Any = None,
               dtype: Any = "float32") -> Tensor:
        """Samples from N(mean, std²)."""
        if std < 0:
            raise ValueError(f"random.normal: std must be >= 0, got {std}")
        return self._draw("normal", _shape("normal", size), dtypes.canonical(dtype),
                          (mean, std))

    def bernoulli(self, p: float = 0.5, size: Any = None, dtype: Any = "float32",
                  device: Any = None) -> Tensor:
        """1 with probability ``p``, else 0 (a dropout keep-mask: ``bernoulli(1 - rate)``),
        on ``device`` (default: the generator's, else the default device)."""
        probs = np.asarray(p, dtype=np.float64)
        if probs.size and not ((probs >= 0) & (probs <= 1)).all():
            raise ValueError(f"random.bernoulli: p must be in [0, 1], got {p}")
        shape = _shape("bernoulli", size) if size is not None else probs.shape
        return self._draw("bernoulli", shape, dtypes.canonical(dtype), (p,), device)

    def gamma(self, shape: Any, scale: Any = 1, size: Any = None) -> Tensor:
        """float32 samples from Gamma(shape, scale): mean ``shape * scale``."""
        return self._draw_with_params("gamma", (shape, scale), size)

    def beta(self, alpha: Any, beta: Any, size: Any = None) -> Tensor:
        """float32 samples from Beta(alpha, beta): mean ``alpha / (alpha + beta)``."""
        return self._draw_with_params("beta", (alpha, beta), size)

    def poisson(self, lam: Any, size: Any = None) -> Tensor:
        """float32 counts from Poisson(lam): mean and variance ``lam``."""
        return self._draw_with_params("poisson", (lam,), size)

    def _draw_with_params(self, kind: str, params: tuple, size: Any) -> Tensor:
        """A draw whose parameters may be arrays or Tensors: MegEngine's shape rule, the
        output shape is ``size + broadcast(params).shape``; parameters must be > 0."""
        values = [np.asarray(p.numpy() if isinstance(p, Tensor) else p, dtype=np.float64)
                  for p in params]
        for name, value in zip(_PARAM_NAMES[kind], values):
            if not (np.isfinite(value) & (value > 0)).all():
                raise ValueError(f"random.{kind}: {name} must be finite and > 0, got "
                                 f"{value if value.size < 8 else value.shape}")
        try:
            param_shape = np.broadcast_shapes(*(v.shape for v in values))
        except ValueError:
            raise ValueError(f"random.{kind}: parameter shapes "
                             f"{[v.shape for v in values]} do not broadcast") from None
        shape = _shape(kind, size) + param_shape
        frozen = tuple(np.broadcast_to(v, param_shape).copy() for v in values)
        for value in frozen:
            value.flags.writeable = False
        return self._draw(kind, shape, np.dtype(np.float32), frozen)

    def permutation(self, n: int | Tensor, dtype: Any = "int32") -> Tensor:
        """A shuffled ``arange(n)``, or a copy of a Tensor shuffled along axis 0."""
        if isinstance(n, Tensor):
            if not n.ndim:
                raise ValueError("random.permutation: cannot permute a 0-d tensor")
            order = self._draw("permutation", (n.shape[0],), np.dtype(np.int32), (),
                               device=n._node.type.device)
            return n[order]
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"random.permutation: n must be a non-negative int or a Tensor, "
                             f"got {n!r}")
        return self._draw("permutation", (int(n),), dtypes.canonical(dtype), ())

    def shuffle(self, inp: Tensor) -> None:
        """Shuffle ``inp`` in place along axis 0."""
        if not isinstance(inp, Tensor):
            raise TypeError(f"random.shuffle: expected a Tensor, got {type(inp).__name__}")
        lazy.rebind(inp, self.permutation(inp)._node)

    def spawn_seed(self) -> int:
        """A new seed drawn from this stream (for data loaders that shuffle)."""
        return int(self._generator().integers(0, 2 ** 63))


def _sample(gen: np.random.Generator, kind: str, shape: tuple[int, ...], dtype: np.dtype,
            params: tuple) -> np.ndarray:
    """The values of one draw of ``kind`` from the stream ``gen``."""
    if kind == "uniform":
        low, high = params
        return (low + (high - low) * gen.random(shape, dtype=np.float64)).astype(dtype)
    if kind == "normal":
        mean, std = params
        return (mean + std * gen.standard_normal(shape)).astype(dtype)
    if kind == "bernoulli":
        return (gen.random(shape) < np.asarray(params[0], dtype=np.float64)).astype(dtype)
    if kind == "permutation":
        return gen.permutation(shape[0]).astype(dtype)
    if kind == "gamma":
        shape_param, scale = params
        return gen.gamma(shape_param, scale, size=shape).astype(dtype)
    if kind == "beta":
        return gen.beta(params[0], params[1], size=shape).astype(dtype)
    if kind == "poisson":
        return gen.poisson(params[0], size=shape).astype(dtype)
    raise ValueError(f"random: unknown kind of draw {kind!r}")


_PARAM_NAMES = {"gamma": ("shape", "scale"), "beta": ("alpha", "beta"), "poisson": ("lam",)}


def _default() -> RNG:
    """The calling thread's default stream (graphc.ir.state): each thread has its own,
    seeded by :func:`seed` in that thread (unseeded, from fresh entropy)."""
    st = current()
    rng = st.rng
    if rng is None:
        rng = st.rng = RNG()
    return rng


def seed(seed: int) -> None:
    """Seed the calling thread's default generator: the same seed repeats a run bit for
    bit (each thread has its own stream; seed it in the thread that draws).

    >>> seed(0); a = uniform(size=2).numpy(); seed(0); bool((uniform(size=2).numpy() == a).all())
    True
    """
    _default().seed(seed)


def get_seed() -> int:
    """The calling thread's default generator's seed."""
    return _default().get_seed()


def uniform(low: float = 0.0, high: float = 1.0, size: Any = None) -> Tensor:
    """float32 samples from ``[low, high)`` (a 0-d tensor when ``size`` is None).

    >>> float(uniform(2.0, 3.0).item()) >= 2.0
    True
    """
    return _default().uniform(low, high, size)


def normal(mean: float = 0.0, std: float = 1.0, size: Any = None) -> Tensor:
    """float32 samples from N(mean, std²).

    >>> normal(size=(2, 3)).shape
    (2, 3)
    """
    return _default().normal(mean, std, size)


def bernoulli(p: float = 0.5, size: Any = None, dtype: Any = "float32",
              device: Any = None) -> Tensor:
    """1 with probability ``p`` else 0, as ``dtype`` (float32 by default), on ``device``.

    >>> bernoulli(1.0, size=3).numpy()
    array([1., 1., 1.], dtype=float32)
    """
    return _default().bernoulli(p, size, dtype, device)


def permutation(n: int | Tensor, dtype: Any = "int32") -> Tensor:
    """A random permutation of ``arange(n)``, or of a Tensor's rows.

    >>> sorted(permutation(4).numpy().tolist())
    [0, 1, 2, 3]
    """
    return _default().permutation(n, dtype)


def shuffle(inp: Tensor) -> None:
    """Shuffle a Tensor in place along axis 0 (MegEngine's ``random.shuffle``)."""
    _default().shuffle(inp)


def spawn_seed() -> int:
    """A seed drawn from the thread's default stream: reproducible under :func:`seed`."""
    return _default().spawn_seed()


def gamma(shape: Any, scale: Any = 1, size: Any = None) -> Tensor:
    """float32 samples from the gamma distribution (MegEngine's ``random.gamma``):
    ``shape`` and ``scale`` (numbers, arrays or Tensors, > 0) broadcast together, and the
    result has shape ``size + broadcast(shape, scale).shape``; mean ``shape * scale``.

    >>> gamma(2.0, 3.0, size=(2, 4)).shape
    (2, 4)
    >>> gamma(Tensor(np.array([1.0, 2.0])), size=3).shape
    (3, 2)
    """
    return _default().gamma(shape, scale, size)


def beta(alpha: Any, beta: Any, size: Any = None) -> Tensor:
    """float32 samples from the beta distribution (MegEngine's ``random.beta``), shape
    ``size + broadcast(alpha, beta).shape``; mean ``alpha / (alpha + beta)``.

    >>> x = beta(2.0, 5.0, size=100).numpy()
    >>> bool(((x > 0) & (x < 1)).all())
    True
    """
    return _default().beta(alpha, beta, size)


def poisson(lam: Any, size: Any = None) -> Tensor:
    """float32 counts from the Poisson distribution (MegEngine's ``random.poisson``),
    shape ``size + lam.shape``; mean and variance ``lam``.

    >>> poisson(3.0, size=(2, 2)).dtype
    dtype('float32')
    """
    return _default().poisson(lam, size)


def numpy_generator() -> np.random.Generator:
    """A NumPy Generator on the next stream of the thread's default generator: host-side
    randomness (data augmentation) that :func:`seed` repeats, as it repeats every draw.

    >>> seed(3); a = numpy_generator().random(); seed(3); a == numpy_generator().random()
    True
    """
    return _default()._generator()


@contextmanager
def seeded_stream(seed: int) -> Iterator[RNG]:
    """Inside the block, the thread's default generator is a fresh ``RNG(seed)``; the
    stream outside resumes unchanged after it (a DataLoader seeds each batch's transforms
    so, whether workers or the main process run them, they draw the same).

    >>> with seeded_stream(5): a = uniform().item()
    >>> with seeded_stream(5): b = uniform().item()
    >>> a == b
    True
    """
    state = current()
    saved = state.rng
    state.rng = RNG(seed)
    try:
        yield state.rng
    finally:
        state.rng = saved
