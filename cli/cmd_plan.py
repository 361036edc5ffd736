"""``igen plan``: an instruction on a scene directory -> a trajectory (+ plots)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from igen_gs.planning.config import PlanConfig


@dataclass
class PlanCommand:
    """Plan a manipulation task on a lifted (or synthetic) scene: prints the plan steps and
    writes the trajectory (OUT .json + .npz, loadable with igen_gs.Trajectory.load) and a PNG
    plot of it."""

    scene: Path
    """Scene directory (scene.json, background.ply, objects/)."""
    instruction: str
    """What to do, e.g. "put the red block on the blue plate"."""
    out: Path = Path("outputs/plan.json")
    """Trajectory file, ending in .json (the .npz with the arrays and the .png plot are
    written beside it, all three only once planning succeeded)."""
    planner: Literal["rule", "vlm", "keypoint-vlm"] = "rule"
    """Rule-based parser (offline) or a VLM: an OpenAI-compatible endpoint or a local
    transformers model (--config.vlm.backend, --config.vlm.base-url, --config.vlm.model,
    --config.vlm.local-model; the environment variables IGEN_VLM_BASE_URL, IGEN_VLM_MODEL,
    IGEN_VLM_API_KEY, IGEN_VLM_LOCAL_MODEL); keypoint-vlm: the VLM sees the photo with
    numbered keypoints and writes stages (igen_gs.planning.stages)."""
    stages: Path | None = None
    """A stage plan (JSON, igen_gs.planning.stages) on the scene's numbered keypoints, executed
    instead of planning the instruction (which still names the task)."""
    config: PlanConfig = field(default_factory=PlanConfig)
    """Planning options."""

    def main(self) -> None:
        from igen_gs.outputs import claim_output

        outs = [self.out, self.out.with_suffix(".npz"), self.out.with_suffix(".png")]
        for i, p in enumerate(outs):
            claim_output(p, "file", suffixes=(".json",) if i == 0 else (),
                         flag="--out" if i == 0 else f"--out (its {p.suffix} beside it)")
        if not self.instruction.strip():
            raise ValueError("--instruction is empty")

        from igen_gs.planning import plan_task
        from igen_gs.scene import Scene

        scene = Scene.load(self.scene)
        cfg = PlanConfig(**{**self.config.__dict__, "planner": self.planner})
        traj = plan_task(scene, self.instruction, cfg, stages=self.stages)
        write_plan(traj, scene, self.out)
        print(f"plan ({traj.plan.planner}): " + "; ".join(
            f"{i + 1}. {s.describe()}" for i, s in enumerate(traj.plan.steps)))
        print(f"{len(traj)} frames, {traj.timestamps[-1]:.1f} s at {traj.fps:g} Hz"
              + (", reachable by the Panda" if traj.joint_positions is not None else ""))
        print(f"wrote {', '.join(str(p) for p in outs)}")


def write_plan(traj, scene, out: Path) -> None:
    """The trajectory (.json + .npz) and its plot (.png) beside ``out``, all or nothing: written
    into a temporary sibling directory first, then renamed into place, the .json (what
    Trajectory.load opens) last."""
    import os
    import shutil

    from igen_gs.outputs import make_temp_dir
    from igen_gs.planning.plots import plot_trajectory

    tmp = make_temp_dir(out)
    try:
        traj.save(tmp / out.name)
        plot_trajectory(traj, scene, tmp / out.with_suffix(".png").name)
        for suffix in (".npz", ".png", ".json"):
            os.replace(tmp / out.with_suffix(suffix).name, out.with_suffix(suffix))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


COMMAND = ("plan", PlanCommand)
