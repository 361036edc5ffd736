"""The robosuite side of the bridge: a server that owns one robosuite environment and answers
requests read from stdin with replies written to stdout (the :mod:`igen_gs.envs.wire` format).

It runs in robosuite's own virtual environment (robosuite 1.5.2 pins NumPy 1.26 and pulls
opencv-python, neither of which belongs in ours), started by
:class:`igen_gs.envs.robosuite.RobosuiteEnv` as ``<robosuite python> robosuite_server.py``.
It imports only the standard library, NumPy and robosuite (MuJoCo); ``wire.py`` is loaded by
file path from beside it. Anything robosuite prints goes to stderr: stdout carries messages
only.

Requests are dicts ``{"cmd": name, ...}``; replies ``{"ok": True, ...}`` or ``{"ok": False,
"error": "one line"}``. Commands: ``make``, ``reset``, ``step``, ``state``, ``capture``,
``set_state``, ``render``, ``mount``, ``close`` (see the handlers below). Images are returned
top row first (MuJoCo renders bottom-up; rows are flipped here, once).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent

T_SITE_TCP = np.array([[0.0, -1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.007],
                       [0.0, 0.0, 0.0, 1.0]])
"""igen-gs's TCP frame in robosuite's Panda grip site frame: the same approach axis (+z), 7 mm
further along it; the fingers open along the site's x axis, the TCP's -y. With this, the
planner's Panda forward kinematics of the simulator's joint angles give the simulator's TCP
pose (checked in the tests)."""


def _load_wire():
    spec = importlib.util.spec_from_file_location("_igen_wire", _HERE / "wire.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def flip_rows(image: np.ndarray) -> np.ndarray:
    """MuJoCo's bottom-up image -> top row first (OpenCV / every image file)."""
    return np.ascontiguousarray(image[::-1])


def _mat(pos, xmat) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = np.asarray(xmat, dtype=np.float64).reshape(3, 3)
    T[:3, 3] = pos
    return T


