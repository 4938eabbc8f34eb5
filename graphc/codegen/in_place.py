"""In-place variants of generated kernels: an output written over an input's buffer.

An optimizer step computes every parameter's and state tensor's new value from its old
one, element by element (``w - lr * g``, ``b1 * m + (1 - b1) * g``). When the caller
says the old value is dead (``Program.run``'s ``donate``), the kernel can write the new
value into the old buffer: one array read and written instead of one read and a fresh
one written, and a step's working set holds each parameter once instead of twice.

The variant is the same kernel with the output's parameter merged into the input's::

    def kernel(in0, s1, in2, sh):          # was kernel(in0, s1, in2, out3, sh)
        for i0 in range(sh[0]):
            for i1 in range(sh[1]):
                v1 = in0[i0, i1]
                v2 = in2[i0, i1]
                v3 = (s1 * v2)
                v4 = (v1 - v3)
                in0[i0, i1] = v4           # was out3[i0, i1] = v4

One parameter for the array read and written keeps the loop vectorised: passing the same
array as two parameters makes LLVM's runtime alias check fail and take its scalar loop
(2-3x slower). A merge is safe only where each element of the input is read at the
element the output writes, before it writes it: a map kernel (no reduction) whose every
read of the input uses the output's own subscript, on lines before its one store.
"""

from __future__ import annotations

import re

from .cpu import KernelSource


def in_place_pairs(ks: KernelSource, candidates: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The ``(input param, output param)`` index pairs of ``candidates`` whose output can
    be written over the input in ``ks`` (see the module doc)."""
    if ks.kernel.reduce_axes:
        return []
    lines = _body(ks.source)
    pairs = []
    for i, o in candidates:
        p_in, p_out = ks.params[i], ks.params[o]
        if p_in.kind != "in" or p_out.kind != "out":
            continue
        if p_in.node.type != p_out.node.type or not p_out.node.type.shape:
            continue
        if _safe(lines, f"in{i}", f"out{o}"):
            pairs.append((i, o))
    return pairs


def in_place_source(ks: KernelSource, pairs: list[tuple[int, int]]) -> str:
    """``ks.source`` with each pair's output parameter merged into its input (the pairs
    come from :func:`in_place_pairs`)."""
    source = ks.source
    for i, o in pairs:
        source = re.sub(rf"\bout{o}, ", "", source, count=1)  # the signature
        source = re.sub(rf"\bout{o}\b", f"in{i}", source)
    notes = ", ".join(f"in{i} is also out{o}" for i, o in pairs)
    return source.replace("\nimport numpy", f"\n# in place: {notes}\nimport numpy", 1)


def _body(source: str) -> list[str]:
    lines = source.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("def kernel("))
    return lines[start + 1:]


def _safe(lines: list[str], name: str, out: str) -> bool:
    """Whether ``out`` is stored once, at one subscript, and ``name`` is only read at that
    subscript on earlier lines."""
    store = re.compile(rf"^\s*{out}(\[[^\]]*\]) = ")
    stores = [(n, m.group(1)) for n, line in enumerate(lines) if (m := store.match(line))]
    if len(stores) != 1 or sum(len(re.findall(rf"\b{out}\b", line)) for line in lines) != 1:
        return False
    at, subscript = stores[0]
    use = re.compile(rf"\b{name}\b(\[[^\]]*\])?")
    for n, line in enumerate(lines):
        for m in use.finditer(line):
            if m.group(1) != subscript or n >= at:
                return False
    return True
