"""Depth and segmentation front ends of lifting.

The Depth Anything and SAM tests build tiny randomly initialised models from configs, save
them to a temporary directory and load them by path through the code users run: they test
the plumbing (loading, caching, pre/post-processing, shapes, mask selection), not the quality
of any prediction. GrabCut and the scale recovery are real checks of their results.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from igen_gs.lifting.models.depth import (
    DepthModelConfig,
    estimate_depth,
    load_depth_model,
    scale_relative_depth,
)
from igen_gs.lifting.models.segment import SegmentConfig, segment_objects
from igen_gs.synthetic import make_tabletop_world


@pytest.fixture(scope="module")
def tiny_depth_anything(tmp_path_factory):
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
                              head_hidden_size=8, depth_estimation_type="metric", max_depth=10,
                              patch_size=14)
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("tiny-depth-anything")
    DepthAnythingForDepthEstimation(cfg).save_pretrained(d)
    DPTImageProcessor(size={"height": 56, "width": 56}, keep_aspect_ratio=False,
                      ensure_multiple_of=14).save_pretrained(d)
    return str(d)


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory):
    from transformers import (
        SamConfig,
        SamImageProcessor,
        SamMaskDecoderConfig,
        SamModel,
        SamProcessor,
        SamPromptEncoderConfig,
        SamVisionConfig,
    )

    vision = SamVisionConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                             image_size=64, patch_size=16, output_channels=32, window_size=2,
                             global_attn_indexes=[1], mlp_dim=64, num_pos_feats=16)
    prompt = SamPromptEncoderConfig(hidden_size=32, image_size=64, patch_size=16,
                                    mask_input_channels=4)
    decoder = SamMaskDecoderConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                   mlp_dim=64, iou_head_hidden_dim=32)
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("tiny-sam")
    SamModel(SamConfig(vision_config=vision, prompt_encoder_config=prompt,
                       mask_decoder_config=decoder)).save_pretrained(d)
    SamProcessor(image_processor=SamImageProcessor(
        size={"longest_edge": 64}, pad_size={"height": 64, "width": 64},
        mask_size={"longest_edge": 16}, mask_pad_size={"height": 16, "width": 16}),
    ).save_pretrained(d)
    return str(d)


def test_depth_anything_plumbing(tiny_depth_anything):
    """Plumbing only (random weights): load by path, run, resize to the image, cache."""
    img = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    load_depth_model.cache_clear()
    est = estimate_depth(img, DepthModelConfig(tiny_depth_anything))
    assert est.depth.shape == (48, 64) and est.depth.dtype == np.float32
    assert np.isfinite(est.depth).all() and (est.depth >= 0).all()
    assert est.is_metric and est.K is None and est.model == tiny_depth_anything
    estimate_depth(img, DepthModelConfig(tiny_depth_anything))
    info = load_depth_model.cache_info()
    assert info.misses == 1 and info.hits == 1  # loaded once, reused


def test_lift_runs_the_depth_model_when_no_depth_is_given(tiny_depth_anything):
    """Plumbing only: lift() without depth goes through the depth model."""
    from igen_gs import lift
    from igen_gs.lifting.models.depth import DepthModelConfig

    img = (np.random.default_rng(1).random((48, 64, 3)) * 255).astype(np.uint8)
    scene = lift(img, depth_model=DepthModelConfig(tiny_depth_anything), refine_iterations=0)
    assert scene.meta["lift"]["depth"]["source"] == tiny_depth_anything
    assert scene.meta["lift"]["intrinsics"].startswith("default 60")


def test_missing_weights_give_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError) as e:
        estimate_depth(np.zeros((8, 8, 3), np.uint8), DepthModelConfig(str(tmp_path / "none")))
    assert "cannot load depth model" in str(e.value) and "give a depth map" in str(e.value)
    with pytest.raises(ValueError, match="cannot load SAM model"):
        segment_objects(np.zeros((8, 8, 3), np.uint8), {"a": {"box": [0, 0, 4, 4]}},
                        SegmentConfig("sam", str(tmp_path / "none")))


def test_sam_plumbing_and_best_iou_selection(tiny_sam):
    """Plumbing only (random weights): point and box prompts give full-size masks, and the
    returned mask is the candidate with the highest predicted IoU."""
    from PIL import Image

    from igen_gs.lifting.models.segment import load_sam

    img = (np.random.default_rng(2).random((48, 64, 3)) * 255).astype(np.uint8)
    out = segment_objects(img, {"a": {"box": [5, 5, 30, 30]}, "b": {"points": [[40, 20]]}},
                          SegmentConfig("sam", tiny_sam))
    assert set(out) == {"a", "b"}
    assert all(m.shape == (48, 64) and m.dtype == bool for m in out.values())
    net, proc = load_sam(tiny_sam)
    inputs = proc(images=Image.fromarray(img), input_boxes=[[[5.0, 5.0, 30.0, 30.0]]],
                  return_tensors="pt")
    with torch.no_grad():
        res = net(**inputs, multimask_output=True)
    cands = proc.post_process_masks(res.pred_masks, inputs["original_sizes"],
                                    inputs["reshaped_input_sizes"])[0][0]
    best = int(res.iou_scores[0, 0].argmax())
    assert np.array_equal(out["a"], cands[best].numpy().astype(bool))


def test_grabcut_segments_a_synthetic_object():
    world = make_tabletop_world(0)
    cam = world.default_camera(320, 240)
    obs = world.render(cam)
    gt = obs["masks"]["blue plate"]
    ys, xs = np.nonzero(gt)
    box = [xs.min() - 6, ys.min() - 6, xs.max() + 7, ys.max() + 7]
    mask = segment_objects(obs["rgb"], {"blue plate": {"box": box}})["blue plate"]
    iou = (mask & gt).sum() / (mask | gt).sum()
    assert iou > 0.8


@pytest.mark.parametrize("prompt,message", [
    ({"box": [0, 0, 400, 10]}, "outside the 320x240 image"),
    ({"points": [[-1, 5]]}, "point prompt (-1, 5)"),
    ({"points": [[5, 5]], "labels": [2]}, "point labels"),
    ({}, "needs a 'box' or 'points'"),
    ({"points": [[5, 5]]}, "GrabCut needs a box prompt"),
])
def test_bad_prompts(prompt, message):
    img = np.zeros((240, 320, 3), np.uint8)
    with pytest.raises(ValueError) as e:
        segment_objects(img, {"thing": prompt})
    assert message in str(e.value)


def test_scale_recovery_from_each_source():
    """Relative inverse depth r = 1 / (s z): each scale source recovers metric depth."""
    world = make_tabletop_world(0)
    cam = world.default_camera(160, 120)
    obs = world.render(cam)
    z = obs["depth"].astype(np.float64)
    hit = z > 0
    r = np.where(hit, 1.0 / (3.7 * np.where(hit, z, 1)), 0.0)
    sparse = np.zeros_like(z)
    sparse[::9, ::9] = z[::9, ::9]
    d, src = scale_relative_depth(r, sparse_metric_depth=sparse)
    assert np.allclose(d[hit], z[hit], rtol=1e-4) and "sparse metric depth" in src
    # Known width: the block's true width in pixels of its bounding box is known here.
    mask = obs["masks"]["green can"]
    cols = np.flatnonzero(mask.any(0))
    zc = float(np.median(z[mask]))
    width_m = (cols.max() - cols.min() + 1) * zc / cam.fx
    d, src = scale_relative_depth(r, known_object=(mask, width_m, cam.K.numpy()))
    assert np.allclose(d[hit], z[hit] * zc * np.median(r[mask]) * 3.7, rtol=1e-6)
    assert np.median(np.abs(d[mask] - z[mask]) / z[mask]) < 0.05
    height = float(cam.center[2])  # camera height above the table plane
    d, src = scale_relative_depth(r, camera_height=(height, cam.K.numpy()))
    assert np.median(np.abs(d[hit] - z[hit]) / z[hit]) < 0.02 and "camera height" in src
    with pytest.raises(ValueError, match="exactly one scale source"):
        scale_relative_depth(r)