def _quat_wxyz_to_mat(q) -> np.ndarray:
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _mat_to_quat_wxyz(R) -> np.ndarray:
    R = np.asarray(R, dtype=np.float64)
    t = np.trace(R)
    if t > 0:
        s = np.sqrt(t + 1.0) * 2
        q = [0.25 * s, (R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s]
    elif R[0, 0] > R[1, 1] and R[0, 0] > R[2, 2]:
        s = np.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2]) * 2
        q = [(R[2, 1] - R[1, 2]) / s, 0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s]
    elif R[1, 1] > R[2, 2]:
        s = np.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2]) * 2
        q = [(R[0, 2] - R[2, 0]) / s, (R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s]
    else:
        s = np.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1]) * 2
        q = [(R[1, 0] - R[0, 1]) / s, (R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s]
    return np.asarray(q)


class Server:
    """One robosuite environment and its request handlers."""

    def __init__(self):
        self.env = None
        self.spec: dict = {}

    # ------------------------------------------------------------------ set-up
    def make(self, task: str, seed: int = 0, cameras=("agentview",), width: int = 84,
             height: int = 84, placement=None, horizon: int = 400, control_freq: int = 20,
             **_):
        """Create the environment (Panda, default OSC_POSE composite controller, RGB
        observations of ``cameras`` at ``width`` x ``height``). ``placement``: None for the
        task's own initial-state range, or {"x_range": [lo, hi], "y_range": [lo, hi],
        "yaw_range": [lo, hi] or None (any yaw)} (metres/radians about the table centre)."""
        import robosuite as suite
        from robosuite.utils.placement_samplers import UniformRandomSampler

        if self.env is not None:
            self.env.close()
            self.env = None
        kwargs = {}
        self._sampler_rng = np.random.default_rng(seed)
        if placement is not None:
            kwargs["placement_initializer"] = UniformRandomSampler(
                name="ObjectSampler", mujoco_objects=None,
                x_range=list(placement["x_range"]), y_range=list(placement["y_range"]),
                rotation=None if placement.get("yaw_range") is None else
                list(placement["yaw_range"]),
                rotation_axis="z", ensure_object_boundary_in_range=False,
                ensure_valid_placement=True, reference_pos=np.array((0.0, 0.0, 0.8)),
                z_offset=0.01, rng=self._sampler_rng)
        try:
            self.env = suite.make(
                task, robots="Panda", has_renderer=False, has_offscreen_renderer=True,
                use_camera_obs=bool(cameras), camera_names=list(cameras) or "agentview",
                camera_widths=int(width), camera_heights=int(height), control_freq=control_freq,
                horizon=int(horizon), hard_reset=False, ignore_done=True, reward_shaping=False,
                seed=int(seed), **kwargs)
        except Exception as e:  # robosuite raises many kinds for a bad task name
            raise ValueError(f"robosuite could not make task {task!r}: {e}") from None
        self.spec = {"task": task, "cameras": list(cameras), "width": int(width),
                     "height": int(height)}
        env = self.env
        # sites are markers, not things: the observations do not show them, and neither
        # may the photos and renders taken here (the grip site's green line otherwise shows)
        env.sim.model.site_rgba[:, 3] = 0.0
        robot = env.robots[0]
        self.site_id = robot.eef_site_id["right"] if isinstance(robot.eef_site_id, dict) \
            else robot.eef_site_id
        self.base_body = env.sim.model.body_name2id(robot.robot_model.root_body)
        self.finger_qpos = robot._ref_gripper_joint_pos_indexes["right"] \
            if isinstance(robot._ref_gripper_joint_pos_indexes, dict) \
            else robot._ref_gripper_joint_pos_indexes
        self.arm_qpos = robot._ref_joint_pos_indexes
        self.objects = {name: env.sim.model.body_name2id(obj.root_body)
                        for name, obj in self._task_objects().items()}
        self.object_joints = {name: obj.joints[0] for name, obj in self._task_objects().items()}
        inst = list(env.model.instances_to_ids)
        return {"objects": list(self.objects), "instances": inst,
                "action_dim": int(env.action_dim),
                "control_freq": float(env.control_freq),
                "table_height": float(env.model.mujoco_arena.table_offset[2]),
                "object_sizes": {n: np.asarray(o.size, dtype=np.float64) * 2
                                 for n, o in self._task_objects().items()}}

    def _task_objects(self) -> dict:
        env = self.env
        names = [a for a in ("cube", "cubeA", "cubeB", "obj", "nut") if hasattr(env, a)]
        out = {}
        for a in names:
            o = getattr(env, a)
            out[o.name] = o
        if not out:
            raise ValueError(f"task {self.spec['task']!r}: no known task objects found")
        return out

    # ------------------------------------------------------------------ episodes
    def reset(self, seed: int, **_):
        """A deterministic reset: the same seed gives the same initial state (robot noise and
        object placement both draw from a generator seeded here)."""
        env = self._need()
        env.rng = np.random.default_rng(int(seed))
        env.placement_initializer.rng = env.rng
        obs = env.reset()
        return self._obs(obs)

    def step(self, action, **_):
        env = self._need()
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape[0] != env.action_dim or not np.isfinite(a).all():
            raise ValueError(f"action must be {env.action_dim} finite numbers, got {a.tolist()}")
        obs, reward, _, _ = env.step(a)
        out = self._obs(obs)
        out["reward"] = float(reward)
        return out

    def _obs(self, obs) -> dict:
        out = {"images": {c: flip_rows(obs[f"{c}_image"]) for c in self.spec["cameras"]}}
        out.update(self.state())
        return out

    def state(self, **_) -> dict:
        """Privileged state: TCP pose (the grip site, axes as igen-gs's TCP), base pose,
        finger opening, arm joints, task objects' poses (all world frame), success."""
        env = self._need()
        d = env.sim.data
        q = d.qpos[self.finger_qpos]
        return {
            "T_world_tcp": _mat(d.site_xpos[self.site_id],
                                d.site_xmat[self.site_id]) @ T_SITE_TCP,
            "T_world_base": _mat(d.xpos[self.base_body], d.xmat[self.base_body]),
            "opening_m": float(q[0] - q[1]),
            "joint_positions": np.asarray(d.qpos[self.arm_qpos], dtype=np.float64),
            "object_poses": {n: _mat(d.xpos[b], d.xmat[b]) for n, b in self.objects.items()},
            "success": bool(env._check_success()),
        }

    def set_state(self, object_poses=None, joint_positions=None, opening_m=None, **_):
        """Put objects (T_world_obj of their bodies), the arm joints and the fingers where
        given, zero velocities, recompute positions; returns the state."""
        env = self._need()
        sim = env.sim
        for name, T in (object_poses or {}).items():
            if name not in self.object_joints:
                raise ValueError(f"unknown object {name!r} (objects: {', '.join(self.objects)})")
            T = np.asarray(T, dtype=np.float64)
            sim.data.set_joint_qpos(self.object_joints[name], np.concatenate(
                [T[:3, 3], _mat_to_quat_wxyz(T[:3, :3])]))
        if joint_positions is not None:
            sim.data.qpos[self.arm_qpos] = np.asarray(joint_positions, dtype=np.float64)
        if opening_m is not None:
            h = float(opening_m) / 2
            sim.data.qpos[self.finger_qpos] = [h, -h]
        sim.data.qvel[:] = 0
        sim.forward()
        # the controller must start from the new pose, not the old goal
        for part in env.robots[0].composite_controller.part_controllers.values():
            part.update(force=True)
            part.reset_goal()
        return self.state()

    def capture(self, camera: str = "agentview", width: int = 256, height: int = 256, **_):
        """One photo for lifting: RGB, metric depth (metres), instance masks (name -> bool
        [H, W], over ``instances_to_ids``), K [3, 3] and T_world_cam [4, 4] (OpenCV axes)."""
        from robosuite.utils import camera_utils as cu

        env = self._need()
        sim = env.sim
        rgb, depth = sim.render(width=int(width), height=int(height), camera_name=camera,
                                depth=True)
        seg = sim.render(width=int(width), height=int(height), camera_name=camera,
                         segmentation=True)
        depth_m = cu.get_real_depth_map(sim, depth)
        geom_ids = seg[..., 1]
        masks = {}
        for name, ids in env.model.instances_to_ids.items():
            m = np.isin(geom_ids, np.asarray(ids["geom"])) & (seg[..., 0] == 5)  # mjOBJ_GEOM
            masks[name] = flip_rows(m)
        return {"rgb": flip_rows(rgb), "depth": flip_rows(np.asarray(depth_m, np.float32)),
                "masks": masks,
                "K": np.asarray(cu.get_camera_intrinsic_matrix(sim, camera, int(height),
                                                               int(width)), np.float64),
                "T_world_cam": np.asarray(cu.get_camera_extrinsic_matrix(sim, camera),
                                          np.float64),
                **self.state()}

    def mount(self, instance: str = "RethinkMount0", **_):
        """The visual surface of a static robot part (robosuite's mount: ``instance`` of
        ``instances_to_ids``) as one triangle mesh in the world frame, as it is now:
        ``vertices`` [V, 3] metres, ``faces`` [F, 3] (counter-clockwise seen from outside),
        ``face_rgb`` [F, 3] in [0, 1] (its geoms' colours). Only the geoms robosuite draws
        (group 1, its visual group): boxes and meshes."""
        env = self._need()
        m, d = env.sim.model, env.sim.data
        groups = env.model.instances_to_ids
        if instance not in groups:
            raise ValueError(f"no instance {instance!r} (instances: {', '.join(groups)})")
        verts, faces, rgb, n = [], [], [], 0
        for g in groups[instance]["geom"]:
            if m.geom_group[g] != 1:
                continue
            if m.geom_type[g] == 7:  # mjGEOM_MESH
                mid = m.geom_dataid[g]
                v = np.asarray(m.mesh_vert[m.mesh_vertadr[mid]:
                                           m.mesh_vertadr[mid] + m.mesh_vertnum[mid]], float)
                f = np.asarray(m.mesh_face[m.mesh_faceadr[mid]:
                                           m.mesh_faceadr[mid] + m.mesh_facenum[mid]], int)
            elif m.geom_type[g] == 6:  # mjGEOM_BOX
                v = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)],
                             float) * m.geom_size[g]
                f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5],
                              [0, 5, 1], [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4],
                              [1, 5, 7], [1, 7, 3]])
            else:
                raise ValueError(f"{instance}: geom {m.geom_id2name(g)!r} has type "
                                 f"{int(m.geom_type[g])}; only boxes and meshes are exported")
            R = np.asarray(d.geom_xmat[g], float).reshape(3, 3)
            verts.append(v @ R.T + d.geom_xpos[g])
            faces.append(f + n)
            rgb.append(np.tile(np.asarray(m.geom_rgba[g][:3], float), (len(f), 1)))
            n += len(v)
        if not faces:
            raise ValueError(f"{instance} has no visual boxes or meshes")
        return {"vertices": np.concatenate(verts), "faces": np.concatenate(faces),
                "face_rgb": np.concatenate(rgb)}

    def render(self, camera: str = "agentview", width: int = 84, height: int = 84, **_):
        """The RGB image of ``camera`` now, top row first."""
        env = self._need()
        return {"rgb": flip_rows(env.sim.render(width=int(width), height=int(height),
                                                camera_name=camera))}

    def close(self, **_):
        if self.env is not None:
            self.env.close()
            self.env = None
        return {}

    def _need(self):
        if self.env is None:
            raise ValueError("no environment: send 'make' first")
        return self.env


def serve(inp, out) -> None:
    wire = _load_wire()
    server = Server()
    handlers = {n: getattr(server, n) for n in
                ("make", "reset", "step", "state", "set_state", "capture", "render", "mount",
                 "close")}
    while True:
        try:
            req = wire.read_message(inp)
        except EOFError:
            break
        cmd = req.pop("cmd", None) if isinstance(req, dict) else None
        if cmd not in handlers:
            wire.write_message(out, {"ok": False, "error": f"unknown command {cmd!r}"})
            continue
        try:
            reply = {"ok": True, **handlers[cmd](**req)}
        except Exception as e:  # every failure goes back as one line; the server lives on
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}".splitlines()[0]}
        wire.write_message(out, reply)
        if cmd == "close":
            break


def main() -> None:
    # this file's directory must not shadow the real robosuite package (igen_gs/envs has a
    # robosuite.py); the message stream keeps the real stdout, everything printed goes to stderr
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    os.environ.setdefault("MUJOCO_GL", "egl")
    inp = os.fdopen(os.dup(0), "rb")
    serve(inp, out)


if __name__ == "__main__":
    main()
