"""OpenCV for the image transforms and image-folder datasets, loaded on first use.

OpenCV (the ``opencv-python-headless`` wheel, graphc's ``vision`` extra) resizes and
converts colours as MegEngine's transforms do (MegEngine calls OpenCV): images are
``H x W x C`` arrays in BGR channel order. Measured on a 224x224x3 uint8 image, a
bilinear resize took about 35 us with OpenCV and 800 us with Pillow (to 112x112), and
Pillow resizes multi-channel float images only one channel at a time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["INTERPOLATIONS", "interpolation_flag", "load_cv2", "resize"]

# OpenCV's constants (cv2.INTER_*), also reachable by name so no caller needs cv2.
INTERPOLATIONS = {"nearest": 0, "linear": 1, "bilinear": 1, "cubic": 2, "bicubic": 2,
                  "area": 3, "lanczos": 4, "lanczos4": 4}


# Set by DataLoader workers (1: the workers are the parallelism); applied at first use.
threads_per_process: int | None = None
_threads_applied = False


def load_cv2(user: str) -> Any:
    """The ``cv2`` module, or an ImportError naming ``user`` and the extra to install."""
    global _threads_applied
    try:
        import cv2
    except ImportError as error:
        raise ImportError(f"{user} needs OpenCV, which graphc's optional 'vision' extra "
                          f"installs: pip install 'graphc[vision]' (or pip install "
                          f"opencv-python-headless)") from error
    if threads_per_process is not None and not _threads_applied:
        cv2.setNumThreads(threads_per_process)
        _threads_applied = True
    return cv2


def interpolation_flag(owner: str, interpolation: Any) -> int:
    """OpenCV's flag for ``interpolation``: a cv2.INTER_* int or one of INTERPOLATIONS."""
    if isinstance(interpolation, str) and interpolation.lower() in INTERPOLATIONS:
        return INTERPOLATIONS[interpolation.lower()]
    if isinstance(interpolation, (int, np.integer)) and not isinstance(interpolation, bool) \
            and int(interpolation) in INTERPOLATIONS.values():
        return int(interpolation)
    raise ValueError(f"{owner}: interpolation must be a cv2.INTER_* flag (0-4) or one of "
                     f"{sorted(INTERPOLATIONS)}, got {interpolation!r}")


def resize(owner: str, image: np.ndarray, height: int, width: int, flag: int) -> np.ndarray:
    """``image`` (H x W or H x W x C) resized to ``height x width``; the channel axis is
    kept even when it has length 1 (OpenCV drops it)."""
    cv2 = load_cv2(owner)
    out = cv2.resize(image, (int(width), int(height)), interpolation=flag)
    if image.ndim == 3 and out.ndim == 2:
        out = out[:, :, np.newaxis]
    return out
