"""``hub.load``/``hub.list``/``hub.help`` from a local directory's hubconf.py, and the
refusal of a git-host repository name."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

import graphc
import graphc.hub as hub

HUBCONF = textwrap.dedent('''
    import graphc.hub as hub
    import graphc.module as M
    from tinynet import TinyNet   # a sibling module of hubconf.py

    dependencies = ["numpy"]

    def _private():
        return None

    def tiny(width=3, scale=1.0):
        """TinyNet: one linear layer, output times scale."""
        return TinyNet(width, scale)

    @hub.pretrained("https://example.invalid/never-fetched.npz")
    def tiny_pretrained(width=3):
        return TinyNet(width, 1.0)

    CONSTANT = 4
''')

TINYNET = textwrap.dedent('''
    import graphc.module as M

    class TinyNet(M.Module):
        def __init__(self, width, scale):
            super().__init__()
            self.fc = M.Linear(width, 1)
            self.scale = scale

        def forward(self, x):
            return self.fc(x) * self.scale
''')


@pytest.fixture
def repo(tmp_path):
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "hubconf.py").write_text(HUBCONF)
    (folder / "tinynet.py").write_text(TINYNET)
    yield folder
    sys.modules.pop("tinynet", None)


def test_list_names_public_callables_in_order(repo):
    # TinyNet is imported into hubconf, and public: MegEngine lists it too
    assert hub.list(str(repo)) == ["TinyNet", "tiny", "tiny_pretrained"]


def test_help_returns_the_entry_docstring(repo):
    assert hub.help(repo, "tiny") == "TinyNet: one linear layer, output times scale."
    assert hub.help(repo, "tiny_pretrained") == ""


def test_load_passes_args_and_kwargs_and_the_model_computes(repo):
    model = hub.load(str(repo), "tiny", 2, scale=3.0)
    w = model.fc.weight.numpy()
    b = model.fc.bias.numpy()
    x = np.array([[1.0, -2.0]], np.float32)
    np.testing.assert_allclose(model(graphc.tensor(x)).numpy(), (x @ w.T + b) * 3.0,
                               rtol=1e-6)
    assert str(repo) not in sys.path  # only while hubconf.py runs


def test_pretrained_entries_build_without_weights(repo):
    assert hub.load(repo, "tiny_pretrained", width=4).fc.weight.shape == (1, 4)


def test_import_module_returns_hubconf(repo):
    module = hub.import_module(repo)
    assert module.CONSTANT == 4 and module.__file__ == str(repo / "hubconf.py")


@pytest.mark.parametrize("entry", ["_private", "CONSTANT", "missing"])
def test_unknown_or_private_entries_are_named(repo, entry):
    with pytest.raises(AttributeError, match=rf"'{entry}' is not an entry point of "
                                             rf".*hubconf\.py; it has \['TinyNet'"):
        hub.load(repo, entry)


@pytest.mark.parametrize("repo_info", ["megengine/models", "megengine/models:v1.0.0"])
def test_git_host_repositories_are_refused(repo_info):
    with pytest.raises(ValueError, match=rf"'{repo_info}' is not a directory on this machine"
                                         r".*does not fetch .*clone"):
        hub.load(repo_info, "resnet18", pretrained=True)
    with pytest.raises(ValueError, match="not a directory"):
        hub.list(repo_info)


def test_remote_options_are_refused(repo):
    with pytest.raises(ValueError, match="commit apply to repositories fetched from a git "
                                         "host"):
        hub.load(repo, "tiny", commit="abc123")
    with pytest.raises(ValueError, match="git_host, protocol apply"):
        hub.list(repo, git_host="github.com", protocol="HTTPS")
    assert hub.list(repo, use_cache=False) == hub.list(repo)  # accepted, nothing to cache


def test_a_directory_without_hubconf(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path} has no hubconf\.py"):
        hub.list(tmp_path)


def test_missing_dependencies_are_named(repo):
    (repo / "hubconf.py").write_text(HUBCONF.replace('["numpy"]',
                                                     '["numpy", "no_such_module_xyz"]'))
    with pytest.raises(RuntimeError, match="not installed: no_such_module_xyz"):
        hub.list(repo)


def test_errors_in_hubconf_propagate(repo):
    (repo / "hubconf.py").write_text("raise KeyError('from hubconf')\n")
    with pytest.raises(KeyError, match="from hubconf"):
        hub.list(repo)


def test_load_with_pretrained_downloads_the_entry_weights(tmp_path, server, cache):
    root, base = server
    weights = {"fc.weight": np.array([[1.0, -1.0, 2.0]], np.float32),
               "fc.bias": np.array([0.5], np.float32)}
    graphc.save(weights, root / "tiny.npz")
    folder = tmp_path / "served_repo"
    folder.mkdir()
    (folder / "tinynet.py").write_text(TINYNET)
    (folder / "hubconf.py").write_text(HUBCONF.replace(
        "https://example.invalid/never-fetched.npz", f"{base}/tiny.npz"))
    try:
        model = hub.load(folder, "tiny_pretrained", pretrained=True)
    finally:
        sys.modules.pop("tinynet", None)
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    np.testing.assert_allclose(model(graphc.tensor(x)).numpy(),
                               x @ weights["fc.weight"].T + weights["fc.bias"], rtol=1e-6)
    assert hub.cached_path(f"{base}/tiny.npz").exists()
