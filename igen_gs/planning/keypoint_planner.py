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


def _read_photo(path, scene: Scene) -> np.ndarray:
    """The photo at ``path`` (uint8 [H, W, 3]); it must have the scene camera's size, since
    the keypoints are drawn at that camera's pixels."""
    from ..imageio import read_rgb

    rgb = read_rgb(path)
    if scene.camera is not None and rgb.shape[:2] != (scene.camera.height, scene.camera.width):
        raise ValueError(f"photo {path} is {rgb.shape[1]}x{rgb.shape[0]}, but the scene's camera "
                         f"is {scene.camera.width}x{scene.camera.height}")
    return rgb


def plan_keypoint_task(scene: Scene, instruction: str | None, config: PlanConfig | None = None,
                       stages: StagePlan | dict | str | Path | None = None,
                       photo: np.ndarray | None = None) -> Trajectory:
    """Trajectory of ``stages`` (a stage file, a parsed document or a :class:`StagePlan`,
    validated against the scene's keypoints) or, without them, of the stages a VLM
    (``config.vlm``) writes for ``instruction`` from ``photo`` (uint8 [H, W, 3]; default:
    the image file ``config.vlm.photo``, else the scene rendered from its photo camera) with
    the keypoints drawn on it."""
    cfg = config or PlanConfig()
    if not scene.object_names:
        raise ValueError("the scene has no objects to manipulate")
    kp = scene_keypoints(scene)
    if stages is None:
        from .keypoint_vlm import keypoint_vlm_plan

        if instruction is None or not instruction.strip():
            raise ValueError("the keypoint VLM planner needs an instruction")
        if photo is None and cfg.vlm.photo and cfg.vlm.send_image:
            photo = _read_photo(cfg.vlm.photo, scene)
        if photo is None and scene.camera is not None and cfg.vlm.send_image:
            photo = (scene.render(scene.camera, labels=False)["rgb"][0].clamp(0, 1) * 255
                     + 0.5).byte().cpu().numpy()
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


def rule_plan_to_stages(plan, keypoints) -> StagePlan:
    """The stages of a rule (or VLM primitive) :class:`~igen_gs.planning.types.Plan`, so a
    plan can run on the stage executor:

    * pick X: grasp X's ``top`` keypoint;
    * place / stack X on / in Y: (grasp X,) move X's top to Y's top raised by X's height
      plus 1 cm, release (X drops onto Y, or into it);
    * tilt X by A: (grasp X,) tilt A degrees about forward, tilt back (as the tilt primitive,
      through the gripper's centre).

    The motion differs from the primitives' in detail (the grasp nearest the top keypoint,
    the release height); the objects end where the primitives put them to within about a
    centimetre (tests/test_stages.py measures it). Other steps (push, move_to, lift, rotate,
    beside relations) have no stage form here: ValueError naming the step."""
    plane = np.asarray(keypoints.support_plane)
    top, height = {}, {}
    for k in keypoints.keypoints:
        if k.kind == "top" and k.object not in top:
            top[k.object] = k.id
            height[k.object] = float(plane[:3] @ np.asarray(k.p_world) + plane[3])
    stages: list[dict] = []
    held = None
    for i, step in enumerate(plan.steps, 1):
        for n in (step.object, step.target):
            if n is not None and n not in top:
                raise ValueError(f"step {i} ({step.describe()}) names {n!r}, which has no "
                                 "keypoints")
        if step.action in ("pick", "place", "stack", "tilt") and held != step.object:
            if held is not None:
                raise ValueError(f"step {i} ({step.describe()}): still holding {held!r}")
            stages.append({"op": "grasp", "kp": top[step.object]})
            held = step.object
        if step.action == "pick":
            continue
        if step.action in ("place", "stack") and (step.relation or "on") in ("on", "in"):
            if step.target is None:
                raise ValueError(f"step {i} ({step.describe()}) needs a target")
            stages += [{"op": "move_to", "kp": top[step.target],
                        "offset_m": [0.0, 0.0, height[step.object] + 0.01],
                        "point": top[step.object]},
                       {"op": "release"}]
            held = None
        elif step.action == "tilt":
            angle = 90.0 if step.angle_deg is None else float(step.angle_deg)
            stages += [{"op": "tilt", "deg": angle, "about": "forward"},
                       {"op": "tilt", "deg": -angle, "about": "forward"}]
        else:
            raise ValueError(f"step {i} ({step.describe()}) has no stage form; run it with "
                             "the rule planner's motion")
    out = validate_stages({"stages": stages}, keypoints)
    out.instruction, out.planner = plan.instruction, f"{plan.planner}-stages"
    return out
