"""Batch generation: manifests and executors (local processes and a local Ray cluster)."""

from __future__ import annotations

import json
import os

import pytest

from igen_gs.batch import LocalExecutor, RayExecutor, read_manifest


def square_or_fail(x: int) -> dict:
    """A job: fails on multiples of 5 (ValueError), kills its process on 7, else squares."""
    if x == 7:
        os._exit(3)  # simulates a crashing worker (segfault, OOM kill)
    if x % 5 == 0:
        raise ValueError(f"job {x} refuses")
    return {"x": x, "y": x * x, "pid": os.getpid()}


def write_manifest(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_manifest_parsing_and_resolution(tmp_path):
    m = write_manifest(tmp_path / "jobs.jsonl", [
        "# comment",
        json.dumps({"image": "a.png", "instruction": "pick up the mug", "variations": 2,
                    "intrinsics": [500, 500, 320, 240], "id": "a"}),
        "",
        json.dumps({"image": "/abs/b.jpg", "instruction": "stack A on B", "depth": "b.npy",
                    "masks": {"A": "m/a.png"}}),
    ])
    jobs = read_manifest(m)
    assert [j.id for j in jobs] == ["a", "job-4"]
    assert jobs[0].image == tmp_path / "a.png" and jobs[0].keys() == ["a/0", "a/1"]
    assert jobs[0].intrinsics == (500.0, 500.0, 320.0, 240.0)
    assert jobs[1].image.as_posix() == "/abs/b.jpg" and jobs[1].depth == tmp_path / "b.npy"
    assert jobs[1].masks == {"A": tmp_path / "m/a.png"} and jobs[1].seed == 4


@pytest.mark.parametrize("line,message", [
    ("{not json", "jobs.jsonl:1: not valid JSON"),
    (json.dumps({"image": "a.png"}), "'instruction' must be a non-empty string"),
    (json.dumps({"image": "a.png", "instruction": "x", "variations": 0}),
     "'variations' must be a positive integer"),
    (json.dumps({"image": "a.png", "instruction": "x", "intrinsics": [1, 2]}),
     "'intrinsics' must be [fx, fy, cx, cy]"),
    (json.dumps({"image": "a.png", "instruction": "x", "colour": "red"}),
     "unknown field(s) colour"),
    ('{"image": "a.png", "instruction": "x", "intrinsics": [NaN, NaN, 80, 60]}',
     "'intrinsics' must be finite numbers"),
    (json.dumps({"image": "a.png", "instruction": "x", "intrinsics": [-100, 100, 80, 60]}),
     "focal lengths must be positive"),
    ('{"image": "a.png", "instruction": "x", "depth_scale": Infinity}',
     "'depth_scale' must be a positive number"),
])
def test_manifest_errors_name_file_and_line(tmp_path, line, message):
    m = write_manifest(tmp_path / "jobs.jsonl", [line])
    with pytest.raises(ValueError) as e:
        read_manifest(m)
    assert message in str(e.value)
    with pytest.raises(FileNotFoundError):
        read_manifest(tmp_path / "missing.jsonl")


def _check_results(results):
    by_item = {item: (ok, value) for item, ok, value in results}
    assert sorted(by_item) == list(range(1, 11))
    for x, (ok, value) in by_item.items():
        if x == 7:
            assert not ok and ("died" in value or "Ray task failed" in value)
        elif x % 5 == 0:
            assert not ok and value == f"ValueError: job {x} refuses"
        else:
            assert ok and value["y"] == x * x
    return by_item


def test_local_executor_survives_failures_and_crashes():
    results = list(LocalExecutor(workers=2, threads_per_worker=1).map_unordered(
        square_or_fail, range(1, 11)))
    by_item = _check_results(results)
    pids = {v["pid"] for x, (ok, v) in by_item.items() if ok}
    assert len(pids) >= 2  # really ran in several processes


@pytest.mark.slow
def test_ray_executor_on_a_local_cluster():
    # The job function lives in this test module: make it importable on the Ray workers.
    env = {"env_vars": {"PYTHONPATH": os.path.dirname(__file__)}}
    results = list(RayExecutor(workers=2, threads_per_worker=1, runtime_env=env).map_unordered(
        square_or_fail, range(1, 11)))
    by_item = _check_results(results)
    assert all(v["pid"] != os.getpid() for ok, v in by_item.values() if ok)
