"""3DGS PLY files in the standard layout of the original 3D Gaussian Splatting code.

One binary little-endian ``vertex`` element with float32 properties, in this order:
``x y z nx ny nz f_dc_0 f_dc_1 f_dc_2 f_rest_0 .. f_rest_{3(K-1)-1} opacity scale_0 scale_1
scale_2 rot_0 rot_1 rot_2 rot_3``, where

* ``f_dc_*`` is the degree-0 SH coefficient per colour channel;
* ``f_rest_*`` are the higher SH coefficients, channel-major (all of R, then G, then B);
* ``opacity`` is the logit of the opacity, ``scale_*`` the natural log of the scales;
* ``rot_*`` is the quaternion (w, x, y, z); normals are written as zeros.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from .field import GaussianField

_OPACITY_EPS = 1e-6
_SCALE_MIN = 1e-12


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _OPACITY_EPS, 1 - _OPACITY_EPS)
    return np.log(p / (1 - p))


def write_ply(path, field: GaussianField) -> None:
    """Write ``field`` to ``path`` (parent directories are created)."""
    from plyfile import PlyData, PlyElement

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    N = len(field)
    K = field.sh.shape[1]
    sh = field.sh.detach().cpu().numpy().astype(np.float32)
    rest = sh[:, 1:, :].transpose(0, 2, 1).reshape(N, 3 * (K - 1))  # channel-major
    names = (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
             + [f"f_rest_{i}" for i in range(3 * (K - 1))]
             + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])
    cols = [
        field.means.detach().cpu().numpy(),
        np.zeros((N, 3), np.float32),
        sh[:, 0, :],
        rest,
        _logit(field.opacities.detach().cpu().numpy().astype(np.float64))[:, None],
        np.log(np.maximum(field.scales.detach().cpu().numpy().astype(np.float64), _SCALE_MIN)),
        field.quats.detach().cpu().numpy(),
    ]
    data = np.concatenate([c.astype(np.float32).reshape(N, -1) for c in cols], axis=1)
    arr = np.empty(N, dtype=[(n, "<f4") for n in names])
    for i, n in enumerate(names):
        arr[n] = data[:, i]
    tmp = path.with_name(path.name + ".tmp")
    PlyData([PlyElement.describe(arr, "vertex")], byte_order="<").write(str(tmp))
    tmp.replace(path)


def read_ply(path) -> GaussianField:
    """Read a 3DGS PLY written by us or by other 3DGS tools."""
    from plyfile import PlyData

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"PLY file not found: {path}")
    try:
        ply = PlyData.read(str(path))
        v = ply["vertex"]
    except Exception as e:  # plyfile raises several types for corrupt files
        raise ValueError(f"cannot read PLY file {path}: {e}") from None
    names = [p.name for p in v.properties]
    required = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1",
                "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    missing = [n for n in required if n not in names]
    if missing:
        raise ValueError(f"{path} is not a 3DGS PLY: missing properties {', '.join(missing)}")
    N = v.count

    def col(n):
        return np.asarray(v[n], dtype=np.float32)

    rest_names = sorted((n for n in names if n.startswith("f_rest_")),
                        key=lambda s: int(s.split("_")[-1]))
    n_rest = len(rest_names)
    if n_rest % 3 != 0 or int(round(math.sqrt(n_rest // 3 + 1))) ** 2 != n_rest // 3 + 1:
        raise ValueError(f"{path}: {n_rest} f_rest_* properties do not form SH of degree 0..3")
    K = n_rest // 3 + 1
    sh = np.zeros((N, K, 3), np.float32)
    sh[:, 0, :] = np.stack([col(f"f_dc_{c}") for c in range(3)], axis=1)
    if n_rest:
        rest = np.stack([col(n) for n in rest_names], axis=1).reshape(N, 3, K - 1)
        sh[:, 1:, :] = rest.transpose(0, 2, 1)
    means = np.stack([col("x"), col("y"), col("z")], axis=1)
    opac = 1.0 / (1.0 + np.exp(-col("opacity").astype(np.float64)))
    scales = np.exp(np.stack([col(f"scale_{i}") for i in range(3)], axis=1).astype(np.float64))
    quats = np.stack([col(f"rot_{i}") for i in range(4)], axis=1)
    norms = np.linalg.norm(quats, axis=1, keepdims=True)
    quats = quats / np.maximum(norms, 1e-12)
    arrays = [means, quats, scales, opac, sh]
    if not all(np.isfinite(a).all() for a in arrays):
        raise ValueError(f"{path}: PLY contains NaN or infinite values")
    return GaussianField(torch.from_numpy(means), torch.from_numpy(quats.astype(np.float32)),
                         torch.from_numpy(scales.astype(np.float32)),
                         torch.from_numpy(opac.astype(np.float32)), torch.from_numpy(sh))
