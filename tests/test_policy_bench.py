"""``eval/bench_policy.py --quick``: checks the PLUMBING ONLY (a few demos, 200 gradient
steps, 2 rollouts per row: the success rates it prints mean nothing). Skipped, saying so, when
robosuite's venv is absent (IGEN_ROBOSUITE_PYTHON or ~/.cache/igen-gs/robosuite-1.5.2-venv,
which .ci/run prepares)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from igen_gs.envs.robosuite import robosuite_python

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "eval" / "bench_policy.py"


@pytest.mark.slow
@pytest.mark.skipif(robosuite_python() is None,
                    reason="robosuite's venv is not installed (IGEN_ROBOSUITE_PYTHON unset and no "
                           "~/.cache/igen-gs/robosuite-1.5.2-venv; .ci/run prepares it)")
def test_quick_benchmark_runs_end_to_end(tmp_path):
    r = subprocess.run([sys.executable, str(BENCH), "--quick", "--out", str(tmp_path),
                        "--no-progress"], capture_output=True, text=True, timeout=1500,
                       env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((tmp_path / "bench_policy_Lift_quick.json").read_text())
    assert "plumbing only" in res["note"]
    for row in (res["expert"], res["blind"], res["policies"]["real"]["2"],
                res["policies"]["generated"]["2"]):
        assert row["trials"] == 2 and 0 <= row["successes"] <= 2
        assert row["ci95"][0] <= row["rate"] <= row["ci95"][1]
    assert res["expert"]["successes"] == 2  # the expert with privileged state does not miss
    assert res["real_demos"]["successes"] == 2 and res["generated_demos"]["written"] == 2
    assert res["replay"]["episodes"] == 2
    for k in ("psnr_median", "ssim_median"):
        assert math.isfinite(res["realism"][k])
    assert res["same_view"]["psnr_without_robot_pixels"] > 18  # the lift resembles the photo
    assert (tmp_path / "bench_policy_Lift_quick.png").stat().st_size > 1000
    assert "| real-2 |" in r.stdout and "| generated-2 |" in r.stdout
    # Generated actions target the planned TCP 4 steps ahead (GeneratedConfig
    # .action_lead_steps); the states show the plan's TCP, so action t is state t + 4's
    # position, the last one held at the end.
    from igen_gs.envs.demos import GeneratedConfig
    from igen_gs.io import load_lerobot_dataset

    lead = GeneratedConfig().action_lead_steps
    assert lead == 4
    gen = load_lerobot_dataset(tmp_path / "work_Lift_quick" / "generated")
    for ep in gen.episodes:
        idx = np.minimum(np.arange(ep.length) + lead, ep.length - 1)
        np.testing.assert_allclose(ep.action[:, :3], ep.state[idx, :3], atol=1e-4)
    for name in ("real", "generated"):
        # the recipe's position noise (default 0.01 m) is part of the checkpoint's name
        assert (tmp_path / "work_Lift_quick" / f"policy_{name}_2_200_pn0.01.pt").is_file()


def test_bad_options_are_one_line_errors():
    r = subprocess.run([sys.executable, str(BENCH), "--rollouts", "0"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "--rollouts must be positive" in r.stderr
    assert "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, str(BENCH), "--proprio-noise-m", "-0.01"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--proprio-noise-m must be 0 (off) or more" in r.stderr
