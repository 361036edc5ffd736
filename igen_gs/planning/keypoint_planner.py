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
    :meth:`~igen_gs.scene.keypoints.SceneKeypoints.to_meta` writes), else the geometric
    ones computed now."""
    from ..scene.keypoints import SceneKeypoints, geometric_keypoints

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


def _kinds(keypoints, name: str) -> dict:
    """kind -> the first keypoint of that kind of object ``name``."""
    out: dict = {}
    for k in keypoints.keypoints:
        if k.object == name:
            out.setdefault(k.kind, k)
    return out


def _nearest(kps: list, p: np.ndarray, farthest: bool = False):
    d = [float(np.linalg.norm(np.asarray(k.p_world) - p)) for k in kps]
    return kps[int(np.argmax(d) if farthest else np.argmin(d))]


def pour_keypoints(keypoints, name: str, target: str):
    """(grip, spout) keypoints of object ``name`` for pouring over ``target``: the spout is
    its ``spout`` keypoint, else the rim keypoint farthest from its handle, else the rim (or
    side) keypoint nearest the target's top; the grip is the rim keypoint nearest its handle
    (not the spout), else its top."""
    kinds = _kinds(keypoints, name)
    goal = np.asarray(_kinds(keypoints, target)["top"].p_world)
    rims = [k for kind, k in kinds.items() if kind.startswith("rim")]
    sides = [kinds[c] for c in ("+a1", "-a1", "+a2", "-a2") if c in kinds]
    handle = kinds.get("handle")
    if "spout" in kinds:
        spout = kinds["spout"]
    elif rims and handle is not None:
        spout = _nearest(rims, np.asarray(handle.p_world), farthest=True)
    else:
        spout = _nearest(rims or sides, goal)
    grip = kinds["top"]
    if rims and handle is not None:
        grip = _nearest([k for k in rims if k.id != spout.id], np.asarray(handle.p_world))
    return grip, spout


def _pour_stages(keypoints, tf, name: str, target: str, angle: float, held: str | None
                 ) -> list[dict]:
    """Stages of pouring ``name`` over ``target``: (grasp,) its spout over the target's top
    with the object's lowest point 2 cm above that top, tilt by ``angle`` about the spout
    towards it (about the task direction nearest to up x (spout - top), so the spout goes
    down), tilt back, put it back where it stood (1 cm above, then release)."""
    kinds, goal = _kinds(keypoints, name), _kinds(keypoints, target)["top"]
    grip, spout = pour_keypoints(keypoints, name, target)
    plane = np.asarray(keypoints.support_plane)
    spout_h = float(plane[:3] @ np.asarray(spout.p_world) + plane[3])
    top_t = tf.to_task(np.asarray(kinds["top"].p_world)[None])[0]
    out_t = tf.to_task(np.asarray(spout.p_world)[None])[0] - top_t
    if np.hypot(out_t[0], out_t[1]) < 1e-3:  # a spout on the axis: towards the target
        out_t = tf.to_task(np.asarray(goal.p_world)[None])[0] - top_t
    axis = np.array([-out_t[1], out_t[0]])  # up x out: turning about it tips the top out
    about = max((("forward", (1.0, 0.0)), ("left", (0.0, 1.0)), ("backward", (-1.0, 0.0)),
                 ("right", (0.0, -1.0))), key=lambda c: float(axis @ np.array(c[1])))[0]
    R = tf.T_task_world[:3, :3]
    back = R @ (np.asarray(kinds["top"].p_world) - np.asarray(goal.p_world)) + [0, 0, 0.01]
    stages = [] if held == name else [{"op": "grasp", "kp": grip.id}]
    return stages + [
        {"op": "move_to", "kp": goal.id, "offset_m": [0.0, 0.0, round(spout_h + 0.02, 4)],
         "point": spout.id},
        {"op": "tilt", "deg": angle, "about": about, "pivot": spout.id},
        {"op": "tilt", "deg": -angle, "about": about, "pivot": spout.id},
        {"op": "move_to", "kp": goal.id, "offset_m": [round(float(v), 4) for v in back],
         "point": kinds["top"].id},
        {"op": "release"}]


def _strike_stage(keypoints, tf, name: str, direction: str, speed: float) -> dict:
    """Strike ``name`` moving along ``direction``: at its side keypoint facing the hand (the
    one of +-a1, +-a2 farthest back along the direction)."""
    kinds = _kinds(keypoints, name)
    d = tf.direction(direction)
    top = np.asarray(kinds["top"].p_world)
    sides = [kinds[c] for c in ("+a1", "-a1", "+a2", "-a2") if c in kinds] or [kinds["top"]]
    face = min(sides, key=lambda k: float((np.asarray(k.p_world) - top) @ d))
    return {"op": "strike", "kp": face.id, "direction": direction, "speed": float(speed)}


def rule_plan_to_stages(plan, keypoints, scene: Scene | None = None) -> StagePlan:
    """The stages of a rule (or VLM primitive) :class:`~igen_gs.planning.types.Plan`, so a
    plan can run on the stage executor:

    * pick X: grasp X's ``top`` keypoint;
    * place / stack X on / in Y: (grasp X,) move X's top to Y's top raised by X's height
      plus 1 cm, release (X drops onto Y, or into it);
    * tilt X by A: (grasp X,) tilt A degrees about forward, tilt back (as the tilt primitive,
      through the gripper's centre);
    * pour X over Y by A: see :func:`_pour_stages` (spout and grip: :func:`pour_keypoints`);
    * strike X D at V: one strike stage at X's side facing the hand (:func:`_strike_stage`).

    Pour and strike need ``scene`` (for its task frame: which way is forward). The motion
    differs from the primitives' in detail (the grasp nearest the top keypoint, the release
    height); the objects end where the primitives put them to within about a centimetre
    (tests/test_stages.py measures it). Other steps (push, move_to, lift, rotate, beside
    relations) have no stage form here: ValueError naming the step."""
    from .types import POUR_DEG, STRIKE_MPS

    plane = np.asarray(keypoints.support_plane)
    top, height = {}, {}
    for k in keypoints.keypoints:
        if k.kind == "top" and k.object not in top:
            top[k.object] = k.id
            height[k.object] = float(plane[:3] @ np.asarray(k.p_world) + plane[3])
    tf = None
    stages: list[dict] = []
    held = None
    for i, step in enumerate(plan.steps, 1):
        for n in (step.object, step.target):
            if n is not None and n not in top:
                raise ValueError(f"step {i} ({step.describe()}) names {n!r}, which has no "
                                 "keypoints")
        if step.action in ("pour", "strike"):
            if scene is None:
                raise ValueError(f"step {i} ({step.describe()}) needs the scene (its task "
                                 "frame) to become stages")
            if tf is None:
                from .geometry import task_frame

                tf = task_frame(scene)
            if held is not None and held != step.object:
                raise ValueError(f"step {i} ({step.describe()}): still holding {held!r}")
        if step.action == "pour":
            if step.target is None:
                raise ValueError(f"step {i} ({step.describe()}) needs a target")
            angle = POUR_DEG if step.angle_deg is None else float(step.angle_deg)
            stages += _pour_stages(keypoints, tf, step.object, step.target, angle, held)
            held = None
            continue
        if step.action == "strike":
            if held is not None:
                raise ValueError(f"step {i} ({step.describe()}): still holding {held!r} "
                                 "(a strike needs the closed, empty gripper)")
            stages.append(_strike_stage(keypoints, tf, step.object, step.direction or "forward",
                                        STRIKE_MPS if step.speed_mps is None
                                        else step.speed_mps))
            continue
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
