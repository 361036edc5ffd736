"""The keypoint planner's recipe: keypoints of the scene, stages (from a file, given, or
asked of a VLM that sees the photo with the keypoints drawn), one compiled trajectory."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..scene.scene import Scene
from .config import PlanConfig
from .stages import StagePlan, load_stages, validate_stages
from .types import Trajectory


def scene_keypoints(scene: Scene):
    """The scene's numbered keypoints: ``scene.meta["keypoints"]`` when it holds them (as
    :meth:`~igen_gs.lifting.keypoints.SceneKeypoints.to_meta` writes), else the geometric
    ones computed now."""
    from ..lifting.keypoints import SceneKeypoints, geometric_keypoints

    meta = scene.meta.get("keypoints") if isinstance(scene.meta, dict) else None
    if meta is not None:
        kp = SceneKeypoints.from_meta(meta)
        unknown = {k.object for k in kp.keypoints} - set(scene.object_names)
        if unknown:
            raise ValueError(f"the scene's keypoints name unknown objects {sorted(unknown)}")
        return kp
    return geometric_keypoints(scene)


def plan_keypoint_task(scene: Scene, instruction: str | None, config: PlanConfig | None = None,
                       stages: StagePlan | dict | str | Path | None = None,
                       photo: np.ndarray | None = None) -> Trajectory:
    """Trajectory of ``stages`` (a stage file, a parsed document or a :class:`StagePlan`,
    validated against the scene's keypoints) or, without them, of the stages a VLM
    (``config.vlm``) writes for ``instruction`` from ``photo`` (uint8 [H, W, 3]; default:
    the scene rendered from its photo camera) with the keypoints drawn on it."""
    cfg = config or PlanConfig()
    if not scene.object_names:
        raise ValueError("the scene has no objects to manipulate")
    kp = scene_keypoints(scene)
    if stages is None:
        from .keypoint_vlm import keypoint_vlm_plan

        if instruction is None or not instruction.strip():
            raise ValueError("the keypoint VLM planner needs an instruction")
        if photo is None and scene.camera is not None and cfg.vlm.send_image:
            photo = (scene.render(scene.camera, labels=False)["rgb"][0].clamp(0, 1) * 255
                     + 0.5).byte().numpy()
        plan = keypoint_vlm_plan(instruction, scene.object_names, kp, cfg.vlm, photo,
                                 cfg.motion.max_speed)
    elif isinstance(stages, (str, Path)):
        plan = load_stages(stages, kp)
    elif isinstance(stages, StagePlan):
        planner = stages.planner
        plan = validate_stages(stages.to_dict(), kp)
        plan.planner = planner
    else:
        plan = validate_stages(stages, kp)
    if instruction:
        plan.instruction = instruction
    from .stage_compiler import compile_stages

    return compile_stages(scene, plan, kp, cfg)
