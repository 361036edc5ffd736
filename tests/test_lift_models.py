"""Depth and segmentation front ends of lifting.

The Depth Anything, Depth Pro, SAM and segment-anything tests build tiny randomly initialised
models from configs, save them to a temporary directory and load them by path through the code
users run: they test the plumbing (loading, caching, pre/post-processing, shapes, intrinsics
from a predicted field of view, mask selection and filtering), not the quality of any
prediction. GrabCut and the scale recovery are real checks of their results on synthetic
ground truth.
"""

from __future__ import annotations

import math
import os
import re

import numpy as np
import pytest
import torch

from igen_gs import Camera
from igen_gs.lifting.models.depth import (
    DepthModelConfig,
    estimate_depth,
    load_depth_model,
    scale_relative_depth,
)
from igen_gs.lifting.models.segment import (
    AutoMaskConfig,
    Prompt,
    SegmentConfig,
    load_sam,
    sam_candidates,
    segment_objects,
)
from igen_gs.synthetic import make_tabletop_world


# ---------------------------------------------------------------------------- tiny models
def _tiny_depth_anything(depth_type: str):
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    backbone = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                            intermediate_size=64, image_size=56, patch_size=14,
                            out_indices=[1, 2, 3, 4], reshape_hidden_states=False)
    cfg = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=32,
                              neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
                              head_hidden_size=8, depth_estimation_type=depth_type,
                              max_depth=10, patch_size=14)
    torch.manual_seed(0)
    return DepthAnythingForDepthEstimation(cfg)


@pytest.fixture(scope="module")
def tiny_depth_anything(tmp_path_factory):
    """Directories of a tiny metric and a tiny relative Depth Anything (random weights)."""
    from transformers import DPTImageProcessor

    dirs = {}
    for kind in ("metric", "relative"):
        d = tmp_path_factory.mktemp(f"tiny-depth-anything-{kind}")
        _tiny_depth_anything(kind).save_pretrained(d)
        DPTImageProcessor(size={"height": 56, "width": 56}, keep_aspect_ratio=False,
                          ensure_multiple_of=14).save_pretrained(d)
        dirs[kind] = str(d)
    return dirs


@pytest.fixture(scope="module")
def tiny_depth_pro(tmp_path_factory):
    """A tiny Depth Pro whose field-of-view head is set to predict exactly 50 degrees."""
    from transformers import (
        DepthProConfig,
        DepthProForDepthEstimation,
        DepthProImageProcessor,
        Dinov2Config,
    )

    def dino():
        return Dinov2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=32, image_size=32, patch_size=8).to_dict()

    cfg = DepthProConfig(fusion_hidden_size=16, patch_size=32, intermediate_hook_ids=[1, 0],
                         intermediate_feature_dims=[8, 8], scaled_images_ratios=[0.5, 1.0],
                         scaled_images_overlap_ratios=[0.0, 0.5],
                         scaled_images_feature_dims=[16, 16], use_fov_model=True,
                         num_fov_head_layers=1, image_model_config=dino(),
                         patch_model_config=dino(), fov_model_config=dino())
    torch.manual_seed(0)
    net = DepthProForDepthEstimation(cfg)
    head = net.fov_model.head.layers[-1]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(50.0)
    d = tmp_path_factory.mktemp("tiny-depth-pro")
    net.save_pretrained(d)
    DepthProImageProcessor(size={"height": 64, "width": 64}).save_pretrained(d)
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


