"""eval/gpu_check.py's plumbing, checked without a GPU: arguments, the no-CUDA exit, the
table and JSON writer, and the parity and episode measurements with "cuda" standing in for
the CPU (so they must report perfect agreement). The GPU figures themselves need a GPU."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "eval" / "gpu_check.py"


@pytest.fixture(scope="module")
def gc():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_arguments(gc):
    a = gc.parse_args([])
    assert (a.episodes, a.frames, a.frames_idx, a.out) == (100, 60, [0, 3, 6], gc.OUT)
    a = gc.parse_args(["--episodes", "5", "--skip", "generate", "--frames-idx", "3"])
    assert a.episodes == 5 and a.skip == ["generate"] and a.frames_idx == [3]
    with pytest.raises(SystemExit):
        gc.parse_args(["--frames", "0"])
    with pytest.raises(SystemExit):
        gc.parse_args(["--skip", "everything"])


def test_without_cuda_it_stops_with_one_line(gc, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gc.main(["--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == gc.NO_CUDA and "\n" not in err.strip()
    assert not (tmp_path / "x.json").exists()


def test_table_and_json_on_fake_figures(gc, tmp_path):
    figures = {"meta": {"gpu": "fake"},
               "parity": [{"frame": 0, "colour_psnr_db": 51.234567, "labels_agree": 1.0},
                          {"frame": 3, "colour_psnr_db": math.inf, "depth_median_abs_mm": None}],
               "generate": {"cuda_episodes_per_hour": 1234.5, "cpu_episodes_per_hour": 99.0}}
    table = gc.format_table(figures).splitlines()
    assert table[0] == "== parity"
    assert table[1].split() == ["frame", "colour_psnr_db", "labels_agree", "depth_median_abs_mm"]
    assert table[2].split() == ["0", "51.23", "1", "-"]
    assert table[3].split() == ["3", "inf", "-", "-"]
    assert "== generate" in table and "gpu" not in "\n".join(table)
    path = gc.write_json(figures, tmp_path / "sub" / "g.json")
    doc = json.loads(path.read_text())
    assert doc["parity"][1]["colour_psnr_db"] is None  # inf is not JSON
    assert doc["generate"]["cuda_episodes_per_hour"] == 1234.5 and doc["meta"]["gpu"] == "fake"


def test_parity_plumbing_with_cpu_standing_in_for_cuda(gc, redkitchen, monkeypatch):
    real = gc._render
    monkeypatch.setattr(gc, "_render", lambda g, W, H, device: real(g, W, H, "cpu"))
    parity, timing = gc.check_parity_and_render([0], repeats=1)
    p = parity[0]
    assert p["colour_psnr_db"] == math.inf and p["alpha_max_abs"] == 0.0
    assert p["depth_median_abs_mm"] == 0.0 and p["labels_agree"] == 1.0
    assert [t["backend"] for t in timing] == ["cpu", "gsplat"]
    assert timing[0]["gaussians"] > 200_000 and timing[0]["size"] == "640x480"


@pytest.mark.slow
def test_episode_plumbing_with_cpu_standing_in_for_cuda(gc, monkeypatch):
    import igen_gs.episode.render as er

    real = er.resolve_device
    monkeypatch.setattr(er, "resolve_device", lambda spec: real("cpu"))
    r = gc.check_episode(2)
    assert r["cameras"] == 4 and r["frames"] == 2
    assert r["psnr_db_min"] == math.inf and r["depth_median_abs_mm_max"] == 0.0
    assert r["labels_agree_min"] == 1.0 and r["cuda_seconds"] > 0
