"""The robot package: import boundaries, models, forward kinematics, gripper geometry."""

from __future__ import annotations

import subprocess
import sys


def test_planning_does_not_import_episode():
    code = ("import sys, igen_gs.planning, igen_gs.planning.pipeline, igen_gs.planning.grasp, "
            "igen_gs.planning.motion; import igen_gs.robot.gripper; "
            "bad = sorted(m for m in sys.modules if m.startswith('igen_gs.episode')); "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_episode_still_exports_the_gripper():
    from igen_gs.episode import Gripper, GripperGeometry, default_gripper
    from igen_gs.robot import GripperGeometry as G2
    from igen_gs.robot.gripper import Gripper as R2

    assert GripperGeometry is G2 and Gripper is R2 and default_gripper().geometry == G2()
