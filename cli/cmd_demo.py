"""``igen demo``: the embedded default job (no downloads, no GPU)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from igen_gs.demo import DemoConfig


@dataclass
class DemoCommand:
    """Synthetic tabletop photo -> lifted Gaussian scene -> plan ("put the red block on the blue
    plate") -> photo view, two more views and the wrist camera rendered with the Panda arm ->
    LeRobot v3.0 dataset and previews, in outputs/demo/."""

    config: DemoConfig = field(default_factory=DemoConfig)
    """Demo options."""

    def main(self) -> None:
        import dataclasses
        import time

        from igen_gs.outputs import claim_output, only_names, staged_dir

        out = Path(self.config.out)
        claim_output(out, "dir", flag="--config.out", what="an igen demo output",
                     ours=only_names(DEMO_NAMES))
        if not self.config.instruction.strip():
            raise ValueError("--config.instruction is empty")

        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from igen_gs.demo import run_demo

        stages = ["synthetic photo", "lift", "plan", "render", "write"]
        t0 = time.perf_counter()
        with Progress(TextColumn("[bold]igen demo[/] {task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn()) as bar:
            task = bar.add_task("starting", total=len(stages))

            def progress(name: str) -> None:
                done = stages.index(name)
                bar.update(task, completed=done, description=name)

            with staged_dir(out) as tmp:  # nothing at --config.out unless the demo completes
                summary = run_demo(dataclasses.replace(self.config, out=tmp), progress)
            bar.update(task, completed=len(stages), description="done")
        for k in ("out", "scene", "trajectory", "dataset", "previews"):
            summary[k] = str(out / Path(summary[k]).relative_to(tmp))
        s = summary["seconds"]
        print(f"plan: {'; '.join(summary['steps'])}")
        print(f"{summary['frames']} frames x {len(summary['cameras'])} cameras "
              f"({', '.join(summary['cameras'])}; robot: {summary['robot_mode']}) in "
              f"{time.perf_counter() - t0:.1f} s "
              f"(lift {s['lift']:.1f}, plan {s['plan']:.1f}, render {s['render']:.1f}, "
              f"write {s['write']:.1f})")
        for k in ("scene", "trajectory", "dataset", "previews"):
            print(f"  {k:10s} {summary[k]}")


DEMO_NAMES = ("scene", "trajectory.json", "trajectory.npz", "dataset", "previews")
"""What ``igen demo`` writes into its output directory (an existing one is replaced)."""


COMMAND = ("demo", DemoCommand)