@pytest.fixture(scope="module")
def tiny_sam_checkpoint(tmp_path_factory):
    """A tiny segment-anything model saved as a checkpoint file, with its builder registered
    in ``segment_anything.sam_model_registry`` as "tiny-test" (the real registry builders
    have fixed ViT sizes)."""
    from functools import partial

    from segment_anything import sam_model_registry
    from segment_anything.modeling import (
        ImageEncoderViT,
        MaskDecoder,
        PromptEncoder,
        Sam,
        TwoWayTransformer,
    )

    def build(checkpoint=None):
        sam = Sam(
            image_encoder=ImageEncoderViT(img_size=64, patch_size=16, embed_dim=32, depth=2,
                                          num_heads=2, out_chans=32, window_size=2,
                                          global_attn_indexes=(1,), use_rel_pos=True,
                                          norm_layer=partial(torch.nn.LayerNorm, eps=1e-6)),
            prompt_encoder=PromptEncoder(embed_dim=32, image_embedding_size=(4, 4),
                                         input_image_size=(64, 64), mask_in_chans=4),
            mask_decoder=MaskDecoder(num_multimask_outputs=3, transformer_dim=32,
                                     transformer=TwoWayTransformer(depth=2, embedding_dim=32,
                                                                   mlp_dim=64, num_heads=2),
                                     iou_head_depth=2, iou_head_hidden_dim=32))
        if checkpoint is not None:
            sam.load_state_dict(torch.load(checkpoint, weights_only=True))
        return sam

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-sa") / "tiny.pth"
    torch.save(build().state_dict(), path)
    sam_model_registry["tiny-test"] = build
    yield str(path)
    sam_model_registry.pop("tiny-test", None)


