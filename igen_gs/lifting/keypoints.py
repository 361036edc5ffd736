"""Keypoints in lifting: the DINOv2 feature keypoints (:func:`feature_keypoints`: an object's
points clustered on photo patch features plus position, transformers' ``Dinov2Model``,
deterministic k-means; each cluster's most central point becomes an extra keypoint of kind
``feat<k>``) and storing the geometric keypoints in a lifted scene
(:func:`record_keypoints`).

The data types, the geometric keypoints and the drawing live in
:mod:`igen_gs.scene.keypoints` (what planning reads); they are re-exported here.
"""

from __future__ import annotations

import logging

import numpy as np

from ..scene.keypoints import (
    KINDS,
    Keypoint,
    SceneKeypoints,
    draw_keypoints,
    geometric_keypoints,
    make_keypoint,
)
from ..scene.scene import Scene

log = logging.getLogger(__name__)

__all__ = ["KINDS", "Keypoint", "SceneKeypoints", "draw_keypoints", "feature_keypoints",
           "geometric_keypoints", "record_keypoints"]


def _kmeans(X: np.ndarray, k: int, iters: int = 30) -> np.ndarray:
    """Labels [N] of a deterministic k-means (farthest-point initialisation from point 0)."""
    centres = [X[0]]
    dist = np.linalg.norm(X - X[0], axis=1)
    for _ in range(1, k):
        centres.append(X[int(np.argmax(dist))])
        dist = np.minimum(dist, np.linalg.norm(X - centres[-1], axis=1))
    C = np.stack(centres)
    labels = np.zeros(len(X), dtype=int)
    for _ in range(iters):
        labels = np.argmin(((X[:, None] - C[None]) ** 2).sum(-1), axis=1)
        newC = np.stack([X[labels == j].mean(0) if (labels == j).any() else C[j]
                         for j in range(k)])
        if np.allclose(newC, C):
            break
        C = newC
    return labels


def feature_keypoints(scene: Scene, photo: np.ndarray, model, processor=None,
                      clusters: int = 3, position_weight: float = 1.0,
                      base: SceneKeypoints | None = None) -> SceneKeypoints:
    """The geometric keypoints (``base``, default :func:`geometric_keypoints`) plus, per
    object, ``clusters`` keypoints from clustering its visible Gaussian centres on DINOv2
    patch features of ``photo`` (uint8 [H, W, 3], the scene camera's image) concatenated
    with their centred 3D positions (scaled by ``position_weight`` / the object's size).

    ``model`` is a transformers ``Dinov2Model`` (or a path / hub id to load one; weights
    must be present); ``processor`` an image processor (default: 224-px resize and ImageNet
    normalisation done here). Deterministic: the same photo and model give the same
    keypoints."""
    import torch

    if scene.camera is None:
        raise ValueError("feature keypoints need the scene's photo camera")
    photo = np.asarray(photo)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"photo must be uint8 [H, W, 3], got {photo.dtype} {list(photo.shape)}")
    if isinstance(model, str):
        from transformers import Dinov2Model

        model = Dinov2Model.from_pretrained(model)
    model.eval()
    patch = int(model.config.patch_size)
    side = max(patch, (224 // patch) * patch)
    if processor is not None:
        pix = processor(images=photo, return_tensors="pt")["pixel_values"]
    else:
        from PIL import Image

        im = np.asarray(Image.fromarray(photo).resize((side, side), Image.BICUBIC),
                        dtype=np.float32) / 255.0
        mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
        pix = torch.from_numpy(((im - mean) / std).transpose(2, 0, 1)[None].astype(np.float32))
    with torch.inference_mode():
        tokens = model(pixel_values=pix).last_hidden_state[0, 1:]
    gh, gw = pix.shape[2] // patch, pix.shape[3] // patch
    feats = tokens[: gh * gw].reshape(gh, gw, -1).double().numpy()
    feats /= np.maximum(np.linalg.norm(feats, axis=-1, keepdims=True), 1e-12)
    base = base or geometric_keypoints(scene)
    kps = list(base.keypoints)
    cam = scene.camera
    for name in scene.object_names:
        T = scene.poses[name].double().numpy()
        P = scene.objects[name].means.double().numpy() @ T[:3, :3].T + T[:3, 3]
        uv, z = cam.project(torch.as_tensor(P, dtype=torch.float64))
        uv, z = uv.numpy(), z.numpy()
        ok = (z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < cam.width) & (uv[:, 1] >= 0) & \
            (uv[:, 1] < cam.height)
        if ok.sum() < clusters:
            continue
        gx = np.clip((uv[ok, 0] / cam.width * gw).astype(int), 0, gw - 1)
        gy = np.clip((uv[ok, 1] / cam.height * gh).astype(int), 0, gh - 1)
        Q = P[ok]
        size = max(float(np.linalg.norm(Q.max(0) - Q.min(0))), 1e-6)
        X = np.concatenate([feats[gy, gx], position_weight * (Q - Q.mean(0)) / size], 1)
        labels = _kmeans(X, clusters)
        for j in range(clusters):
            members = np.flatnonzero(labels == j)
            if not len(members):
                continue
            c = X[members].mean(0)
            best = members[int(np.argmin(((X[members] - c) ** 2).sum(1)))]
            kps.append(make_keypoint(len(kps), name, f"feat{j}", Q[best], T, scene))
    return SceneKeypoints(kps, base.support_plane)


def record_keypoints(scene: Scene) -> None:
    """Store the geometric keypoints of ``scene``'s objects in ``scene.meta["keypoints"]``
    (what the keypoint planner reads). A scene without objects gets none; an object too small
    for keypoints leaves them out, with the reason in ``scene.meta["keypoints_skipped"]``."""
    if not scene.object_names:
        return
    try:
        scene.meta["keypoints"] = geometric_keypoints(scene).to_meta()
    except ValueError as e:
        log.warning("no keypoints recorded: %s", e)
        scene.meta["keypoints_skipped"] = str(e)
