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


def _episode(scene, mode: str, T: int = 3, backface_cos: float | None = -0.1, **render):
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
    cfg = RenderConfig(robot=RobotConfig(mode=mode, backface_cos=backface_cos), **render)
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
    the rasterizer. Meta tensors hold no values, so the arm's back faces, a choice made
    from the values, are not left out here (``backface_cos=None``)."""
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
        _episode(scene, mode, T=2, backface_cos=None)
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


# ---------------------------------------------------------------------- batch on GPUs
def test_gpu_assignment_one_each_round_robin_or_shared():
    from igen_gs.batch.executors import gpu_assignment, visible_gpus

    assert gpu_assignment(3, []) == [None, None, None]  # CPU: nothing changes
    assert gpu_assignment(3, ["0"]) == [None, None, None]  # one GPU: shared
    assert gpu_assignment(2, ["0", "1", "2", "3"]) == ["0", "1"]
    assert gpu_assignment(5, ["0", "1"]) == ["0", "1", "0", "1", "0"]
    assert visible_gpus(2, "") == ["0", "1"]
    assert visible_gpus(2, "3, 5,7") == ["3", "5"]  # the driver's own restriction is kept
    assert visible_gpus(0, "") == []
    with pytest.raises(ValueError, match="workers"):
        gpu_assignment(0, ["0"])


def test_ray_gpus_per_task():
    from igen_gs.batch.executors import ray_gpus_per_task

    assert ray_gpus_per_task(4, 0) == 0.0
    assert ray_gpus_per_task(4, 1) == 0.25
    assert ray_gpus_per_task(3, 1) == 0.3333
    assert ray_gpus_per_task(2, 4) == 1.0
    assert ray_gpus_per_task(2, 2) == 1.0


def test_local_executor_sets_cuda_visible_devices_per_worker(monkeypatch):
    """With a fake GPU count the pool hands each worker its own GPU id (checked in the
    workers' environment); without GPUs the environment is left alone."""
    from igen_gs.batch.executors import LocalExecutor

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    ex = LocalExecutor(workers=2, threads_per_worker=1, gpus=2)
    assert ex.assignment == ["4", "6"]
    seen = {v for _, ok, v in ex.map_unordered(_visible_devices, range(6)) if ok}
    assert seen <= {"4", "6"} and seen  # each worker sees its own one
    cpu = LocalExecutor(workers=2, threads_per_worker=1)
    assert cpu.assignment == [None, None]
    assert {v for _, _, v in cpu.map_unordered(_visible_devices, range(2))} == {"4,6"}


def _visible_devices(_):
    import os
    import time

    time.sleep(0.2)  # let both workers take jobs
    return os.environ.get("CUDA_VISIBLE_DEVICES")


def test_generate_config_device_reaches_every_stage_and_cpu_uses_no_gpu():
    from igen_gs.batch.generate import job_gpus, with_device
    from igen_gs.batch.generate_config import GenerateConfig

    cfg = with_device(GenerateConfig(device="cpu"))
    assert cfg.lift.device == "cpu" and cfg.episode.render.device == "cpu"
    assert job_gpus(cfg) == 0
    assert with_device(GenerateConfig()) == GenerateConfig()  # None: nothing changes
    with pytest.raises(ValueError, match="device must be"):
        with_device(GenerateConfig(device="tpu"))
    if not torch.cuda.is_available():
        assert job_gpus(GenerateConfig()) == 0  # "auto" here is the CPU
        with pytest.raises(ValueError, match="CUDA is not available"):
            with_device(GenerateConfig(device="cuda"))


# ---------------------------------------------------------------------- lifting
def _refine_inputs(scene):
    """The composed scene with colours off by 0.1, each Gaussian's pixel, and the photo."""
    cam = scene.camera
    target = (scene.render(cam, labels=False)["rgb"][0].clamp(0, 1) * 255 + 0.5).to(
        torch.uint8).numpy()
    field, _ = scene.compose()
    from igen_gs.scene.field import GaussianField, rgb_to_sh_dc, sh_dc_to_rgb

    sh = field.sh.clone()
    sh[:, 0] = rgb_to_sh_dc((sh_dc_to_rgb(sh[:, 0]) + 0.1).clamp(0, 1))
    field = GaussianField(field.means, field.quats, field.scales, field.opacities, sh)
    uv, z = cam.project(field.means.double())
    u, v = uv[:, 0].floor().long(), uv[:, 1].floor().long()
    inside = (z > 0) & (u >= 0) & (u < cam.width) & (v >= 0) & (v < cam.height)
    pix = torch.where(inside, v * cam.width + u, -1).numpy()
    return field, pix, target, cam


def test_refine_explicit_cpu_is_bit_identical_and_returns_cpu(scene):
    from igen_gs.lifting.refine import refine_colours

    field, pix, target, cam = _refine_inputs(scene)
    a = refine_colours(field, pix, target, cam, 2)
    b = refine_colours(field, pix, target, cam, 2, device="cpu")
    assert torch.equal(a, b) and b.device.type == "cpu"
    from igen_gs.scene.field import sh_dc_to_rgb

    assert float((a - sh_dc_to_rgb(field.sh[:, 0])).abs().max()) > 0.01  # colours moved


def test_refine_renders_on_the_configured_device(scene, monkeypatch):
    import igen_gs.render as r
    from igen_gs.lifting.refine import refine_colours

    field, pix, target, cam = _refine_inputs(scene)
    seen = []

    def record(*args, **kwargs):
        seen.extend(v.device for v in [*args, *kwargs.values()] if isinstance(v, torch.Tensor))
        raise _Stop

    import igen_gs.device

    monkeypatch.setattr(r, "rasterization", record)
    monkeypatch.setattr(igen_gs.device, "resolve_device", lambda spec: torch.device("meta"))
    with pytest.raises(_Stop):
        refine_colours(field, pix, target, cam, 1, device="cuda")
    assert len(seen) >= 7 and all(d.type == "meta" for d in seen), seen


def test_lift_config_rejects_a_bad_device_before_any_work():
    from igen_gs.lifting.config import resolve_config

    with pytest.raises(ValueError, match="device must be"):
        resolve_config(None, {"device": "tpu"})
    assert resolve_config(None, {"device": "cpu"}).device == "cpu"


@CUDA
def test_refine_on_cuda_matches_cpu(scene):
    """Tolerance: gsplat and the CPU kernels agree to ~1e-4 per render; two refinement
    steps keep the colours within 0.01 (max) and 1e-3 (mean) of the CPU's."""
    from igen_gs.lifting.refine import refine_colours

    field, pix, target, cam = _refine_inputs(scene)
    a = refine_colours(field, pix, target, cam, 2, device="cpu")
    b = refine_colours(field, pix, target, cam, 2, device="cuda")
    assert b.device.type == "cpu"
    d = (a - b).abs()
    assert float(d.max()) <= 0.01 and float(d.mean()) <= 1e-3


# ---------------------------------------------------------------------- the CLI
@pytest.mark.parametrize("spec,msg", [("tpu", "device must be 'auto', 'cpu', 'cuda' or"),
                                      ("cuda:0", "CUDA is not available")])
def test_cli_bad_device_is_one_line(tmp_path, spec, msg):
    import subprocess
    import sys

    from PIL import Image

    if spec.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    Image.new("RGB", (32, 24)).save(tmp_path / "photo.png")
    np.save(tmp_path / "depth.npy", np.ones((24, 32), np.float32))
    r = subprocess.run([sys.executable, "-c", "from igen_gs.cli.main import entrypoint; "
                        "entrypoint()", "lift", str(tmp_path / "photo.png"), "--depth",
                        str(tmp_path / "depth.npy"), "--out", str(tmp_path / "scene"),
                        "--device", spec], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("igen: error:") and msg in lines[0], r.stderr
    assert not (tmp_path / "scene").exists()
