"""``igen eval``: rendered vs reference frames -> PSNR/SSIM/LPIPS, depth errors, flicker."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from igen_gs.metrics.config import EvalConfig


@dataclass
class EvalCommand(EvalConfig):
    """Compare rendered against reference frames: two image folders (matched by sorted file
    name), two MP4s, or two LeRobot v3.0 datasets (matched by camera and episode). Prints a
    table and writes OUT/report.json, OUT/curves.png (per-frame metrics) and OUT/worst.png
    (rendered | reference | difference of the lowest-PSNR frames)."""

    progress: bool = True
    """Show a progress bar (stderr)."""

    def main(self) -> None:
        from igen_gs.metrics.evaluate import evaluate
        from igen_gs.outputs import claim_output, only_names, staged_dir

        for name in ("rendered", "reference"):
            p = getattr(self, name)
            if not p.exists():
                raise FileNotFoundError(f"--{name} not found: {p}")
        claim_output(self.out, "dir", what="an igen eval report",
                     ours=only_names(REPORT_FILES))
        cfg = EvalConfig(**{f.name: getattr(self, f.name) for f in fields(EvalConfig)})
        with staged_dir(self.out) as tmp:  # all three files, or none
            cfg.out = tmp
            report = evaluate(cfg)
        report.files = {k: str(self.out / Path(v).name) for k, v in report.files.items()}
        print_report(report)


REPORT_FILES = ("report.json", "curves.png", "worst.png")


def _fmt(x, spec: str) -> str:
    if x is None:
        return "-"
    if x == float("inf"):
        return "inf"
    return format(x, spec)


def print_report(report) -> None:
    """The report as a rich table (one row per stream) and the written files."""
    from rich.console import Console
    from rich.table import Table

    metrics = [m for m in ("psnr", "ssim", "lpips")
               if any(m in s.summary for s in report.streams.values())]
    table = Table(title=f"{report.rendered} vs {report.reference}")
    table.add_column("stream")
    table.add_column("frames", justify="right")
    for m in metrics:
        table.add_column(f"{m.upper()} mean", justify="right")
        table.add_column("median", justify="right")
    has_depth = any(s.depth for s in report.streams.values())
    if has_depth:
        for c in ("AbsRel", "RMSE m", "d<1.25"):
            table.add_column(c, justify="right")
    has_flicker = any(s.flicker is not None for s in report.streams.values())
    if has_flicker:
        table.add_column("flicker", justify="right")
        table.add_column("ref. flicker", justify="right")
    has_warp = any(s.warp_error is not None for s in report.streams.values())
    if has_warp:
        table.add_column("warp err.", justify="right")
        table.add_column("ref. warp err.", justify="right")
    spec = {"psnr": ".2f", "ssim": ".4f", "lpips": ".4f"}
    for name, s in report.streams.items():
        row = [name, str(s.frames)]
        for m in metrics:
            summ = s.summary.get(m, {})
            mean, median = summ.get("mean"), summ.get("median")
            if mean is None and summ.get("infinite"):
                mean = median = float("inf")
            row += [_fmt(mean, spec[m]), _fmt(median, spec[m])]
        if has_depth:
            d = s.depth or {}
            row += [_fmt(d.get("abs_rel"), ".4f"), _fmt(d.get("rmse"), ".4f"),
                    _fmt(d.get("delta_1.25"), ".3f")]
        if has_flicker:
            row += [_fmt(s.flicker, ".5f"), _fmt(s.flicker_reference, ".5f")]
        if has_warp:
            row += [_fmt(s.warp_error, ".5f"), _fmt(s.warp_error_reference, ".5f")]
        table.add_row(*row)
    console = Console()
    if not console.is_terminal:  # a pipe or a log file: do not squeeze the table into 80
        console = Console(width=200)
    console.print(table)
    if not report.lpips.startswith(("alex", "vgg")):
        console.print(f"LPIPS: {report.lpips}", highlight=False)
    for name, s in report.streams.items():
        for note in s.notes:
            console.print(f"{name}: {note}", highlight=False)
    console.print("wrote " + ", ".join(report.files.values()), highlight=False)


COMMAND = ("eval", EvalCommand)
