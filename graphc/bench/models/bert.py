"""A small BERT encoder (Devlin et al. 2018), in graphc and as a PyTorch twin with the
same module names.

Token, position and segment embeddings are summed and layer-normalised; each encoder
layer is multi-head self-attention and a GELU feed-forward network, each added to its
input and layer-normalised (post-norm, as in BERT). Two heads: ``"classifier"`` (BERT's
pooler — a tanh layer on the first token — then a linear layer to ``num_classes``) and
``"mlm"`` (the masked-LM head: linear, GELU, LayerNorm, then logits over the vocabulary
with the token embedding matrix, tied, and a bias of its own). There is no dropout and
no attention mask (every sequence is full length), so a step is deterministic and the
twins agree to rounding.

>>> config = BertConfig()  # 2 layers, hidden 64, 4 heads, intermediate 256, seq 16
>>> model = bert_small(config)
>>> sum(p.size for p in model.parameters())
169538

``BertConfig.base()`` gives BERT-base's sizes: 109,483,778 parameters with the classifier
head, as Hugging Face's ``BertForSequenceClassification`` (tests/bench/test_models.py).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

import graphc
import graphc.functional as F
import graphc.module as M

__all__ = ["MASK", "Bert", "BertConfig", "EncoderLayer", "SelfAttention", "bert_small",
           "token_batch", "torch_bert_small"]

MASK = 1  # the token id that stands for a masked token in "mlm" batches


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """Sizes of a BERT encoder and its head (BERT's own names, shortened)."""

    vocab_size: int = 1000
    hidden: int = 64
    layers: int = 2
    heads: int = 4
    intermediate: int = 256
    max_positions: int = 16  # the longest sequence
    segments: int = 2
    num_classes: int = 2  # for the "classifier" head
    head: str = "classifier"  # or "mlm"
    eps: float = 1e-12  # LayerNorm's epsilon, as in BERT

    def __post_init__(self) -> None:
        if self.hidden % self.heads:
            raise ValueError(f"BertConfig: hidden {self.hidden} is not a multiple of "
                             f"heads {self.heads}")
        if self.head not in ("classifier", "mlm"):
            raise ValueError(f"BertConfig: head must be 'classifier' or 'mlm', got "
                             f"{self.head!r}")

    @classmethod
    def base(cls, **changes) -> BertConfig:
        """BERT-base's sizes (bert-base-uncased: 12 layers, hidden 768, 12 heads)."""
        return cls(**{**dict(vocab_size=30522, hidden=768, layers=12, heads=12,
                             intermediate=3072, max_positions=512), **changes})


class SelfAttention(M.Module):
    """Multi-head scaled dot-product self-attention and its output projection."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = (M.Linear(hidden, hidden) for _ in range(3))
        self.output = M.Linear(hidden, hidden)

    def forward(self, x):
        n, s, h = x.shape
        d = h // self.heads

        def split(t):  # (n, s, h) → (n, heads, s, d)
            return t.reshape(n, s, self.heads, d).transpose(0, 2, 1, 3)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = F.matmul(q, k, transpose_b=True) * (1.0 / math.sqrt(d))
        context = F.matmul(F.softmax(scores, axis=-1), v)
        return self.output(context.transpose(0, 2, 1, 3).reshape(n, s, h))


class EncoderLayer(M.Module):
    """Self-attention, then a GELU feed-forward network; each residual, then LayerNorm."""

    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.attention = SelfAttention(c.hidden, c.heads)
        self.norm1 = M.LayerNorm(c.hidden, eps=c.eps)
        self.ffn_in = M.Linear(c.hidden, c.intermediate)
        self.ffn_out = M.Linear(c.intermediate, c.hidden)
        self.norm2 = M.LayerNorm(c.hidden, eps=c.eps)

    def forward(self, x):
        x = self.norm1(x + self.attention(x))
        return self.norm2(x + self.ffn_out(F.gelu(self.ffn_in(x))))


class Bert(M.Module):
    """BERT: embeddings, ``config.layers`` encoder layers and the configured head.

    ``forward(tokens, segments=None)`` takes int (N, S) token and segment ids (segment 0
    when None) and returns (N, num_classes) logits (classifier) or (N, S, vocab_size)
    logits (mlm).
    """

    def __init__(self, config: BertConfig = BertConfig(), init: bool = True) -> None:
        super().__init__()
        c = self.config = config
        self.word = M.Embedding(c.vocab_size, c.hidden)
        self.position = M.Embedding(c.max_positions, c.hidden)
        self.segment = M.Embedding(c.segments, c.hidden)
        self.embed_norm = M.LayerNorm(c.hidden, eps=c.eps)
        self.encoder = M.Sequential(*(EncoderLayer(c) for _ in range(c.layers)))
        if c.head == "classifier":
            self.pooler = M.Linear(c.hidden, c.hidden)
            self.classifier = M.Linear(c.hidden, c.num_classes)
        else:
            self.transform = M.Linear(c.hidden, c.hidden)
            self.transform_norm = M.LayerNorm(c.hidden, eps=c.eps)
            self.decoder_bias = graphc.Parameter(np.zeros(c.vocab_size, np.float32))
        if init:
            self.init_weights()

    def init_weights(self) -> None:
        """BERT's initialisation: weights from N(0, 0.02²), biases zero, LayerNorm as
        constructed (weight one, bias zero)."""
        for module in self.modules():
            if isinstance(module, (M.Linear, M.Embedding)):
                M.init.normal_(module.weight, 0.0, 0.02)
            if isinstance(module, M.Linear) and module.bias is not None:
                M.init.zeros_(module.bias)

    def forward(self, tokens, segments=None):
        s = tokens.shape[1]
        if segments is None:
            segments = F.zeros(tokens.shape, dtype="int32")
        x = self.word(tokens) + self.position.weight[:s] + self.segment(segments)
        x = self.encoder(self.embed_norm(x))
        if self.config.head == "classifier":
            return self.classifier(F.tanh(self.pooler(x[:, 0])))
        x = self.transform_norm(F.gelu(self.transform(x)))
        return F.matmul(x, self.word.weight, transpose_b=True) + self.decoder_bias


def bert_small(config: BertConfig = BertConfig(), init: bool = True) -> M.Module:
    """A BERT encoder in graphc, small by default (``init=False`` skips the random
    initialisation: for counting the parameters of a large configuration)."""
    return Bert(config, init)


def token_batch(batch: int, seed: int = 0, config: BertConfig = BertConfig(),
                seq: int | None = None):
    """Random int32 token ids (N, seq) and segment ids (first half 0, second half 1),
    with targets: class labels (N,) for the classifier head; for "mlm", the original
    tokens (N, seq), of which 15% are replaced by :data:`MASK` in the inputs (the loss
    covers every position).

    >>> (tokens, segments), target = token_batch(2, seq=4)
    >>> tokens.shape, segments.tolist(), target.shape
    ((2, 4), [[0, 0, 1, 1], [0, 0, 1, 1]], (2,))
    """
    seq = config.max_positions if seq is None else seq
    rng = np.random.default_rng(seed)
    tokens = rng.integers(2, config.vocab_size, (batch, seq)).astype(np.int32)
    segments = np.repeat((np.arange(seq) >= seq // 2)[None].astype(np.int32), batch, 0)
    if config.head == "classifier":
        return (tokens, segments), rng.integers(0, config.num_classes, batch).astype(np.int32)
    masked = np.where(rng.random((batch, seq)) < 0.15, MASK, tokens).astype(np.int32)
    return (masked, segments), tokens


def torch_bert_small(config: BertConfig = BertConfig()):
    """:func:`bert_small` in PyTorch, layer for layer and name for name."""
    import torch
    from torch import nn

    c = config

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.query, self.key, self.value = (nn.Linear(c.hidden, c.hidden) for _ in range(3))
            self.output = nn.Linear(c.hidden, c.hidden)

        def forward(self, x):
            n, s, h = x.shape
            d = h // c.heads

            def split(t):
                return t.reshape(n, s, c.heads, d).transpose(1, 2)

            q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
            scores = q @ k.transpose(-1, -2) * (1.0 / math.sqrt(d))
            context = scores.softmax(-1) @ v
            return self.output(context.transpose(1, 2).reshape(n, s, h))

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = Attention()
            self.norm1 = nn.LayerNorm(c.hidden, eps=c.eps)
            self.ffn_in = nn.Linear(c.hidden, c.intermediate)
            self.ffn_out = nn.Linear(c.intermediate, c.hidden)
            self.norm2 = nn.LayerNorm(c.hidden, eps=c.eps)

        def forward(self, x):
            x = self.norm1(x + self.attention(x))
            return self.norm2(x + self.ffn_out(nn.functional.gelu(self.ffn_in(x))))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.word = nn.Embedding(c.vocab_size, c.hidden)
            self.position = nn.Embedding(c.max_positions, c.hidden)
            self.segment = nn.Embedding(c.segments, c.hidden)
            self.embed_norm = nn.LayerNorm(c.hidden, eps=c.eps)
            self.encoder = nn.Sequential(*(Layer() for _ in range(c.layers)))
            if c.head == "classifier":
                self.pooler = nn.Linear(c.hidden, c.hidden)
                self.classifier = nn.Linear(c.hidden, c.num_classes)
            else:
                self.transform = nn.Linear(c.hidden, c.hidden)
                self.transform_norm = nn.LayerNorm(c.hidden, eps=c.eps)
                self.decoder_bias = nn.Parameter(torch.zeros(c.vocab_size))

        def forward(self, tokens, segments=None):
            s = tokens.shape[1]
            if segments is None:
                segments = torch.zeros_like(tokens)
            x = self.word(tokens) + self.position.weight[:s] + self.segment(segments)
            x = self.encoder(self.embed_norm(x))
            if c.head == "classifier":
                return self.classifier(torch.tanh(self.pooler(x[:, 0])))
            x = self.transform_norm(nn.functional.gelu(self.transform(x)))
            return x @ self.word.weight.T + self.decoder_bias

    return Net()
