"""Shared math has one home: rotations (igen_gs.rotations, torch and NumPy) and SH colour
(igen_gs.render.sh); production code never imports the test reference (render/reference.py)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

import igen_gs
from igen_gs import rotations
from igen_gs.render import sh

PACKAGE = Path(igen_gs.__file__).parent


def test_numpy_rotmat_to_quat_matches_torch():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2000, 4, generator=g, dtype=torch.float64)
    q = q / q.norm(dim=-1, keepdim=True)
    # Half-turns about each axis and the identity: the pivots of every branch.
    q[:4] = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]])
    R = rotations.quat_to_rotmat(q)
    ours = rotations.rotmat_to_quat_np(R.numpy())
    ref = rotations.rotmat_to_quat(R).numpy()
    assert np.allclose(ours, ref, atol=1e-12)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0) and (ours[:, 0] >= 0).all()
    # q and -q are one rotation; both come back as the w >= 0 one.
    assert np.allclose(np.abs((ours * q.numpy()).sum(1)), 1.0)


def test_quaternion_order_is_wxyz():
    """A quarter turn about z, written (w, x, y, z), maps x to y."""
    c = 0.5 ** 0.5
    R = rotations.quat_to_rotmat(torch.tensor([c, 0.0, 0.0, c], dtype=torch.float64))
    assert torch.allclose(R @ torch.tensor([1.0, 0, 0], dtype=torch.float64),
                          torch.tensor([0.0, 1, 0], dtype=torch.float64), atol=1e-12)
    assert torch.allclose(rotations.wxyz_to_xyzw(torch.tensor([1.0, 2, 3, 4])),
                          torch.tensor([2.0, 3, 4, 1]))


def test_sh_colors_per_camera():
    """sh_colors = sh_to_rgb along the direction from each camera's centre to each Gaussian."""
    g = torch.Generator().manual_seed(0)
    N = 50
    coeffs = torch.randn(N, 9, 3, generator=g) * 0.5
    means = torch.randn(N, 3, generator=g)
    centres = torch.randn(2, 3, generator=g) * 3
    viewmats = torch.eye(4).repeat(2, 1, 1)
    viewmats[:, :3, 3] = -centres  # identity rotation: T_cam_world translates by -centre
    got = sh.sh_colors(coeffs, means, viewmats)
    assert got.shape == (2, N, 3)
    for c in range(2):
        want = sh.sh_to_rgb(2, means - centres[c], coeffs)
        torch.testing.assert_close(got[c], want, rtol=1e-5, atol=1e-6)
        # Seen from the other side, view-dependent colour differs.
        assert (sh.sh_to_rgb(2, centres[c] - means, coeffs) - got[c]).abs().max() > 0.1
    dc = coeffs[:, :1]
    torch.testing.assert_close(sh.sh_colors(dc, means, None),
                               sh.sh_dc_to_rgb(dc[:, 0]).clamp_min(0))


def _imports_of(path: Path) -> list[str]:
    """Every module name ``path`` imports (absolute, relative ones resolved)."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    package = list(rel.parts[:-1])
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            names.append(mod)
            names += [f"{mod}.{a.name}" for a in node.names]
    return names


def test_production_code_never_imports_the_reference():
    """Only the torch backend of rasterization() (it *is* the reference) may load it."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if any(n == "igen_gs.render.reference" for n in _imports_of(path)):
            offenders.append(str(path.relative_to(PACKAGE.parent)))
    assert offenders == ["igen_gs/render/rasterize.py"], offenders
    # ...and lazily: rendering a scene on the CPU backend never loads it.
    code = ("import sys, torch\n"
            "from igen_gs.scene import Camera, GaussianField, Scene\n"
            "f = GaussianField.from_points(torch.tensor([[0.0, 0, 2]]), torch.ones(1, 3), 0.1,"
            " sh_degree=1)\n"
            "Scene(f).render(Camera.from_fov(60, 8, 6), backend='cpu')\n"
            "assert 'igen_gs.render.reference' not in sys.modules, 'reference loaded'\n")
    subprocess.run([sys.executable, "-c", code], check=True)
