"""The ``device`` option: one resolver, tensors made on the configured device, CPU unchanged.

CUDA cases are skipped (with a reason) where ``torch.cuda.is_available()`` is False; the
checks that the renderer builds its tensors on the configured device run everywhere, on
PyTorch's "meta" device, by recording what reaches ``rasterization``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from igen_gs.device import resolve_device
from igen_gs.episode import RenderConfig, RigConfig, make_rig, render_episode
from igen_gs.robot import RobotConfig
from igen_gs.scene import frames
from igen_gs.scene.builtin import builtin_camera, builtin_scene

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
DOWN = frames.make_T(frames.axis_angle_to_rotmat([1.0, 0.0, 0.0], torch.pi))
Q_ARM = np.array([0.0, -0.3, 0.0, -2.2, 0.0, 1.9, 0.785])


@pytest.fixture(scope="module")
def scene():
    s = builtin_scene(spacing=0.008)
    s.camera = builtin_camera(160, 120)
    return s


def _episode(scene, mode: str, T: int = 3, **render):
    """A short episode: the red block lifted, the robot drawn in ``mode``."""
    z = torch.linspace(0.10, 0.20, T)
    T_world_ee = torch.stack([frames.translation(-0.15, -0.05, float(v)) @ DOWN for v in z])
    block = torch.stack([frames.translation(-0.15, -0.05, 0.025 + float(v) - 0.10) for v in z])
    rig = make_rig(scene, RigConfig(num_static_views=1, width=96, height=72, wrist_width=48,
                                    wrist_height=36))
    kw = {}
    if mode == "arm":
        from igen_gs.robot.model import load_robot

        kw = {"joint_positions": np.repeat(Q_ARM[None], T, 0), "T_world_base": np.eye(4)}
    cfg = RenderConfig(robot=RobotConfig(mode=mode), **render)
    if mode == "arm":
        T_world_ee = torch.from_numpy(np.stack([load_robot().tcp_pose(Q_ARM)] * T))
    return render_episode(scene, T_world_ee, torch.full((T,), 0.06, dtype=torch.float64),
                          {"red block": block}, rig, cfg, **kw)


# ---------------------------------------------------------------------- resolve_device
def test_resolve_device_specs():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    assert resolve_device("auto") == expected
    assert resolve_device() == expected


@pytest.mark.parametrize("spec", ["tpu", "cuda:x", "cpu:0", "auto:1", "", "gpu", 3])
def test_resolve_device_rejects_bad_specs_in_one_line(spec):
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu', 'cuda' or 'cuda:N'") as e:
        resolve_device(spec)
    assert "\n" not in str(e.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:3"])
def test_resolve_device_cuda_unavailable_is_one_line(spec):
    with pytest.raises(ValueError, match="CUDA is not available") as e:
        resolve_device(spec)
    assert "\n" not in str(e.value)


@CUDA
def test_resolve_device_cuda_index_out_of_range():
    n = torch.cuda.device_count()
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device(f"cuda:{n - 1}") == torch.device("cuda", n - 1)
    with pytest.raises(ValueError, match="does not exist"):
        resolve_device(f"cuda:{n}")


def test_render_config_rejects_a_bad_device(scene):
    with pytest.raises(ValueError, match="device must be"):
        _episode(scene, "hand", T=1, device="tpu")


# ---------------------------------------------------------------------- CPU unchanged
@pytest.mark.parametrize("mode", ["hand", "arm"])
def test_explicit_cpu_gives_bit_identical_frames_to_the_default(scene, mode):
    a = _episode(scene, mode)
    b = _episode(scene, mode, device="cpu")
    for name in a.camera_names:
        assert np.array_equal(a.rgb[name], b.rgb[name])
        assert np.array_equal(a.depth[name], b.depth[name])
        assert np.array_equal(a.labels[name], b.labels[name])
        assert a.rgb[name].dtype == np.uint8 and a.labels[name].dtype == np.int16


# ---------------------------------------------------------------------- tensors on the device
class _Stop(Exception):
    pass


@pytest.mark.parametrize("mode", ["hand", "arm", "none"])
def test_episode_renderer_builds_its_tensors_on_the_configured_device(scene, mode,
                                                                       monkeypatch):
    """Every tensor reaching ``rasterization`` is on the configured device: the renderer is
    pointed at PyTorch's "meta" device (no kernels run there) and a recorder stands in for
    the rasterizer."""
    import igen_gs.episode.render as er

    seen: dict[str, torch.device] = {}

    def record(*args, **kwargs):
        names = ["means", "quats", "scales", "opacities", "colors", "viewmats", "Ks"]
        for name, v in [*zip(names, args), *kwargs.items()]:
            if isinstance(v, torch.Tensor):
                seen[name] = v.device
        raise _Stop

    monkeypatch.setattr(er, "resolve_device", lambda spec: torch.device("meta"))
    monkeypatch.setattr(er, "rasterization", record)
    with pytest.raises(_Stop):
        _episode(scene, mode, T=2)
    assert {"means", "quats", "scales", "opacities", "colors", "viewmats", "Ks",
            "backgrounds", "label_ids"} <= set(seen)
    assert all(d.type == "meta" for d in seen.values()), seen


def test_scene_render_uses_the_device_of_its_gaussians(scene, monkeypatch):
    import igen_gs.scene.scene as ss

    seen = {}

    def record(*args, **kwargs):
        for i, v in enumerate([*args, *kwargs.values()]):
            if isinstance(v, torch.Tensor):
                seen[i] = v.device
        raise _Stop

    monkeypatch.setattr(ss, "rasterization", record)
    with pytest.raises(_Stop):
        scene.to("meta").render(scene.camera, background_color=(1.0, 1.0, 1.0))
    assert len(seen) >= 9 and all(d.type == "meta" for d in seen.values()), seen


# ---------------------------------------------------------------------- CUDA vs CPU
def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@CUDA
@pytest.mark.parametrize("mode", ["hand", "arm"])
def test_same_episode_on_cpu_and_cuda_agrees(scene, mode):
    """gsplat on CUDA vs the CPU kernels: PSNR >= 45 dB in colour, median depth error
    <= 1 mm where both see something, labels equal on >= 99.5 % of pixels."""
    a = _episode(scene, mode, device="cpu")
    b = _episode(scene, mode, device="cuda")
    for name in a.camera_names:
        assert _psnr(a.rgb[name], b.rgb[name]) >= 45.0, name
        both = (a.depth[name] > 0) & (b.depth[name] > 0)
        assert float(np.median(np.abs(a.depth[name] - b.depth[name])[both])) <= 1e-3, name
        assert float(np.mean(a.labels[name] == b.labels[name])) >= 0.995, name
