"""Containers need an opening: "in" a solid target is refused in one line, "in" a plate is
"on" it, "in" the mug goes in (issue 14, finding 13)."""

from __future__ import annotations

import pytest

from igen_gs.planning import plan_task
from igen_gs.synthetic import ObjectSpec, default_specs, make_tabletop_world


@pytest.fixture(scope="module")
def scene():
    w = make_tabletop_world(1, default_specs() + [
        ObjectSpec("small cube", "box", (0.03, 0.03, 0.03), (0.9, 0.9, 0.1))])
    s = w.gaussian_scene(spacing=0.004)
    s.camera = w.default_camera(160, 120)
    return s


def test_a_solid_block_is_not_a_container(scene):
    with pytest.raises(ValueError) as e:
        plan_task(scene, "put the small cube in the red block")
    msg = str(e.value)
    assert "'red block' cannot hold 'small cube': it has no opening" in msg and "\n" not in msg


def test_a_flat_plate_takes_in_as_on_and_the_mug_holds_the_cube(scene):
    on = plan_task(scene, "put the small cube in the blue plate")
    assert [s.describe() for s in on.plan.steps][-1] == "place small cube in blue plate"
    into = plan_task(scene, "put the small cube into the mug")
    assert "drop" in into.phase  # released above the rim, into the cavity
