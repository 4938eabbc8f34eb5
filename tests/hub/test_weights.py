"""``@hub.pretrained`` and ``load_serialized_obj_from_url`` against a loopback HTTP server:
good weights, a corrupt file, a pickled file, a missing file and a server that is down."""

from __future__ import annotations

import io
import os
import pickle
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

import graphc
import graphc.hub as hub
import graphc.module as M
from tests.loopback import closed_port


def _state(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"0.weight": rng.standard_normal((4, 3)).astype(np.float32),
            "0.bias": rng.standard_normal(4).astype(np.float32),
            "2.weight": rng.standard_normal((2, 4)).astype(np.float32),
            "2.bias": rng.standard_normal(2).astype(np.float32)}


def _numpy_mlp(state, x):
    hidden = np.maximum(x @ state["0.weight"].T + state["0.bias"], 0)
    return hidden @ state["2.weight"].T + state["2.bias"]


def _factory(url):
    @hub.pretrained(url)
    def mlp(hidden=4):
        """A 3-4-2 perceptron."""
        return M.Sequential(M.Linear(3, hidden), M.ReLU(), M.Linear(hidden, 2))

    return mlp


def test_pretrained_downloads_once_loads_the_weights_and_caches_them(server, cache, served):
    root, base = server
    state = _state()
    graphc.save(state, root / "mlp.npz")
    mlp = _factory(f"{base}/mlp.npz")
    x = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)

    model = mlp(pretrained=True)
    np.testing.assert_allclose(model(graphc.tensor(x)).numpy(), _numpy_mlp(state, x),
                               rtol=1e-5, atol=1e-6)
    cached = hub.cached_path(mlp.url)
    assert cached.parent == cache / "hub" / "weights"
    assert cached.read_bytes() == (root / "mlp.npz").read_bytes()
    assert [p.name for p in cached.parent.iterdir()] == [cached.name]  # no temporary left

    (root / "mlp.npz").unlink()  # the second call reads the cache, not the server
    again = mlp(pretrained=True)
    np.testing.assert_array_equal(again[0].weight.numpy(), state["0.weight"])
    assert len(served) == 1


def test_without_pretrained_nothing_is_fetched_and_kwargs_reach_the_factory(server, cache, served):
    _, base = server
    mlp = _factory(f"{base}/absent.npz")
    model = mlp(hidden=7)
    assert model[0].weight.shape == (7, 3)
    assert mlp.__name__ == "mlp" and mlp.__doc__ == "A 3-4-2 perceptron."
    assert served == [] and not cache.exists()


def test_model_dir_overrides_the_cache(server, cache, tmp_path):
    root, base = server
    graphc.save(_state(), root / "w.npz")
    folder = tmp_path / "elsewhere"
    value = hub.load_serialized_obj_from_url(f"{base}/w.npz", model_dir=folder)
    np.testing.assert_array_equal(value["2.bias"], _state()["2.bias"])
    assert hub.cached_path(f"{base}/w.npz", folder).exists() and not cache.exists()


def test_corrupt_download_is_refused_and_not_cached(server, cache):
    root, base = server
    good = io.BytesIO()
    graphc.save(_state(), good)
    (root / "cut.npz").write_bytes(good.getvalue()[:200])  # truncated mid-archive
    with pytest.raises(ValueError, match=r"downloaded from .*/cut\.npz is not usable "
                                         r"weights .*nothing was cached"):
        hub.load_serialized_obj_from_url(f"{base}/cut.npz")
    assert not hub.cached_path(f"{base}/cut.npz").exists()


def test_a_foreign_npz_is_refused(server, cache):
    root, base = server
    np.savez(root / "plain.npz", w=np.ones(3))  # arrays, but no graphc manifest
    with pytest.raises(ValueError, match="not usable weights .*without a graphc manifest"):
        hub.load_serialized_obj_from_url(f"{base}/plain.npz")


class _Bomb:
    def __reduce__(self):
        return (os.system, ("echo unpickled > /dev/null",))


def test_pickled_download_is_refused_without_unpickling(server, cache, monkeypatch):
    root, base = server
    (root / "weights.npz").write_bytes(pickle.dumps({"w": _Bomb()}, protocol=4))
    monkeypatch.setattr(pickle, "loads", None)  # any unpickling would fail loudly
    monkeypatch.setattr(pickle, "load", None)
    with pytest.raises(hub.PickleRefused, match=r"is a pickle \(protocol 4\); graphc never "
                                                r"unpickles.*put the result at "):
        hub.load_serialized_obj_from_url(f"{base}/weights.npz")
    assert not hub.cached_path(f"{base}/weights.npz").exists()


