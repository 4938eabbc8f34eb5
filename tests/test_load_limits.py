"""Bounded loaders: graphc.load, graphc.load_function and `graphc run` check every size a
file declares before allocating it (issue 16, part 2). Cases that would allocate
gigabytes if the check were missing run in a child process with a capped address space
(tests/memlimit.py)."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc.limits import LimitError, LoadLimits, json_depth
from tests.memlimit import run_capped

GiB = 1 << 30


def _npy_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _zip(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip archive of (name, data as stored, method, crc, uncompressed size) members,
    written by hand so a member can be a ready-made deflate stream."""
    out, central = io.BytesIO(), io.BytesIO()
    for name, data, method, crc, size in members:
        offset = out.tell()
        fields = (20, 0, method, 0, 0, crc, len(data), size, len(name), 0)
        out.write(b"PK\x03\x04" + struct.pack("<HHHHHIIIHH", *fields) + name.encode() + data)
        central.write(b"PK\x01\x02" + struct.pack("<HHHHHHIIIHHHHHII", 20, *fields, 0, 0, 0,
                                                  0, offset) + name.encode())
    directory = central.getvalue()
    end = struct.pack("<HHHHIIH", 0, 0, len(members), len(members), len(directory),
                      out.tell(), 0)
    return out.getvalue() + directory + b"PK\x05\x06" + end


def _stored(name: str, data: bytes) -> tuple:
    return (name, data, zipfile.ZIP_STORED, zlib.crc32(data), len(data))


