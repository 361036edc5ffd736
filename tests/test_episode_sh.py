"""View-dependent colour in episodes: the episode renderer (which evaluates SH colours itself,
once per camera group, on a buffer it rewrites per frame) against the PyTorch reference
rasterizer given the raw SH coefficients of the same world (it evaluates them along its own
view directions). All other scenes in the tests are SH degree 0, where a wrong view direction
cannot show."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from igen_gs.episode import render_episode
from igen_gs.episode.config import RenderConfig
from igen_gs.episode.rigs import Rig
from igen_gs.render import rasterization
from igen_gs.scene import Camera, frames, stack_cameras
from igen_gs.scene.builtin import builtin_scene

W, H = 64, 48


def _view_dependent_scene():
    """The built-in table scene with degree-2 SH everywhere; strong view-dependent terms."""
    scene = builtin_scene(spacing=0.02)
    g = torch.Generator().manual_seed(7)

    def shiny(f):
        f = f.with_sh_degree(2)
        f.sh[:, 1:] = torch.randn(f.sh[:, 1:].shape, generator=g) * 0.35
        return f

    scene.background = shiny(scene.background)
    for name in scene.object_names:
        scene.objects[name] = shiny(scene.objects[name])
    return scene


def _uint8(img):
    return (img.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()


@pytest.mark.parametrize("backend", ["cpu", "torch"])
def test_episode_view_dependent_colour_matches_the_reference(backend):
    scene = _view_dependent_scene()
    name = "red block"
    cams = Camera.orbit((0.0, 0.0, 0.0), 0.6, 55.0, [-90.0, 20.0, 150.0], width=W, height=H)
    rig = Rig(static=cams, wrist=None, T_ee_wrist=None)
    T = 2
    # The block turns and moves (so the renderer rewrites it, with its SH rotated, per frame).
    P = torch.stack([scene.poses[name] @ frames.make_T(
        frames.axis_angle_to_rotmat([0.2, 0.4, 1.0], 0.9 * t), [0.03 * t, 0.0, 0.02 * t])
        for t in range(T)])
    T_world_ee = frames.translation(0.0, 0.0, 0.4).expand(T, 4, 4).clone()
    # Only the scene is drawn (no gripper or other robot parts): the reference knows none.
    no_extras = {f.name: False for f in dataclasses.fields(RenderConfig)
                 if f.name.startswith("draw_")}
    bg = (0.1, 0.2, 0.3)
    cfg = RenderConfig(backend=backend, background_color=bg, **no_extras)
    frames_out = render_episode(scene, T_world_ee, torch.full((T,), 0.05), {name: P}, rig, cfg)

    viewmats, Ks, _, _ = stack_cameras(cams)
    bgs = torch.tensor(bg).expand(len(cams), 3).clone()
    for t in range(T):
        gs, _ = scene.compose({name: P[t]})
        assert gs.sh_degree == 2
        with torch.no_grad():
            ref, alpha, meta = rasterization(gs.means, gs.quats, gs.scales, gs.opacities, gs.sh,
                                         viewmats, Ks, W, H, sh_degree=2, backgrounds=bgs,
                                         backend="torch")
            flat, _, _ = rasterization(gs.means, gs.quats, gs.scales, gs.opacities,
                                       gs.sh[:, :1], viewmats, Ks, W, H, sh_degree=0,
                                       backgrounds=bgs, backend="torch")
        ok = ~meta["ambiguous"].numpy()
        assert ok.mean() > 0.99
        want, without_view = _uint8(ref), _uint8(flat)
        covered = alpha[..., 0].numpy() > 0.9
        for i, cam in enumerate(cams):
            got = frames_out.rgb[cam.name][t].astype(int)
            diff = np.abs(got - want[i].astype(int))[ok[i]]
            assert diff.max() <= 1, f"frame {t}, {cam.name}: off by {diff.max()} levels"
            # The test has teeth: much of the view is covered, and there view-dependent terms
            # change the colour a lot.
            assert covered[i].mean() > 0.3
            change = np.abs(want[i].astype(int) - without_view[i].astype(int))[covered[i]]
            assert change.mean() > 15, change.mean()
