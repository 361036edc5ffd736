"""Automatic segmentation inside lifting (no masks, no prompts).

The segment-anything model here is tiny and randomly initialised, built from its modules,
saved as a checkpoint file and loaded by path through the code users run: these tests check
the plumbing (found objects become named objects of the scene, small ones stay background,
given masks win), not the quality of any mask.
"""

from __future__ import annotations

from functools import partial

import pytest
import torch

from igen_gs import lift
from igen_gs.lifting.models.segment import AutoMaskConfig, SegmentConfig
from igen_gs.synthetic import make_tabletop_world


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A tiny segment-anything checkpoint; its builder is registered as "tiny-lift-test" in
    ``segment_anything.sam_model_registry`` (the real builders have fixed ViT sizes)."""
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
    sam_model_registry["tiny-lift-test"] = build
    yield str(path)
    sam_model_registry.pop("tiny-lift-test", None)


@pytest.fixture(scope="module")
def photo():
    world = make_tabletop_world(0)
    cam = world.default_camera(160, 120)
    return world, cam, world.render(cam)


def _auto(checkpoint: str) -> SegmentConfig:
    # Filters opened up: with random weights the generator's masks are large blobs.
    return SegmentConfig("auto", auto=AutoMaskConfig(
        checkpoint=checkpoint, model_type="tiny-lift-test", points_per_side=4,
        pred_iou_thresh=-1e9, stability_score_thresh=0.0, min_area_px=4,
        max_area_fraction=0.6))


def test_automatic_objects_become_scene_objects(tiny_checkpoint, photo):
    from igen_gs.lifting.models.segment import segment_objects

    world, cam, obs = photo
    seg = _auto(tiny_checkpoint)
    found = segment_objects(obs["rgb"], None, seg)
    assert list(found) == ["object 1"]
    scene = lift(obs["rgb"], obs["depth"], cam.K, segmenter=seg, refine_iterations=0)
    meta = scene.meta["lift"]
    assert meta["segmentation"] == "auto" and meta["automatic_objects"] == ["object 1"]
    assert scene.object_names == ["object 1"]
    # The object's Gaussians sit on its mask's pixels. (This random blob spans table and
    # floor, several metres: too large to be given a back side, so all are visible points.)
    assert "skipped" in meta["object_completion"]["object 1"]
    m = found["object 1"]
    world_means = scene.objects["object 1"].transform(scene.poses["object 1"]).means
    uv, z = scene.camera.project(world_means)
    u, v = uv[:, 0].long().numpy(), uv[:, 1].long().numpy()
    assert (z.numpy() > 0).all() and m[v, u].mean() > 0.99
    assert len(u) > 0.8 * (m & (obs["depth"] > 0)).sum()
    # Too small to lift (here: any size, by the threshold): it stays background, no error.
    many = int(m.sum()) + 1
    scene = lift(obs["rgb"], obs["depth"], cam.K, segmenter=seg, refine_iterations=0,
                 min_object_pixels=many)
    assert scene.object_names == [] and scene.meta["lift"]["automatic_objects"] == []
    with pytest.raises(ValueError, match="object 'mine' has only"):  # a given mask: an error
        lift(obs["rgb"], obs["depth"], cam.K, masks={"mine": m}, min_object_pixels=many)


def test_given_masks_win_over_automatic_objects(tiny_checkpoint, photo):
    from igen_gs.lifting.models.segment import segment_objects

    world, cam, obs = photo
    seg = _auto(tiny_checkpoint)
    found = segment_objects(obs["rgb"], None, seg)
    scene = lift(obs["rgb"], obs["depth"], cam.K, masks={"mine": found["object 1"]},
                 segmenter=seg, refine_iterations=0)
    assert scene.object_names == ["mine"] and scene.meta["lift"]["automatic_objects"] == []
    with pytest.raises(ValueError, match="'auto' takes no prompts"):
        lift(obs["rgb"], obs["depth"], cam.K, prompts={"a": {"box": [0, 0, 9, 9]}},
             segmenter=seg)
    with pytest.raises(ValueError, match="needs a segment-anything checkpoint"):
        lift(obs["rgb"], obs["depth"], cam.K, segmenter=SegmentConfig("auto"))


def test_erased_things_are_not_automatic_objects(tiny_checkpoint, photo):
    """A found object mostly inside an erase mask is the thing being erased (a robot): it
    becomes neither an object nor background."""
    from igen_gs.lifting.models.segment import segment_objects

    world, cam, obs = photo
    seg = _auto(tiny_checkpoint)
    m = segment_objects(obs["rgb"], None, seg)["object 1"]
    scene = lift(obs["rgb"], obs["depth"], cam.K, erase={"robot": m}, segmenter=seg,
                 refine_iterations=0)
    assert scene.object_names == [] and scene.meta["lift"]["automatic_objects"] == []
    assert scene.meta["lift"]["erase"]["robot"]["erased_pixels"] == int(m.sum())
    with pytest.raises(ValueError, match="erase prompts are segmented with GrabCut or SAM"):
        lift(obs["rgb"], obs["depth"], cam.K, erase_prompts={"robot": {"box": [0, 0, 9, 9]}},
             segmenter=seg)