def test_pytorch_style_zip_with_a_pickle_inside_is_refused(server, cache):
    root, base = server
    with zipfile.ZipFile(root / "model.bin", "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": 1}))
    with pytest.raises(hub.PickleRefused, match=r"archive holding a pickle \(archive/data"):
        hub.load_serialized_obj_from_url(f"{base}/model.bin")


@pytest.mark.parametrize("name", ["resnet18_naiveaug_70312_78a63ca6.pkl", "net.mge"])
def test_megengine_pickle_urls_are_refused_before_downloading(server, cache, served, name):
    _, base = server
    url = f"{base}/{name}"
    with pytest.raises(ValueError, match="graphc never unpickles") as err:
        _factory(url)(pretrained=True)
    assert str(hub.cached_path(url)) in str(err.value)  # where a converted file goes
    assert served == []


def test_converted_weights_put_by_hand_at_the_named_path_load(server, cache, served):
    _, base = server
    url = f"{base}/resnet_tiny.pkl"  # a MegEngine URL, served by nobody
    path = hub.cached_path(url)
    path.parent.mkdir(parents=True)
    graphc.save(_state(3), path)
    model = _factory(url)(pretrained=True)
    np.testing.assert_array_equal(model[2].weight.numpy(), _state(3)["2.weight"])
    assert served == []


def test_a_pickle_put_at_the_cache_path_is_refused(cache):
    url = "https://example.invalid/w.npz"
    path = hub.cached_path(url)
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps({"w": 1}, protocol=2))
    with pytest.raises(hub.PickleRefused, match="which is a pickle"):
        hub.load_serialized_obj_from_url(url)


def test_a_file_declaring_more_than_the_load_limit_is_not_read(server, cache):
    root, base = server
    graphc.save(_state(), root / "big.npz")
    size = (root / "big.npz").stat().st_size
    with pytest.raises(ValueError, match=rf"declares {size} bytes, over the load limit of "
                                         rf"{size - 1} \(GRAPHC_LOAD_MAX_BYTES\)"):
        hub.load_serialized_obj_from_url(f"{base}/big.npz",
                                         limits=graphc.LoadLimits(max_bytes=size - 1))
    assert not hub.cached_path(f"{base}/big.npz").exists()


def test_a_stream_longer_than_the_load_limit_is_cut_off(cache, monkeypatch):
    class Endless(io.BytesIO):  # a response without Content-Length
        headers: dict = {}

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(urllib.request, "urlopen",
                        lambda url, timeout: Endless(b"x" * 4096))
    with pytest.raises(ValueError, match="sends more than the load limit of 1000 bytes"):
        hub.load_serialized_obj_from_url("http://127.0.0.1:9/w.npz",
                                         limits=graphc.LoadLimits(max_bytes=1000))


def test_missing_file_names_the_status_and_the_path(server, cache):
    _, base = server
    with pytest.raises(hub.DownloadError, match=r"cannot download .*/gone\.npz: HTTP 404"):
        hub.load_serialized_obj_from_url(f"{base}/gone.npz")


def test_server_down_names_the_url_and_where_to_put_the_file(cache):
    url = f"http://127.0.0.1:{closed_port()}/models/mlp.npz"
    with pytest.raises(OSError) as err:
        _factory(url)(pretrained=True)
    message = str(err.value)
    assert isinstance(err.value, hub.DownloadError)
    assert url in message and "Offline" in message
    assert str(hub.cached_path(url)) in message
    assert str(cache / "hub" / "weights") in message


def test_weights_are_fetched_before_the_model_is_built(cache):
    built = []

    @hub.pretrained(f"http://127.0.0.1:{closed_port()}/big.npz")
    def big():
        built.append(True)
        return M.Linear(2, 2)

    with pytest.raises(hub.DownloadError):
        big(pretrained=True)
    assert built == []


def test_shape_mismatch_surfaces_from_load_state_dict(server, cache):
    root, base = server
    graphc.save(_state(), root / "mlp.npz")
    with pytest.raises(ValueError, match="0.weight has shape"):
        _factory(f"{base}/mlp.npz")(pretrained=True, hidden=5)


def test_only_http_urls_are_fetched(cache, tmp_path):
    target = tmp_path / "w.npz"
    graphc.save(_state(), target)
    with pytest.raises(ValueError, match="only http and https URLs"):
        hub.load_serialized_obj_from_url(Path(target).as_uri())


def test_a_factory_that_returns_no_module_is_named(cache):
    @hub.pretrained("https://example.invalid/x.npz")
    def numbers():
        return [1, 2]

    hub.cached_path(numbers.url).parent.mkdir(parents=True)
    graphc.save(_state(), hub.cached_path(numbers.url))

    with pytest.raises(TypeError, match="numbers returned a list, which has no "
                                        "load_state_dict"):
        numbers(pretrained=True)
    with pytest.raises(TypeError, match="URL must be a str"):
        hub.pretrained(3)
