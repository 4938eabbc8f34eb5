"""Basic layers: Linear, activations, Flatten, Identity and Sequential."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Parameter, Tensor
from . import init
from .module import Module


class Linear(Module):
    """``y = x @ weight.T + bias`` with weight of shape (out_features, in_features),
    initialised from N(0, 1/in_features) and a zero bias, as MegEngine does.

    >>> import graphc
    >>> Linear(4, 3)(graphc.tensor(np.ones((2, 4)))).shape
    (2, 3)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(np.zeros((out_features, in_features), np.float32))
        self.bias = Parameter(np.zeros(out_features, np.float32)) if bias else None
        init.normal_(self.weight, 0.0, math.sqrt(1.0 / in_features))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def _module_info_string(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class GELU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def _module_info_string(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Softmax(Module):
    def __init__(self, axis: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.axis)

    def _module_info_string(self) -> str:
        return f"axis={self.axis}"


class Flatten(Module):
    def __init__(self, start_axis: int = 1, end_axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_axis, self.end_axis = start_axis, end_axis

    def forward(self, x: Tensor) -> Tensor:
        return F.flatten(x, self.start_axis, self.end_axis)


class Identity(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x


class Sequential(Module):
    """Modules applied in order, given as arguments (named ``"0"``, ``"1"``, ...) or as
    one ``OrderedDict`` (named by its keys), as in MegEngine. Supports indexing,
    slicing (which keeps the names), assignment and deletion by index, ``len`` and
    iteration.

    >>> from collections import OrderedDict
    >>> net = Sequential(Linear(4, 8), ReLU(), Linear(8, 2))
    >>> len(net), type(net[1]).__name__, len(net[:2])
    (3, 'ReLU', 2)
    >>> named = Sequential(OrderedDict([("fc", Linear(4, 2)), ("act", ReLU())]))
    >>> named.layer_keys, [k for k, _ in named.named_parameters()]
    (['fc', 'act'], ['fc.bias', 'fc.weight'])
    """

    def __init__(self, *modules: Module, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            pairs = [(str(key), module) for key, module in modules[0].items()]
        else:
            pairs = [(str(i), module) for i, module in enumerate(modules)]
        for key, module in pairs:
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: layer {key!r} is not a Module (got "
                                f"{type(module).__name__})")
        self.layer_keys = [key for key, _ in pairs]
        for key, module in pairs:
            setattr(self, key, module)

    @property
    def layer_values(self) -> list[Module]:
        """The layers, in order."""
        return [getattr(self, key) for key in self.layer_keys]

    def forward(self, x: Any) -> Any:
        for module in self.layer_values:
            x = module(x)
        return x

    def __getitem__(self, index: int | slice) -> Module:
        if isinstance(index, slice):
            return type(self)(OrderedDict(zip(self.layer_keys[index],
                                              self.layer_values[index])))
        return getattr(self, self.layer_keys[index])

    def __setitem__(self, index: int, module: Module) -> None:
        setattr(self, self.layer_keys[index], module)

    def __delitem__(self, index: int | slice) -> None:
        keys = self.layer_keys[index]
        for key in keys if isinstance(index, slice) else [keys]:
            delattr(self, key)
        del self.layer_keys[index]

    def __len__(self) -> int:
        return len(self.layer_keys)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layer_values)


class Dropout(Module):
    """Zeroes elements with probability ``drop_prob`` while training."""

    def __init__(self, drop_prob: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.drop_prob = drop_prob

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.drop_prob, self.training)

    def _module_info_string(self) -> str:
        return f"drop_prob={self.drop_prob}"


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of size ``embedding_dim``."""

    def __init__(self, num_embeddings: int, embedding_dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(np.zeros((num_embeddings, embedding_dim), np.float32))
        init.normal_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        return F.embedding(x, self.weight)

    def _module_info_string(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"
