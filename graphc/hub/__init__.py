"""``graphc.hub`` (``import graphc.hub as hub``): pretrained weights and hub repositories,
with MegEngine's API (``megengine.hub``).

- ``@hub.pretrained(url)`` decorates a model factory: ``factory()`` builds a random
  model, ``factory(pretrained=True)`` downloads the weights (a file written by
  :func:`graphc.save`; pickles are refused) into the cache once and loads them;
- ``hub.load(directory, entry, *args, **kwargs)``, ``hub.list(directory)`` and
  ``hub.help(directory, entry)`` run a local directory's ``hubconf.py`` (code you asked
  to run: docs/security.md) and use its entry points.

See docs/hub.md.

>>> import graphc.hub as hub, graphc.module as M
>>> @hub.pretrained("https://example.invalid/linear.npz")
... def linear():
...     return M.Linear(2, 2)
>>> linear().weight.shape
(2, 2)
"""

from .repo import help, import_module, list, load
from .weights import (
    DownloadError,
    PickleRefused,
    cached_path,
    load_serialized_obj_from_url,
    pretrained,
    weights_dir,
)

__all__ = ["DownloadError", "PickleRefused", "cached_path", "help", "import_module", "list",
           "load", "load_serialized_obj_from_url", "pretrained", "weights_dir"]