def _image(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


# ---------------------------------------------------------------------------- depth
def test_depth_anything_plumbing(tiny_depth_anything):
    """Plumbing only (random weights): load by path, run, resize to the image, cache."""
    from PIL import Image

    path = tiny_depth_anything["metric"]
    load_depth_model.cache_clear()
    img = _image(0)
    est = estimate_depth(img, DepthModelConfig(path))
    assert est.depth.shape == (48, 64) and est.depth.dtype == np.float32
    assert np.isfinite(est.depth).all() and (est.depth >= 0).all()
    assert est.is_metric and est.K is None and est.model == path
    # The same numbers as running the model by hand and resizing its output (bicubic).
    net, proc = load_depth_model(DepthModelConfig(path))
    with torch.no_grad():
        raw = net(**proc(images=Image.fromarray(img), return_tensors="pt")).predicted_depth
    ref = torch.nn.functional.interpolate(raw[:, None], size=(48, 64), mode="bicubic",
                                          align_corners=False)[0, 0].clamp_min(0).numpy()
    assert np.allclose(est.depth, ref, atol=1e-5)
    assert not np.array_equal(estimate_depth(_image(1), DepthModelConfig(path)).depth,
                              est.depth)
    # Loaded once; another spelling of the same directory reuses it.
    other = os.path.join(path, ".")
    estimate_depth(img, DepthModelConfig(other))
    info = load_depth_model.cache_info()
    assert info.misses == 1 and info.hits == 3


def test_relative_depth_model_is_reported_as_relative(tiny_depth_anything):
    """Plumbing only: a relative Depth Anything says so."""
    est = estimate_depth(_image(2), DepthModelConfig(tiny_depth_anything["relative"]))
    assert not est.is_metric and est.depth.shape == (48, 64)


def test_depth_pro_field_of_view_gives_intrinsics(tiny_depth_pro):
    """Plumbing only: the field of view Depth Pro predicts (50 deg here, set in the head)
    becomes K at the image's size."""
    est = estimate_depth(_image(3, 60, 80), DepthModelConfig(tiny_depth_pro))
    assert est.is_metric and est.depth.shape == (60, 80)
    f = 0.5 * 80 / math.tan(math.radians(25.0))
    assert est.K is not None
    assert np.allclose(est.K, [[f, 0, 40], [0, f, 30], [0, 0, 1]], rtol=1e-5)


def test_lift_runs_the_depth_model_when_no_depth_is_given(tiny_depth_anything):
    """Plumbing only: lift() without depth goes through the depth model."""
    from igen_gs import lift

    path = tiny_depth_anything["metric"]
    scene = lift(_image(1), depth_model=DepthModelConfig(path), refine_iterations=0)
    assert scene.meta["lift"]["depth"]["source"] == path
    assert scene.meta["lift"]["intrinsics"].startswith("default 60")


def test_missing_weights_give_a_clear_error_at_once(tmp_path, monkeypatch):
    import time

    img = np.zeros((8, 8, 3), np.uint8)
    t0 = time.perf_counter()
    with pytest.raises(ValueError) as e:
        estimate_depth(img, DepthModelConfig("igen-gs-tests/no-such-model",
                                             local_files_only=True))
    msg = str(e.value)
    assert "cannot load depth model 'igen-gs-tests/no-such-model'" in msg
    assert "not in the Hugging Face cache" in msg and "hf download" in msg and "\n" not in msg
    for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(ValueError, match="the hub is unreachable"):
        estimate_depth(img, DepthModelConfig("igen-gs-tests/no-such-model"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="the hub is unreachable"):
        segment_objects(img, {"a": {"box": [0, 0, 4, 4]}},
                        SegmentConfig("sam", "igen-gs-tests/no-such-sam"))
    assert time.perf_counter() - t0 < 10.0  # no minutes of download retries
    with pytest.raises(ValueError, match="no such directory"):
        estimate_depth(img, DepthModelConfig(str(tmp_path / "none")))
    with pytest.raises(ValueError, match="has no config.json"):
        estimate_depth(img, DepthModelConfig(str(tmp_path)))
    with pytest.raises(ValueError, match="cannot load SAM model"):
        segment_objects(img, {"a": {"box": [0, 0, 4, 4]}},
                        SegmentConfig("sam", str(tmp_path / "none")))
    with pytest.raises(ValueError, match="is not a torch device"):
        estimate_depth(img, DepthModelConfig(str(tmp_path), device="gpu please"))


@pytest.mark.parametrize("image,message", [
    (np.zeros((8, 8), np.uint8), "uint8 [H, W, 3]"),
    (np.zeros((8, 8, 3), np.float32), "uint8 [H, W, 3]"),
    (np.zeros((1, 8, 3), np.uint8), "too small"),
])
def test_bad_images(image, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        estimate_depth(image)
    with pytest.raises(ValueError, match=re.escape(message)):
        segment_objects(image, {"a": {"box": [0, 0, 1, 1]}})


# ---------------------------------------------------------------------------- SAM
def test_sam_plumbing_and_best_iou_selection(tiny_sam):
    """Plumbing only (random weights): point and box prompts give full-size masks, the
    returned mask is the candidate with the highest predicted IoU, the model loads once."""
    from PIL import Image

    load_sam.cache_clear()
    img = _image(2)
    cfg = SegmentConfig("sam", tiny_sam)
    out = segment_objects(img, {"a": {"box": [5, 5, 30, 30]},
                                "b": {"points": [[40, 20], [10, 40]], "labels": [1, 0]},
                                "c": {"box": [20, 10, 60, 40], "points": [[30, 30]]}}, cfg)
    assert set(out) == {"a", "b", "c"}
    assert all(m.shape == (48, 64) and m.dtype == bool for m in out.values())
    assert load_sam.cache_info().misses == 1
    # Recompute SAM's candidates for "a" directly with transformers.
    net, proc = load_sam(cfg)
    inputs = proc(images=Image.fromarray(img), input_boxes=[[[5.0, 5.0, 30.0, 30.0]]],
                  return_tensors="pt")
    with torch.no_grad():
        res = net(**inputs, multimask_output=True)
    cands = proc.post_process_masks(res.pred_masks, inputs["original_sizes"],
                                    inputs["reshaped_input_sizes"])[0][0].numpy()
    iou = res.iou_scores[0, 0].numpy()
    assert cands.shape[0] == 3 and len(np.unique(iou)) == 3
    best = int(np.argmax(iou))
    assert np.array_equal(out["a"], cands[best])
    ours, our_iou = sam_candidates(img, Prompt(box=(5.0, 5.0, 30.0, 30.0)), cfg)
    assert np.array_equal(ours, cands) and np.allclose(our_iou, iou)


# ---------------------------------------------------------------------------- automatic
def test_automatic_masks_plumbing(tiny_sam_checkpoint):
    """Plumbing only (random weights, filters opened up): the generator runs from a
    checkpoint file and the area/containment filters hold on what it returns."""
    img = _image(4, 40, 56)
    auto = AutoMaskConfig(checkpoint=tiny_sam_checkpoint, model_type="tiny-test",
                          points_per_side=4, pred_iou_thresh=-1e9,
                          stability_score_thresh=0.0, min_area_px=4, max_area_fraction=0.6)
    out = segment_objects(img, None, SegmentConfig("auto", auto=auto))
    assert list(out) == [f"object {i + 1}" for i in range(len(out))]
    assert len(out) >= 1
    areas = [int(m.sum()) for m in out.values()]
    assert areas == sorted(areas, reverse=True)
    assert all(4 <= a <= 0.6 * 40 * 56 for a in areas)
    masks = list(out.values())
    for i, m in enumerate(masks):
        assert m.shape == (40, 56) and m.dtype == bool
        assert all((m & k).sum() < 0.9 * m.sum() for k in masks[:i])


def test_automatic_masks_need_a_checkpoint(tmp_path, tiny_sam_checkpoint):
    img = _image(5)
    with pytest.raises(ValueError, match="needs a segment-anything checkpoint"):
        segment_objects(img, None, SegmentConfig("auto"))
    with pytest.raises(ValueError, match="checkpoint not found"):
        segment_objects(img, None, SegmentConfig("auto", auto=AutoMaskConfig(
            checkpoint=str(tmp_path / "sam.pth"))))
    with pytest.raises(ValueError, match="model type must be one of"):
        segment_objects(img, None, SegmentConfig("auto", auto=AutoMaskConfig(
            checkpoint=tiny_sam_checkpoint, model_type="vit_x")))
    with pytest.raises(ValueError, match="cannot load segment-anything checkpoint"):
        segment_objects(img, None, SegmentConfig("auto", auto=AutoMaskConfig(
            checkpoint=tiny_sam_checkpoint, model_type="vit_b")))
    with pytest.raises(ValueError, match="'auto' takes no prompts"):
        segment_objects(img, {"a": {"box": [0, 0, 4, 4]}}, SegmentConfig("auto"))


# ---------------------------------------------------------------------------- GrabCut
@pytest.fixture(scope="module")
def photo():
    world = make_tabletop_world(0)
    cam = world.default_camera(320, 240)
    return world, world.render(cam)


def test_grabcut_segments_synthetic_objects(photo):
    """A real check: GrabCut from a loose box (6 px margin) recovers each object's true
    mask (measured IoU 0.96-1.0); a point on the object gives the same."""
    world, obs = photo
    for name in world.object_names:
        gt = obs["masks"][name]
        ys, xs = np.nonzero(gt)
        box = [xs.min() - 6, ys.min() - 6, xs.max() + 7, ys.max() + 7]
        mask = segment_objects(obs["rgb"], {name: {"box": box}})[name]
        assert mask.dtype == bool and mask.shape == gt.shape
        assert (mask & gt).sum() / (mask | gt).sum() > 0.9, name
        y, x = np.argwhere(gt)[len(ys) // 2]
        seeded = segment_objects(obs["rgb"], {name: {"box": box, "points": [[x, y]]}})[name]
        assert seeded[y, x] and (seeded & gt).sum() / (seeded | gt).sum() > 0.9, name
    # Deterministic (OpenCV's RNG is seeded).
    a = segment_objects(obs["rgb"], {"m": {"box": [150, 60, 200, 110]}})["m"]
    b = segment_objects(obs["rgb"], {"m": {"box": [150, 60, 200, 110]}})["m"]
    assert np.array_equal(a, b)


@pytest.mark.parametrize("prompt,message", [
    ({"box": [0, 0, 400, 10]}, "outside the 320x240 image"),
    ({"box": [10, 10, 5, 20]}, "outside the 320x240 image or empty"),
    ({"box": [0, 0, 10]}, "box prompt for 'thing' must be 4"),
    ({"box": ["a", 0, 10, 10]}, "box prompt for 'thing' must be 4 numbers"),
    ({"points": [[-1, 5]]}, "point prompt (-1, 5)"),
    ({"points": [[5, 5, 5]]}, "point prompt for 'thing' must be 2"),
    ({"points": [[5, 5]], "labels": [2]}, "point labels"),
    ({"points": [[5, 5]], "labels": [0]}, "only background points"),
    ({}, "needs a 'box' or 'points'"),
    ({"bx": [0, 0, 1, 1]}, "unknown keys ['bx']"),
    ({"points": [[5, 5]]}, "GrabCut needs a box prompt"),
    ({"box": [0, 0, 320, 240]}, "covers the whole image"),
    ({"box": [10, 10, 11, 11]}, "smaller than 2x2"),
    ({"box": [10, 10, 30, 30]}, "GrabCut found no foreground"),  # a uniform image
])
def test_bad_prompts(prompt, message):
    img = np.zeros((240, 320, 3), np.uint8)
    with pytest.raises(ValueError) as e:
        segment_objects(img, {"thing": prompt})
    assert message in str(e.value)


def test_bad_method():
    with pytest.raises(ValueError, match="method must be one of grabcut, sam, auto"):
        segment_objects(np.zeros((8, 8, 3), np.uint8), {}, SegmentConfig("magic"))


# ---------------------------------------------------------------------------- scale
def test_scale_from_sparse_depth_is_exact(photo):
    """Affine inverse depth r = a / z + b (a, b unknown) and 1 % of pixels with metric
    depth: the fit recovers z everywhere."""
    world, obs = photo
    z = obs["depth"].astype(np.float64)
    hit = z > 0
    r = np.where(hit, 0.27 / np.where(hit, z, 1) + 0.05, 0.0)
    sparse = np.zeros_like(z)
    sparse[::10, ::10] = z[::10, ::10]
    d, src = scale_relative_depth(r, sparse_metric_depth=sparse)
    assert np.allclose(d[hit], z[hit], rtol=1e-6)
    assert src.startswith("sparse metric depth (")
    with pytest.raises(ValueError, match="at least 10 valid values"):
        scale_relative_depth(r, sparse_metric_depth=np.zeros_like(z))


def test_scale_from_a_known_object_width():
    """A 10 cm box seen square-on from 0.5 m: its known width fixes the scale; the recovered
    depth of its front face is right to the pixel quantisation of its width (< 2 %)."""
    world = make_tabletop_world(0, [{"name": "box", "kind": "box", "size": [0.1, 0.1, 0.1],
                                     "color": [0.8, 0.2, 0.2]}])
    T = torch.eye(4, dtype=torch.float64)
    world = world.move("box", T)
    cam = Camera.look_at((0.0, -0.55, 0.05), (0.0, 0.0, 0.05), width=320, height=240,
                         fov_y_deg=40.0)
    obs = world.render(cam)
    z = obs["depth"].astype(np.float64)
    hit = z > 0
    r = np.where(hit, 1.0 / (2.5 * np.where(hit, z, 1)), 0.0)
    mask = obs["masks"]["box"]
    d, src = scale_relative_depth(r, known_object=(mask, 0.1, cam.K.numpy()))
    assert abs(np.median(d[mask]) - 0.5) < 0.01
    assert np.allclose(d[hit] / z[hit], d[mask][0] / z[mask][0], rtol=1e-6)  # one scale
    assert "known object size (0.100 m" in src
    with pytest.raises(ValueError, match="non-empty mask"):
        scale_relative_depth(r, known_object=(np.zeros_like(mask), 0.1, cam.K.numpy()))
    with pytest.raises(ValueError, match="width must be positive"):
        scale_relative_depth(r, known_object=(mask, -1.0, cam.K.numpy()))


def test_scale_from_the_camera_height_above_the_table(photo):
    """Inverse depth up to scale and the camera's true height above the table (z = 0):
    recovered depth matches the ray caster's to 0.1 %."""
    world, obs = photo
    cam = world.default_camera(320, 240)
    z = obs["depth"].astype(np.float64)
    hit = z > 0
    r = np.where(hit, 1.0 / (3.7 * np.where(hit, z, 1)), 0.0)
    d, src = scale_relative_depth(r, camera_height=(float(cam.center[2]), cam.K.numpy()))
    assert np.median(np.abs(d[hit] - z[hit]) / z[hit]) < 1e-3
    assert "camera height prior (0.620 m" in src
    with pytest.raises(ValueError, match="exactly one scale source"):
        scale_relative_depth(r)
    with pytest.raises(ValueError, match="exactly one scale source"):
        scale_relative_depth(r, camera_height=(0.6, cam.K.numpy()), sparse_metric_depth=z)
    with pytest.raises(ValueError, match="camera_height must be positive"):
        scale_relative_depth(r, camera_height=(0.0, cam.K.numpy()))
    with pytest.raises(ValueError, match="no positive values"):
        scale_relative_depth(np.zeros((4, 4)), camera_height=(0.6, cam.K.numpy()))