def _checkpoint_bomb(zero_bytes: int) -> bytes:
    """A graphc.save-style archive whose one array is ``zero_bytes`` of float32 zeros,
    deflated to about a thousandth of that (a valid file: np.load reads it)."""
    header = _npy_header((zero_bytes // 4,))
    chunk = bytes(1 << 20)
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = head.compress(header) + head.flush(zlib.Z_FULL_FLUSH)
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = block.compress(chunk) + block.flush(zlib.Z_FULL_FLUSH)  # the same every MiB
    stream += block * (zero_bytes >> 20) + zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = zlib.crc32(header)
    for _ in range(zero_bytes >> 20):
        crc = zlib.crc32(chunk, crc)
    manifest = json.dumps({"format": "graphc.save", "version": 1,
                           "root": {"dict": [["w", {"array": "a0"}]]}}).encode()
    raw_manifest = np.frombuffer(manifest, np.uint8)
    buf = io.BytesIO()
    np.save(buf, raw_manifest)
    bomb = ("a0.npy", stream, zipfile.ZIP_DEFLATED, crc, len(header) + zero_bytes)
    return _zip([bomb, _stored("__graphc_manifest__.npy", buf.getvalue())])


def _lying_checkpoint() -> bytes:
    """An archive whose array header claims 1 GiB while the member holds 16 bytes."""
    archive = io.BytesIO()
    graphc.save({"w": np.zeros(4, np.float32)}, archive)
    with zipfile.ZipFile(io.BytesIO(archive.getvalue())) as z:
        manifest = z.read("__graphc_manifest__.npy")
    lie = _npy_header((GiB // 4,)) + bytes(16)
    return _zip([_stored("a0.npy", lie), _stored("__graphc_manifest__.npy", manifest)])


def _dropout_function():
    graphc.random.seed(0)
    x = graphc.placeholder((8, 3), name="x")
    return graphc.function([x], F.dropout(x, 0.5) * 2, name="drop")


def _rewrite_graph(path, change) -> None:
    saved = graphc.load(path)
    graph = json.loads(saved["graph"])
    change(graph)
    saved["graph"] = json.dumps(graph)
    graphc.save(saved, path)


def _draw_node(graph: dict) -> dict:
    return next(n for n in graph["nodes"] if "draw" in n)


CAPPED_CASES = """
import subprocess, os
from graphc.cli import main

def control(d):  # ordinary loads of real files fit under the cap
    assert graphc.load(d + "/big.gc")["w"].nbytes == 64 << 20
    graphc.load_function(d + "/drop.graphc")

def checkpoint_bomb(d):
    graphc.load(d + "/bomb.gc")

def lying_header(d):
    graphc.load(d + "/lie.gc")

def draw_recipe_not_its_node(d):
    graphc.load_function(d + "/draw16k.graphc")

def draw_of_a_trillion(d):
    graphc.load_function(d + "/draw1e6.graphc")

def run_input_with_a_lying_header(d):
    status = main(["run", d + "/drop.graphc", "--input", "x=" + d + "/lie.npy",
                   "--out", d + "/out"])
    raise ValueError(f"exit status {status}")
"""


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    """Each capped case's outcome (one child process for all), and the files' folder."""
    d = tmp_path_factory.mktemp("capped")
    graphc.save({"w": np.zeros(16 << 20, np.float32)}, d / "big.gc")  # 64 MiB
    (d / "bomb.gc").write_bytes(_checkpoint_bomb(GiB))
    (d / "lie.gc").write_bytes(_lying_checkpoint())
    (d / "lie.npy").write_bytes(_npy_header((GiB // 4,)) + bytes(16))
    f = _dropout_function()
    for name in ("drop", "draw16k", "draw1e6"):
        f.dump(d / f"{name}.graphc")
    _rewrite_graph(d / "draw16k.graphc",
                   lambda g: _draw_node(g)["draw"].update(shape=[16000, 16000]))

    def trillion(g):
        node = _draw_node(g)
        node["shape"] = node["draw"]["shape"] = [10 ** 6, 10 ** 6]
    _rewrite_graph(d / "draw1e6.graphc", trillion)
    cases = ["control", "checkpoint_bomb", "lying_header", "draw_recipe_not_its_node",
             "draw_of_a_trillion", "run_input_with_a_lying_header"]
    return run_capped(CAPPED_CASES, cases, 512 << 20, str(d)), d


def test_ordinary_loads_fit_under_the_cap(capped):
    assert capped[0]["control"] == "ok"


def test_a_compressed_checkpoint_bomb_is_refused_before_decompressing(capped):
    got, d = capped
    assert (d / "bomb.gc").stat().st_size < 1.1 * (1 << 20)  # 1 MiB on disk
    with zipfile.ZipFile(d / "bomb.gc") as z:
        info = z.getinfo("a0.npy")
    assert info.file_size > GiB
    assert got["checkpoint_bomb"].startswith("LimitError: graphc.load: ")
    assert f"expands {info.file_size // info.compress_size} times" in got["checkpoint_bomb"]
    assert "GRAPHC_LOAD_MAX_RATIO=n" in got["checkpoint_bomb"]


def test_an_array_header_must_agree_with_its_members_size(capped):
    got = capped[0]["lying_header"]
    assert got.startswith("ValueError: graphc.load: ")
    assert "declares 1073741824 bytes of data, the file holds 16" in got


def test_a_draw_recipe_must_match_its_node_before_drawing(capped):
    got = capped[0]["draw_recipe_not_its_node"]
    assert got.startswith("ValueError: graphc.load_function: ")
    assert "draws float32[16000, 16000] for a node of type float32[8, 3]" in got


def test_a_trillion_element_node_is_refused(capped):
    got = capped[0]["draw_of_a_trillion"]
    assert got.startswith("LimitError: graphc.load_function: ")
    assert "1000000000000 elements" in got and "GRAPHC_LOAD_MAX_ELEMENTS=n" in got


def test_run_refuses_an_input_with_a_lying_header(capped):
    assert capped[0]["run_input_with_a_lying_header"] == "ValueError: exit status 2"


def test_limits_come_from_the_environment_or_the_keyword(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.gc"
    graphc.save({"w": np.zeros(1024, np.float32)}, path)  # 4 KiB of array data
    monkeypatch.setenv("GRAPHC_LOAD_MAX_BYTES", "2K")
    with pytest.raises(LimitError, match=r"declares \d+ bytes.*over the limit of 2048 "
                                         r"\(raise it with GRAPHC_LOAD_MAX_BYTES=n or "
                                         r"limits=graphc.LoadLimits\(max_bytes=n\)\)"):
        graphc.load(path)
    assert graphc.load(path, limits=LoadLimits(max_bytes=8192))["w"].shape == (1024,)
    monkeypatch.setenv("GRAPHC_LOAD_MAX_BYTES", "lots")
    with pytest.raises(ValueError, match="GRAPHC_LOAD_MAX_BYTES='lots' is not a count"):
        graphc.load(path)


def test_a_deeply_nested_manifest_is_refused_without_recursing(tmp_path):
    root: str = '{"list": []}'
    for _ in range(3000):  # 6000 levels: json.loads alone raises RecursionError
        root = '{"list": [' + root + ']}'
    manifest = ('{"format": "graphc.save", "version": 1, "root": ' + root + "}").encode()
    np.savez(tmp_path / "deep.npz", __graphc_manifest__=np.frombuffer(manifest, np.uint8))
    depth = 1 + 2 * 3000 + 2  # the manifest object, each wrap, the innermost list
    with pytest.raises(LimitError, match=f"manifest nests {depth} levels deep, over the "
                                         "limit of 100 .*GRAPHC_LOAD_MAX_DEPTH=n"):
        graphc.load(tmp_path / "deep.npz")


def test_a_deeply_nested_dumped_graph_is_refused_without_recursing(tmp_path):
    path = tmp_path / "f.graphc"
    _dropout_function().dump(path)
    saved = graphc.load(path)
    saved["graph"] = saved["graph"][:-1] + ', "deep": ' + "[" * 5000 + "]" * 5000 + "}"
    graphc.save(saved, path)
    with pytest.raises(LimitError, match="graph nests 5001 levels deep"):
        graphc.load_function(path)


def test_json_depth_counts_brackets_outside_strings_only():
    text = json.dumps({"a": "[[[{{{", "b": [[["]]]\\\"[["]]], "c": {"d": []}})
    assert json_depth(text) == 4  # the outer object, then the lists in "b"
    assert json_depth("[]") == 1 and json_depth('"[["') == 0 and json_depth("7") == 0


def test_node_count_limit(tmp_path, monkeypatch):
    path = tmp_path / "f.graphc"
    _dropout_function().dump(path)
    n = len(json.loads(graphc.load(path)["graph"])["nodes"])
    with pytest.raises(LimitError, match=f"declares {n} nodes, over the limit of 2 "):
        graphc.load_function(path, limits=LoadLimits(max_nodes=2))
    monkeypatch.setenv("GRAPHC_LOAD_MAX_NODES", str(n))
    graphc.load_function(path)


def test_a_weight_must_have_its_nodes_shape_and_dtype(tmp_path):
    x = graphc.placeholder((2, 3), name="x")
    path = tmp_path / "f.graphc"
    graphc.function([x], x + graphc.tensor(np.ones((2, 3), np.float32))).dump(path)
    saved = graphc.load(path)
    (name,) = [k for k in saved["weights"] if k.startswith("c")]
    saved["weights"][name] = np.ones(2, np.float32)  # kernels would read past its end
    graphc.save(saved, path)
    with pytest.raises(ValueError, match=r"is float32\[2, 3\], its weight float32\[2\]"):
        graphc.load_function(path)
