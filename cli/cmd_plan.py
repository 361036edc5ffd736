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
    """Trajectory file (the .npz with the arrays is written beside it)."""
    planner: Literal["rule", "vlm"] = "rule"
    """Rule-based parser (offline) or a VLM: an OpenAI-compatible endpoint or a local
    transformers model (--config.vlm.backend, --config.vlm.base-url, --config.vlm.model,
    --config.vlm.local-model; the environment variables IGEN_VLM_BASE_URL, IGEN_VLM_MODEL,
    IGEN_VLM_API_KEY, IGEN_VLM_LOCAL_MODEL)."""
    config: PlanConfig = field(default_factory=PlanConfig)
    """Planning options."""

    def main(self) -> None:
        from igen_gs.planning import plan_task
        from igen_gs.planning.plots import plot_trajectory
        from igen_gs.scene import Scene

        scene = Scene.load(self.scene)
        cfg = PlanConfig(**{**self.config.__dict__, "planner": self.planner})
        traj = plan_task(scene, self.instruction, cfg)
        traj.save(self.out)
        png = plot_trajectory(traj, scene, self.out.with_suffix(".png"))
        print(f"plan ({traj.plan.planner}): " + "; ".join(
            f"{i + 1}. {s.describe()}" for i, s in enumerate(traj.plan.steps)))
        print(f"{len(traj)} frames, {traj.timestamps[-1]:.1f} s at {traj.fps:g} Hz"
              + (", reachable by the Panda" if traj.joint_positions is not None else ""))
        print(f"wrote {self.out.with_suffix('.json')}, {self.out.with_suffix('.npz')}, {png}")


COMMAND = ("plan", PlanCommand)
