"""Pretrained weights for ``graphc.hub``: download once into the cache, load, never unpickle.

``@pretrained(url)`` decorates a model factory as MegEngine's ``megengine.hub.pretrained``
does: ``factory(**kwargs)`` builds a randomly initialised model, and
``factory(pretrained=True, **kwargs)`` also loads the weights at ``url`` into it.

The weights file must be one written by :func:`graphc.save` (an ``.npz`` archive of
arrays plus a JSON manifest). It is downloaded once into ``<cache>/hub/weights/`` (the
cache is ``GRAPHC_CACHE_DIR``, default ``~/.cache/graphc``), checked by loading it, and
only then written under its cache name, atomically. Pickled weights, MegEngine's
``.pkl``/``.mge`` files included, are refused: graphc never unpickles. Offline, the error
names the URL and the path to put the file at by hand.

>>> import os, tempfile, numpy as np
>>> import graphc, graphc.module as M
>>> @pretrained("https://example.invalid/weights/tiny_linear.npz")
... def tiny_linear(**kwargs):
...     return M.Linear(2, 1, **kwargs)
>>> tiny_linear().weight.shape                      # no weights asked for: no download
(1, 2)
>>> from unittest import mock
>>> url = "https://example.invalid/weights/tiny_linear.npz"
>>> with tempfile.TemporaryDirectory() as cache, mock.patch.dict(os.environ,
...                                                              GRAPHC_CACHE_DIR=cache):
...     path = cached_path(url)                     # as if downloaded before
...     path.parent.mkdir(parents=True)
...     graphc.save({"weight": np.array([[1., 2.]]), "bias": np.array([0.5])}, path)
...     model = tiny_linear(pretrained=True)
>>> model(graphc.tensor([[1., 1.]])).numpy()
array([[3.5]], dtype=float32)
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import posixpath
import urllib.parse
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..codegen.cache import cache_dir
from ..download import DownloadError, open_url, read_chunks
from ..fileio import atomic_write
from ..limits import LoadLimits
from ..serialization import load

__all__ = ["DownloadError", "PickleRefused", "cached_path", "load_serialized_obj_from_url",
           "pretrained", "weights_dir"]

# A download's connect and per-read timeout, in seconds.
TIMEOUT_S = 30.0
# File name endings of pickled weights: MegEngine's mge.save (.pkl, .mge) and PyTorch's.
PICKLE_SUFFIXES = (".pkl", ".pickle", ".mge", ".pt", ".pth")

F = TypeVar("F", bound=Callable[..., Any])


class PickleRefused(ValueError):
    """A weights file is a pickle, which graphc never loads."""


def weights_dir() -> Path:
    """Where downloaded weights are kept: ``<cache>/hub/weights`` (not created).

    >>> from unittest import mock
    >>> with mock.patch.dict("os.environ", GRAPHC_CACHE_DIR="/tmp/gc"):
    ...     str(weights_dir())
    '/tmp/gc/hub/weights'
    """
    return cache_dir() / "hub" / "weights"


def cached_path(url: str, model_dir: str | os.PathLike | None = None) -> Path:
    """The file ``url`` is downloaded to: its name prefixed by a digest of the whole URL
    (two URLs ending in the same name do not collide), in ``model_dir`` or
    :func:`weights_dir`.

    >>> url = "https://host/models/resnet18.npz"
    >>> path = cached_path(url, "/w")
    >>> path.name == hashlib.sha256(url.encode()).hexdigest()[:8] + "_resnet18.npz"
    True
    """
    name = posixpath.basename(urllib.parse.urlparse(url).path) or "weights"
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:8]
    folder = Path(model_dir) if model_dir is not None else weights_dir()
    return folder / f"{digest}_{name}"


def _pickle_message(url: str, path: Path, why: str) -> str:
    return (f"graphc.hub: {url} {why}; graphc never unpickles (a pickle can run any code "
            f"when loaded; docs/security.md). Convert it where MegEngine is installed, with "
            f"`graphc.save({{k: v for k, v in megengine.load(file).items()}}, out)`, and put "
            f"the result at {path}")


def _looks_pickled(data: bytes) -> str | None:
    """Why ``data`` is a pickle (or an archive holding one), or None."""
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return f"is a pickle (protocol {data[1]})"
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return None
        pickled = [n for n in names if n.endswith((".pkl", ".pickle"))]
        if pickled:
            return f"is an archive holding a pickle ({pickled[0]})"
    return None


def _check(data: bytes, url: str, path: Path, limits: LoadLimits) -> Any:
    """Load downloaded bytes as graphc weights, or raise saying what they are instead."""
    why = _looks_pickled(data)
    if why is not None:
        raise PickleRefused(_pickle_message(url, path, why))
    try:
        return load(io.BytesIO(data), limits=limits)
    except ValueError as err:
        detail = str(err).replace("<file object>", "it").removeprefix("graphc.load: ")
        raise ValueError(f"graphc.hub: the file downloaded from {url} is not usable weights "
                         f"({detail}); nothing was cached. Weights must be a file written "
                         f"by graphc.save") from None


def _download(url: str, path: Path, limits: LoadLimits) -> bytes:
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"graphc.hub: cannot download {url!r}: only http and https URLs are "
                         f"fetched (put the file at {path} by hand)")
    hand = (f"Offline, download it on another machine and put it at {path} (or pass "
            f"model_dir= to use another folder)")
    try:
        with open_url(url, TIMEOUT_S) as response:
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes:
                raise ValueError(f"graphc.hub: {url} declares {int(declared)} bytes, over "
                                 f"the load limit of {limits.max_bytes} (GRAPHC_LOAD_MAX_BYTES)")
            data = b"".join(read_chunks(response, limits.max_bytes + 1))
    except OSError as err:  # DownloadError from open_url, or the connection lost mid-read
        raise DownloadError(f"graphc.hub: cannot download {url}: {err}. {hand}") from None
    if len(data) > limits.max_bytes:
        raise ValueError(f"graphc.hub: {url} sends more than the load limit of "
                         f"{limits.max_bytes} bytes (GRAPHC_LOAD_MAX_BYTES)")
    return data


def load_serialized_obj_from_url(url: str, model_dir: str | os.PathLike | None = None, *,
                                 limits: LoadLimits | None = None) -> Any:
    """What the graphc weights file at ``url`` holds (a state dict), downloading it into
    ``model_dir`` (default ``<cache>/hub/weights``) the first time.

    A file already at :func:`cached_path` is loaded without a download. A pickled file
    raises :class:`PickleRefused` (a ValueError), before any download when the URL ends
    in ``.pkl``, ``.mge``, ``.pt`` or ``.pth``; no connection raises
    :class:`DownloadError` (an OSError) naming the URL and where to put the file.

    >>> try:
    ...     load_serialized_obj_from_url("https://host/resnet18.pkl", "/nowhere")
    ... except ValueError as err:
    ...     print(str(err).split(";")[0])
    graphc.hub: https://host/resnet18.pkl is a pickled weights file (.pkl)
    """
    limits = LoadLimits() if limits is None else limits
    path = cached_path(url, model_dir)
    if path.exists():
        try:
            return load(path, limits=limits)
        except ValueError as err:
            why = _looks_pickled(path.read_bytes())
            if why is not None:
                raise PickleRefused(_pickle_message(url, path, f"is cached at {path}, "
                                                    f"which {why}")) from None
            raise ValueError(f"{err} (the cached weights of {url}: delete the file to "
                             f"download it again)") from None
    suffix = posixpath.splitext(urllib.parse.urlparse(url).path)[1].lower()
    if suffix in PICKLE_SUFFIXES:
        raise PickleRefused(_pickle_message(url, path, f"is a pickled weights file ({suffix})"))
    data = _download(url, path, limits)
    value = _check(data, url, path, limits)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data)
    return value


class pretrained:  # noqa: N801  (MegEngine's name: used as @hub.pretrained(url))
    """Decorate a model factory with the URL of its weights (``megengine.hub.pretrained``).

    The decorated factory takes ``pretrained=False`` and the factory's keyword arguments:
    without ``pretrained`` it only builds the model; with it, it loads the weights
    (:func:`load_serialized_obj_from_url`) with ``model.load_state_dict``.

    >>> import graphc.module as M
    >>> @pretrained("https://example.invalid/mlp.npz")
    ... def mlp(hidden=4):
    ...     "A two-layer perceptron."
    ...     return M.Sequential(M.Linear(3, hidden), M.ReLU(), M.Linear(hidden, 1))
    >>> mlp.__doc__, mlp.url, len(list(mlp(hidden=8).parameters()))
    ('A two-layer perceptron.', 'https://example.invalid/mlp.npz', 4)
    """

    def __init__(self, url: str) -> None:
        if not isinstance(url, str):
            raise TypeError(f"hub.pretrained: the URL must be a str, got "
                            f"{type(url).__name__}")
        self.url = url

    def __call__(self, func: F) -> F:
        url = self.url

        @functools.wraps(func)
        def pretrained_model_func(pretrained: bool = False, **kwargs: Any) -> Any:
            # The weights first: a refused or missing file fails before a large model
            # is built and initialised for nothing.
            weights = load_serialized_obj_from_url(url) if pretrained else None
            model = func(**kwargs)
            if pretrained:
                if not callable(getattr(model, "load_state_dict", None)):
                    raise TypeError(f"hub.pretrained: {func.__name__} returned a "
                                    f"{type(model).__name__}, which has no load_state_dict "
                                    f"to load the weights of {url} into")
                model.load_state_dict(weights)
            return model

        pretrained_model_func.url = url  # type: ignore[attr-defined]
        return pretrained_model_func  # type: ignore[return-value]
