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
    # the default plans move at the speed limit (trapezoid): about the expert's 61 steps on
    # Lift, where minimum-jerk plans at MotionConfig's defaults take about 98
    assert all(ep.length < 80 for ep in gen.episodes), [ep.length for ep in gen.episodes]
    for ep in gen.episodes:
        idx = np.minimum(np.arange(ep.length) + lead, ep.length - 1)
        np.testing.assert_allclose(ep.action[:, :3], ep.state[idx, :3], atol=1e-4)
    # The diagnosis row: the same generated plans as the simulator executed them, recorded
    # with its own pictures and states, the plans' actions unchanged.
    assert res["executed_demos"]["recorded"] == 2 and "| generated plans executed" in r.stdout
    assert res["policies"]["executed"]["2"]["trials"] == 2
    ex = load_lerobot_dataset(tmp_path / "work_Lift_quick" / "executed")
    assert [e.key for e in ex.episodes] == [e.key for e in gen.episodes]
    for e, g in zip(ex.episodes, gen.episodes):
        assert e.length == g.length
        np.testing.assert_array_equal(e.action, g.action)
        assert not np.array_equal(e.frames("agentview"), g.frames("agentview"))
        # the execution starts where the generated episode starts (its first joint angles
        # and opening set in the simulator); the simulator's TCP follows the targets: it ends
        # within a few cm of the last one, goes down to the plan's grasp height and up to its
        # lift height within 1 cm
        assert np.linalg.norm(e.state[0, :3] - g.state[0, :3]) < 0.005
        assert abs(e.state[0, 7] - g.state[0, 7]) < 0.02
        assert np.linalg.norm(e.state[-1, :3] - e.action[-1, :3]) < 0.03
        assert abs(e.state[:, 2].min() - g.state[:, 2].min()) < 0.01
        assert abs(e.state[-1, 2] - g.state[-1, 2]) < 0.01
    # a rerun of the recording finds both episodes written and adds none
    from igen_gs.envs.demos import replay_open_loop

    again = replay_open_loop(tmp_path / "work_Lift_quick" / "generated", record=tmp_path /
                             "work_Lift_quick" / "executed", progress=False)
    assert again["recorded"] == 2 and all(x["recorded"] for x in again["results"])
    assert len(load_lerobot_dataset(tmp_path / "work_Lift_quick" / "executed").episodes) == 2
    for name in ("real", "generated", "executed"):
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
    for args, msg in ((["--motion", "profile"], "--motion takes KEY=VALUE pairs"),
                      (["--motion", "profile=cubic"], "MotionConfig.profile must be"),
                      (["--motion", "fps=30"], "other than fps"),
                      (["--motion", "max_acel=2"], "--motion:"),
                      (["--gen", "robot_inset_m"], "--gen takes KEY=VALUE pairs"),
                      (["--gen", "robot_inset_m=-0.1"], "robot_inset_m must be >= 0"),
                      (["--gen", "robot_inset_m=deep"], "is not a number or true/false"),
                      (["--gen", "photo_seed=3"], "set by the benchmark"),
                      (["--gen", "no_such_option=1"], "--gen:")):
        r = subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 2 and msg in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr


def test_motion_options_name_the_run():
    from igen_gs.envs.demos import GeneratedConfig

    sys.path.insert(0, str(BENCH.parent))
    try:
        import bench_policy
    finally:
        sys.path.remove(str(BENCH.parent))
    # --motion overrides GeneratedConfig's defaults; the tag names what differs from them
    a = bench_policy.parse(["--motion", "profile=min_jerk", "max_accel=0.8", "--quick"])
    assert a.motion_options == {**GeneratedConfig().motion_options, "profile": "min_jerk",
                                "max_accel": 0.8}
    assert a.tag == "Lift_quick_max_accel0.8_profile-min_jerk"
    assert a.work.name == "work_Lift_quick_max_accel0.8_profile-min_jerk"
    assert bench_policy.parse([]).tag == "Lift"
    assert bench_policy.parse([]).motion_options == GeneratedConfig().motion_options
    assert bench_policy.parse(["--motion", "profile=trapezoid"]).tag == "Lift"
    # --gen sets other GeneratedConfig options (numbers and true/false) and names the run too
    a = bench_policy.parse(["--gen", "robot_calibration_views=16", "robot_inset_m=0.002",
                            "erase_robot=false"])
    assert a.gen_options == {"robot_calibration_views": 16, "robot_inset_m": 0.002,
                             "erase_robot": False}
    assert a.tag == "Lift_erase_robot-false_robot_calibration_views16_robot_inset_m0.002"
    # --train-seed names the run (and, in main, the checkpoints) unless it is the default 0
    assert bench_policy.parse(["--train-seed", "3"]).tag == "Lift_seed3"
    assert bench_policy.parse(["--train-seed", "3"]).train_seed == 3
    assert bench_policy.parse(["--train-seed", "0"]).tag == "Lift"
    r = subprocess.run([sys.executable, str(BENCH), "--train-seed", "-1"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "--train-seed must be 0 or more" in r.stderr
    assert "Traceback" not in r.stderr
    # generated episodes render in worker processes: 1 for --quick, else up to 2
    assert bench_policy.parse(["--quick"]).gen_workers == 1
    full, quick = bench_policy.parse([]), bench_policy.parse(["--quick"])
    assert (full.realism_episodes, full.realism_frames) == (100, 0)  # all frames of gen-100
    assert (quick.realism_episodes, quick.realism_frames) == (1, 8)
    assert bench_policy.parse([]).gen_workers == max(1, min(2, os.cpu_count() or 1))
    assert bench_policy.parse(["--gen-workers", "3"]).gen_workers == 3
    r = subprocess.run([sys.executable, str(BENCH), "--gen-workers", "0"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "--gen-workers must be 1 or more" in r.stderr


def test_realism_options_parses_sets_and_refuses_bad_ones():
    """eval/realism_options.py: option sets parse to GeneratedConfig values (numbers,
    true/false), the defaults always come first as the baseline, and a bad set is a one-line
    error naming it (no robosuite needed)."""
    script = BENCH.parent / "realism_options.py"
    sys.path.insert(0, str(BENCH.parent))
    try:
        import realism_options
    finally:
        sys.path.remove(str(BENCH.parent))
    assert realism_options.parse_set("supersample=2,robot_inset_m=0.002,erase_robot=false") == {
        "supersample": 2, "robot_inset_m": 0.002, "erase_robot": False}
    a = realism_options.parse(["--set", "supersample=2", "--set", "robot_calibration_views=16"])
    assert a.option_sets == [{}, {"supersample": 2}, {"robot_calibration_views": 16}]
    for args, msg in ((["--set", "supersample"], "--set takes KEY=VALUE"),
                      (["--set", "supersample=two"], "is not a number or true/false"),
                      (["--set", "supersample=0"], "GeneratedConfig.supersample must be"),
                      (["--set", "photo_seed=4"], "the one photo is the benchmark's"),
                      (["--set", "nope=1"], "unexpected keyword argument 'nope'"),
                      (["--episodes", "0"], "--episodes, --frames-per-episode and --workers"),
                      (["--workers", "0"], "--episodes, --frames-per-episode and --workers")):
        r = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 2 and msg in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
