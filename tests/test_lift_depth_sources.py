"""Where lifting gets metric depth when none is given: a depth model, scaled by an explicit
source when it predicts relative depth.

The models here are tiny randomly initialised Depth Anything networks built from configs,
saved to a temporary directory and loaded by path through the code users run: these tests
check the plumbing (which scale source is applied, that it is applied, that it is reported,
and the errors), not the quality of any prediction.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from igen_gs import lift
from igen_gs.lifting.config import LiftConfig
from igen_gs.lifting.depth_input import depth_from_model
from igen_gs.lifting.models.depth import DepthModelConfig, estimate_depth


def _tiny_depth_anything(directory, kind: str) -> str:
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessor,
    )

    backbone = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                            image_size=56, patch_size=14, out_indices=[1, 2, 3, 4],
                            reshape_hidden_states=False)
    cfg = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=32,
                              neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
                              head_hidden_size=8, depth_estimation_type=kind, max_depth=10,
                              patch_size=14)
    torch.manual_seed(0)
    DepthAnythingForDepthEstimation(cfg).save_pretrained(directory)
    DPTImageProcessor(size={"height": 56, "width": 56}, keep_aspect_ratio=False,
                      ensure_multiple_of=14).save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="module")
def relative_model(tmp_path_factory):
    return DepthModelConfig(_tiny_depth_anything(tmp_path_factory.mktemp("da-rel"), "relative"))


@pytest.fixture(scope="module")
def metric_model(tmp_path_factory):
    return DepthModelConfig(_tiny_depth_anything(tmp_path_factory.mktemp("da-met"), "metric"))


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    return (rng.random((60, 80, 3)) * 255).astype(np.uint8)


def test_relative_depth_needs_a_scale_source(relative_model, image):
    with pytest.raises(ValueError, match="predicts relative depth: give a scale source"):
        lift(image, depth_model=relative_model)


def test_sparse_depth_scales_a_relative_prediction(relative_model, image):
    """Sparse metric depth made from the model's own prediction through a known affine map of
    inverse depth: the fit recovers exactly that map (where the prediction is positive)."""
    rel = estimate_depth(image, relative_model).depth.astype(np.float64)
    pos = rel > 1e-9
    assert pos.mean() > 0.1
    truth = np.where(pos, 1.0 / (0.5 * rel / rel.max() + 0.25), 0.0)  # metres, 1.33 to 4
    sparse = np.zeros_like(truth)
    sparse[::4, ::4] = truth[::4, ::4]
    cfg = LiftConfig(depth_is_sparse=True)
    depth, K, info = depth_from_model(image, sparse, None, {}, cfg, relative_model)
    assert np.allclose(depth, truth, rtol=1e-4) and K is None
    assert info["scale_source"].startswith(f"sparse metric depth ({int((sparse > 0).sum())} ")
    scene = lift(image, sparse, depth_model=relative_model, depth_is_sparse=True,
                 refine_iterations=0)
    assert scene.meta["lift"]["depth"]["scale_source"].startswith("sparse metric depth")
    z = scene.background.means[:, 2].numpy()
    assert 1.3 < z.min() and z.max() < 4.1


def test_sparse_depth_rescales_a_metric_prediction(metric_model, image):
    pred = estimate_depth(image, metric_model).depth.astype(np.float64)
    sparse = np.zeros_like(pred)
    sparse[::6, ::6] = 2.5 * pred[::6, ::6]
    depth, _, info = depth_from_model(image, sparse, None, {}, LiftConfig(depth_is_sparse=True),
                                      metric_model)
    assert np.allclose(depth, 2.5 * pred, rtol=1e-5)
    assert "x2.5000" in info["scale_source"]


def test_camera_height_and_known_object_scale_sources(relative_model, image):
    K = np.array([[60.0, 0, 40], [0, 60.0, 30], [0, 0, 1]])
    cfg = LiftConfig(camera_height_m=0.8)
    depth, _, info = depth_from_model(image, None, K, {}, cfg, relative_model)
    rel = estimate_depth(image, relative_model).depth
    assert "camera height" in info["scale_source"]
    assert (depth[rel > 1e-9] > 0).all() and (depth[rel <= 1e-9] == 0).all()
    mask = np.zeros((60, 80), bool)
    mask[20:40, 30:50] = True  # 20 px wide
    cfg = LiftConfig(known_object_width=("box", 0.1))
    depth, _, info = depth_from_model(image, None, K, {"box": mask}, cfg, relative_model)
    # A 10 cm object 20 px wide at f = 60 px is 0.3 m away (median over the object's pixels
    # with a prediction).
    assert np.median(depth[mask & (rel > 1e-9)]) == pytest.approx(0.3, rel=1e-3)
    assert "known object" in info["scale_source"]


@pytest.mark.parametrize("kwargs,message", [
    (dict(depth_is_sparse=True), "depth_is_sparse is set but no depth was given"),
    (dict(depth=np.zeros((60, 80)), depth_is_sparse=True), "depth has no valid values"),
    (dict(depth=np.pad(np.ones((3, 3)), ((0, 57), (0, 77))), depth_is_sparse=True),
     "only 9 valid depth values; need >= 10"),
    (dict(camera_height_m=1.0, known_object_width=("a", 0.1)), "at most one depth scale source"),
    (dict(known_object_width=("cup", 0.1)), "names 'cup', which has no mask or prompt"),
])
def test_scale_source_errors(relative_model, image, kwargs, message):
    with pytest.raises(ValueError) as e:
        lift(image, depth_model=relative_model, **kwargs)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_metric_model_rejects_relative_scale_sources(metric_model, image):
    with pytest.raises(ValueError, match="scales relative depth, but .* predicts metric depth"):
        lift(image, depth_model=metric_model, camera_height_m=1.0)
