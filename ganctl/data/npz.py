"""`npz:PATH` — a NumPy archive holding one uint8 image array (NHWC, NCHW or grayscale NHW)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from ganctl.errors import DataError
from ganctl.io.safeio import check_regular

PREFERRED_KEYS = ("x", "images", "arr_0")


def _pick_array(archive: np.lib.npyio.NpzFile, path: Path) -> np.ndarray:
    keys = list(archive.files)
    for key in PREFERRED_KEYS:
        if key in keys:
            return archive[key]
    if len(keys) == 1:
        return archive[keys[0]]
    raise DataError(f"no image array: expected key x, images or arr_0 (or a single array), found {keys}",
                    path)


def to_nchw(array: np.ndarray, path: Path) -> torch.Tensor:
    """N×H×W, N×H×W×{1,3} or N×{1,3}×H×W uint8 → contiguous N×3×H×W uint8 tensor."""
    if array.dtype != np.uint8:
        raise DataError(f"images must be uint8 (0..255), found dtype {array.dtype}", path)
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4:
        last_is_channel = array.shape[-1] in (1, 3)
        second_is_channel = array.shape[1] in (1, 3)
        if last_is_channel and (not second_is_channel or array.shape[1] == array.shape[2]):
            array = array.transpose(0, 3, 1, 2)
        elif not second_is_channel:
            raise DataError(f"cannot tell the channel axis of shape {array.shape}; expected N×H×W×3 or "
                            f"N×3×H×W", path)
    else:
        raise DataError(f"expected N×H×W×3, N×3×H×W or N×H×W images, found shape {array.shape}", path)
    if array.shape[0] == 0:
        raise DataError("the image array is empty", path)
    images = torch.from_numpy(np.ascontiguousarray(array))
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return images.contiguous()


def load_npz(path: Path) -> torch.Tensor:
    """Read the archive without pickle (allow_pickle=False) and return N×3×H×W uint8."""
    path = path.expanduser()
    check_regular(path, what="npz file", error=DataError)  # a FIFO or device would block np.load
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):  # a bare .npy is accepted too
            array = loaded
        else:
            with loaded as archive:
                array = _pick_array(archive, path)
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"not a readable .npz archive ({exc})", path) from None
    return to_nchw(array, path)
