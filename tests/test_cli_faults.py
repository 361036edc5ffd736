"""The real ``igen`` command under fault: bad inputs, bad numbers, occupied or unwritable
outputs, misbehaving VLM servers, concurrent writers and kill -9 (issue 14).

Each case of the table runs the installed CLI in a fresh process and asserts: the exit code,
exactly one line on stderr (``igen: error: ...``) naming the problem, no traceback, and
nothing at the output path (or what was there before, byte for byte) and no temporary file
left beside it. The cases run a few at a time on a thread pool (they are independent), and
share one lifted scene, one plan and one dataset made once for the module.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

_SCRIPT = Path(sys.executable).parent / "igen"
IGEN = [str(_SCRIPT)] if _SCRIPT.is_file() else [
    sys.executable, "-c", "from igen_gs.cli.main import entrypoint; entrypoint()"]

TINY_RIG = ["--config.episode.rig.width", "48", "--config.episode.rig.height", "32",
            "--config.episode.rig.num-static-views", "0", "--config.episode.rig.no-wrist-camera"]
GENERATE_OPTS = [*TINY_RIG, "--config.lift.stride", "1", "--workers", "1",
                 "--config.episode.render.robot.mode", "hand",  # a box gripper: cheap to draw
                 "--config.episode.plan.motion.fps", "5"]  # a third of the frames


def igen(*args, env=None, timeout=300, **kw) -> subprocess.CompletedProcess:
    e = {**os.environ, "IGEN_DEBUG": "0", **(env or {})}
    return subprocess.run([*IGEN, *map(str, args)], capture_output=True, text=True, env=e,
                          timeout=timeout, **kw)


# ---------------------------------------------------------------------- inputs
def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header says width x height (the pixel data is not there): what a
    decompression bomb looks like before it is decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                              0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))


def _unwritable_dir(base: Path) -> Path | None:
    """A directory this process cannot create anything in (tests may run as root, which
    ignores permission bits: then /sys, if the kernel refuses writes there)."""
    if os.geteuid() != 0:
        d = base / "readonly"
        d.mkdir(exist_ok=True)
        d.chmod(0o555)
        return d
    try:
        os.mkdir("/sys/igen-probe")
    except OSError:
        return Path("/sys")
    os.rmdir("/sys/igen-probe")
    return None


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """Shared inputs: a synthetic photo with depth and masks (and broken variants of each), a
    lifted scene, a plan, a one-episode dataset and manifests."""
    from PIL import Image

    from igen_gs.imageio import write_depth_png, write_rgb
    from igen_gs.io import CameraInfo, EpisodeData, LeRobotWriter
    from igen_gs.lifting import lift
    from igen_gs.planning import plan_task
    from igen_gs.synthetic import make_tabletop_world

    b = tmp_path_factory.mktemp("faults")
    world = make_tabletop_world(0)
    cam = world.default_camera(240, 180)
    obs = world.render(cam)
    write_rgb(b / "photo.png", obs["rgb"])
    write_depth_png(b / "depth.png", obs["depth"])
    depth = np.asarray(obs["depth"], np.float32)
    np.save(b / "depth_m.npy", depth)
    np.save(b / "depth_mm_int.npy", np.round(depth * 1000).astype(np.uint16))
    np.save(b / "depth_mm_float.npy", depth * 1000)
    (b / "masks").mkdir()
    masks = {}
    for name, m in obs["masks"].items():
        p = b / "masks" / f"{name.replace(' ', '_')}.png"
        Image.fromarray(m.astype(np.uint8) * 255).save(p)
        masks[name] = p
    K = cam.K.numpy()
    (b / "K.txt").write_text(" ".join(f"{v:.6f}" for v in (K[0, 0], K[1, 1], K[0, 2], K[1, 2])))
    (b / "mask_args.txt").write_text("\n".join(f"{n}={p}" for n, p in masks.items()))

    # Broken images.
    (b / "empty.png").write_bytes(b"")
    (b / "garbage.png").write_bytes(os.urandom(2000))
    good = (b / "photo.png").read_bytes()
    (b / "truncated.png").write_bytes(good[: len(good) // 2])
    (b / "text.png").write_text("this is not an image\n")
    (b / "huge.png").write_bytes(png_header_only(20000, 20000))
    Image.new("RGB", (4, 4)).save(b / "tiny.png")
    (b / "a_directory.png").mkdir()
    # Broken depth.
    np.save(b / "depth_small.npy", np.ones((100, 100), np.float32))
    np.save(b / "depth_zero.npy", np.zeros((180, 240), np.float32))
    np.save(b / "depth_nan.npy", np.full((180, 240), np.nan, np.float32))
    np.save(b / "depth_3d.npy", np.ones((180, 240, 2), np.float32))
    sparse = np.zeros((180, 240), np.float32)
    sparse[:5, :] = 1.0  # 3 % valid
    np.save(b / "depth_sparse.npy", sparse)
    np.save(b / "depth_object.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    Image.fromarray(np.zeros((180, 240, 3), np.uint8)).save(b / "depth_rgb.png")
    (b / "depth_bad.exr").write_bytes(b"\x76\x2f\x31\x01" + os.urandom(100))
    (b / "depth_empty.png").write_bytes(b"")
    # Broken masks.
    Image.fromarray(np.full((60, 80), 255, np.uint8)).save(b / "mask_small.png")
    Image.fromarray(np.zeros((180, 240), np.uint8)).save(b / "mask_empty.png")
    Image.fromarray(np.full((180, 240), 255, np.uint8)).save(b / "mask_full.png")
    (b / "mask_garbage.png").write_bytes(os.urandom(500))
    # Poses.
    (b / "pose_bad.txt").write_text("1 2 3\n")
    (b / "pose_nan.txt").write_text("\n".join(["nan 0 0 0"] * 4))
    # Files and directories that are in the way.
    (b / "a_file").write_text("I am a file")
    (b / "bad.ply").write_text("garbage\n")
    (b / "scene_corrupt").mkdir()
    (b / "scene_corrupt" / "scene.json").write_text("{not json")
    (b / "scene_empty").mkdir()

    # One lifted scene and one plan, shared by the plan/render/render-episode cases.
    scene = lift(obs["rgb"], obs["depth"], cam.K, masks=obs["masks"],
                 T_world_cam=cam.T_world_cam)
    scene.save(b / "scene")
    plan_task(scene, "put the red block on the blue plate").save(b / "plan.json")
    # A one-episode dataset (eval, augment).
    rng = np.random.default_rng(0)
    with LeRobotWriter(b / "dataset", fps=10, previews=False, workers=1) as w:
        T = 4
        w.add_episode(EpisodeData(
            key="d/0", task="stack", frames={"photo": rng.integers(0, 255, (T, 24, 32, 3),
                                                                   dtype=np.uint8)},
            state=rng.normal(size=(T, 3)), action=rng.normal(size=(T, 3)),
            cameras={"photo": CameraInfo(32, 24, np.array([[30.0, 0, 16], [0, 30, 12],
                                                           [0, 0, 1]]), np.eye(4))}))

    # Manifests.
    job = {"id": "table", "image": str(b / "photo.png"), "depth": str(b / "depth.png"),
           "intrinsics": [float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2])],
           "masks": {n: str(p) for n, p in masks.items()},
           "instruction": "put the red block on the blue plate", "seed": 3, "variations": 2}
    (b / "jobs.jsonl").write_text(json.dumps(job) + "\n")
    (b / "jobs_missing_image.jsonl").write_text(json.dumps(
        {**job, "image": str(b / "no_such_photo.png"), "variations": 1}) + "\n")
    (b / "jobs_bad_json.jsonl").write_text('{"image": "photo.png", \n')
    (b / "jobs_nan.jsonl").write_text(json.dumps(job).replace(
        json.dumps(job["intrinsics"]), "[NaN, NaN, 120, 90]") + "\n")
    (b / "jobs_unknown.jsonl").write_text(json.dumps({**job, "colour": "red"}) + "\n")
    (b / "jobs_empty.jsonl").write_text("# nothing here\n\n")
    return b


# ---------------------------------------------------------------------- a misbehaving VLM
class _VLM(BaseHTTPRequestHandler):
    """A chat-completions endpoint that fails the way real servers do; the behaviour is the
    first path component of the base URL (``http://host:port/<mode>/v1``)."""

    def do_POST(self):  # noqa: N802 - http.server API
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        mode = self.path.strip("/").split("/")[0]
        if mode == "hang":
            time.sleep(20)
            return
        status, ctype, body = {
            "e500": (500, "application/json", b'{"error": {"message": "internal error"}}'),
            "e401": (401, "application/json", b'{"error": {"message": "invalid api key"}}'),
            "garbage": (200, "application/json", b"{'choices': oops <html>"),
            "html": (200, "text/html", b"<html><body>Gateway says hi</body></html>"),
            "wrongshape": (200, "application/json", b'{"result": "ok"}'),
        }[mode]
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def vlm_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _VLM)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


# ---------------------------------------------------------------------- the table
@dataclass
class Case:
    id: str
    args: str
    """Arguments after ``igen``; {b} is the shared input folder, {w} the case's own folder,
    {vlm} the fake VLM server, {unwritable} a directory nothing can be created in."""
    expect: str
    """Must appear in the one stderr line."""
    out: str | None = "out"
    """The output path (relative to {w}) that must not appear, or keep its content."""
    setup: dict[str, str] = field(default_factory=dict)
    """Files to create in {w} before the run (relative path -> content): an occupied
    output."""
    rc: int = 2
    needs_unwritable: bool = False


VLM_PLAN = ("plan --scene {b}/scene --instruction 'put the red block on the blue plate' "
            "--planner vlm --config.vlm.max-attempts 2 --config.vlm.timeout-s 1 "
            "--config.no-check-reachability --out {w}/out/plan.json "
            "--config.vlm.base-url {vlm}/")
LIFT = "lift {b}/photo.png --depth {b}/depth.png --intrinsics {K} "
LIFT_M = LIFT + "--mask 'red block={b}/masks/red_block.png' "
RENDER = "render {b}/scene --out {w}/out.png "
EPISODE = "render-episode --scene {b}/scene --plan {b}/plan.json " + " ".join(
    a.replace("episode.", "") for a in TINY_RIG) + " "
FOREIGN = {"out/holiday.jpg": "my photo"}

CASES = [
    # --- images
    Case("image-missing", "lift {b}/no_such.png --out {w}/out", "image file not found"),
    Case("image-a-directory", "lift {b}/a_directory.png --out {w}/out", "image file not found"),
    Case("image-empty", "lift {b}/empty.png --depth {b}/depth.png --out {w}/out",
         "the file is empty"),
    Case("image-garbage", "lift {b}/garbage.png --depth {b}/depth.png --out {w}/out",
         "cannot read image"),
    Case("image-truncated", "lift {b}/truncated.png --depth {b}/depth.png --out {w}/out",
         "cannot read image"),
    Case("image-text", "lift {b}/text.png --depth {b}/depth.png --out {w}/out",
         "cannot read image"),
    Case("image-huge", "lift {b}/huge.png --depth {b}/depth.png --out {w}/out",
         "20000x20000 (400,000,000 pixels), above the limit"),
    Case("image-over-max-pixels", LIFT + "--max-pixels 1000 --out {w}/out",
         "above the limit of 1,000"),
    Case("image-too-small", "lift {b}/tiny.png --depth {b}/depth.png --out {w}/out",
         "too small (4x4)"),
    Case("max-pixels-zero", LIFT + "--max-pixels 0 --out {w}/out", "--max-pixels must be"),
    # --- depth
    Case("depth-missing", "lift {b}/photo.png --depth {b}/nope.png --out {w}/out",
         "--depth file not found"),
    Case("depth-wrong-size", "lift {b}/photo.png --depth {b}/depth_small.npy --out {w}/out",
         "depth is 100x100 but the image is 240x180"),
    Case("depth-all-zero", "lift {b}/photo.png --depth {b}/depth_zero.npy --out {w}/out",
         "no valid values"),
    Case("depth-all-nan", "lift {b}/photo.png --depth {b}/depth_nan.npy --out {w}/out",
         "no valid values"),
    Case("depth-3d", "lift {b}/photo.png --depth {b}/depth_3d.npy --out {w}/out",
         "must be a 2D map"),
    Case("depth-sparse", "lift {b}/photo.png --depth {b}/depth_sparse.npy --out {w}/out",
         "% of the depth map is valid"),
    Case("depth-object-npy", "lift {b}/photo.png --depth {b}/depth_object.npy --out {w}/out",
         "cannot read depth"),
    Case("depth-rgb-png", "lift {b}/photo.png --depth {b}/depth_rgb.png --out {w}/out",
         "single-channel depth image"),
    Case("depth-corrupt-exr", "lift {b}/photo.png --depth {b}/depth_bad.exr --out {w}/out",
         "cannot read depth"),
    Case("depth-empty-file", "lift {b}/photo.png --depth {b}/depth_empty.png --out {w}/out",
         "the file is empty"),
    Case("depth-scale-negative", LIFT + "--depth-scale -1 --out {w}/out",
         "--depth-scale must be positive"),
    Case("depth-scale-nan", LIFT + "--depth-scale nan --out {w}/out",
         "--depth-scale must be positive"),
    # --- masks and prompts
    Case("mask-missing", LIFT + "--mask 'cup={b}/nope.png' --out {w}/out",
         "mask for 'cup' not found"),
    Case("mask-wrong-size", LIFT + "--mask 'cup={b}/mask_small.png' --out {w}/out",
         "'cup' is 80x60 but the image is 240x180"),
    Case("mask-empty", LIFT + "--mask 'cup={b}/mask_empty.png' --out {w}/out",
         "'cup' is empty"),
    Case("mask-everything", LIFT + "--mask 'cup={b}/mask_full.png' --out {w}/out",
         "covers 100% of the image"),
    Case("mask-garbage", LIFT + "--mask 'cup={b}/mask_garbage.png' --out {w}/out",
         "cannot read mask for 'cup'"),
    Case("mask-no-name", LIFT + "--mask {b}/mask_full.png --out {w}/out",
         "--mask must look like NAME=VALUE"),
    Case("mask-twice", LIFT_M + "--mask 'red block={b}/mask_full.png' --out {w}/out",
         "--mask given twice for 'red block'"),
    Case("prompt-bad", LIFT + "--prompt 'cup=circle:3' --out {w}/out",
         "--prompt value must be"),
    Case("prompt-outside", LIFT + "--prompt 'cup=box:300,200,400,300' --out {w}/out",
         "outside the 240x180 image"),
    # --- numbers
    Case("intrinsics-nan", "lift {b}/photo.png --depth {b}/depth.png --intrinsics nan nan 120 90 "
         "--out {w}/out", "--intrinsics must be finite numbers"),
    Case("intrinsics-negative", "lift {b}/photo.png --depth {b}/depth.png --intrinsics -100 100 "
         "120 90 --out {w}/out", "focal lengths must be positive"),
    Case("intrinsics-off-image", "lift {b}/photo.png --depth {b}/depth.png --intrinsics 100 100 "
         "900 60 --out {w}/out", "intrinsics do not fit"),
    Case("intrinsics-three-values", "lift {b}/photo.png --intrinsics 1 2 3 --out {w}/out",
         "--intrinsics"),
    Case("pose-unreadable", LIFT + "--pose {b}/pose_bad.txt --out {w}/out",
         "cannot read a 4x4 pose"),
    Case("pose-nan", LIFT + "--pose {b}/pose_nan.txt --out {w}/out", "must be finite"),
    Case("unknown-option", "lift {b}/photo.png --colour red --out {w}/out",
         "Unrecognized options: --colour"),
    Case("unknown-command", "frobnicate", "unknown command 'frobnicate'", out=None),
    # --- lift outputs
    Case("lift-out-under-a-file", LIFT + "--out {b}/a_file/scene", "a_file is a file",
         out=None),
    Case("lift-out-is-a-file", LIFT + "--out {w}/out", "exists and is not a directory",
         setup={"out": "precious"}),
    Case("lift-out-foreign-dir", LIFT + "--out {w}/out", "not a scene directory",
         setup=FOREIGN),
    Case("lift-out-unwritable", LIFT + "--out {unwritable}/scene", "cannot write in",
         out=None, needs_unwritable=True),
    # --- plan
    Case("plan-scene-missing", "plan --scene {b}/nope --instruction 'pick the mug' "
         "--out {w}/out/p.json", "not a scene directory"),
    Case("plan-scene-empty-dir", "plan --scene {b}/scene_empty --instruction 'pick the mug' "
         "--out {w}/out/p.json", "not a scene directory"),
    Case("plan-scene-corrupt", "plan --scene {b}/scene_corrupt --instruction 'pick the mug' "
         "--out {w}/out/p.json", "corrupt scene.json"),
    Case("plan-unknown-object", "plan --scene {b}/scene --instruction 'pick up the teapot' "
         "--out {w}/out/p.json", "no object called 'teapot'"),
    Case("plan-empty-instruction", "plan --scene {b}/scene --instruction ' ' "
         "--out {w}/out/p.json", "--instruction is empty"),
    Case("plan-missing-instruction", "plan --scene {b}/scene --out {w}/out/p.json",
         "missing required option(s): --instruction"),
    Case("plan-out-is-a-dir", "plan --scene {b}/scene --instruction 'pick the mug' "
         "--out {w}/out", "is a directory; give a file name such as", setup=FOREIGN),
    Case("plan-out-wrong-suffix", "plan --scene {b}/scene --instruction 'pick the mug' "
         "--out {w}/out.txt", "must end in .json", out="out.txt"),
    Case("plan-out-under-a-file", "plan --scene {b}/scene --instruction 'pick the mug' "
         "--out {b}/a_file/p.json", "a_file is a file", out=None),
    Case("plan-solid-container", "plan --scene {b}/scene --instruction "
         "'put the red block in the green can' --config.no-check-reachability "
         "--out {w}/out/p.json", "cannot hold 'red block': it has no opening"),
    # --- VLM servers
    Case("vlm-http-500", VLM_PLAN.replace("{vlm}/", "{vlm}/e500/v1"),
         "no valid plan in 2 attempts; last problem: request failed: Error code: 500"),
    Case("vlm-http-401", VLM_PLAN.replace("{vlm}/", "{vlm}/e401/v1"), "Error code: 401"),
    Case("vlm-200-not-json", VLM_PLAN.replace("{vlm}/", "{vlm}/garbage/v1"),
         "response body is not JSON"),
    Case("vlm-200-html", VLM_PLAN.replace("{vlm}/", "{vlm}/html/v1"),
         "response is not JSON: '<html>"),
    Case("vlm-200-wrong-shape", VLM_PLAN.replace("{vlm}/", "{vlm}/wrongshape/v1"),
         "not a chat completion"),
    Case("vlm-hangs", VLM_PLAN.replace("{vlm}/", "{vlm}/hang/v1"), "timed out"),
    Case("vlm-refused", VLM_PLAN.replace("{vlm}/", "http://127.0.0.1:9/v1"),
         "Connection error"),
    # --- render
    Case("render-fov-zero-eye", RENDER + "--fov-y-deg 0 --eye 1 1 1",
         "--fov-y-deg must be between 0 and 180", out="out.png"),
    Case("render-fov-zero", RENDER + "--fov-y-deg 0", "--fov-y-deg must be between 0 and 180",
         out="out.png"),
    Case("render-fov-200", RENDER + "--fov-y-deg 200", "--fov-y-deg must be between",
         out="out.png"),
    Case("render-width-zero", RENDER + "--width 0", "--width and --height must be in",
         out="out.png"),
    Case("render-fx-nan", RENDER + "--fx nan", "--fx must be a positive", out="out.png"),
    Case("render-eye-is-target", RENDER + "--eye 1 1 1 --target 1 1 1",
         "--eye and --target are the same point", out="out.png"),
    Case("render-background", RENDER + "--background 2 0 0", "--background must be RGB in",
         out="out.png"),
    Case("render-width-text", RENDER + "--width abc", "--width", out="out.png"),
    Case("render-out-is-a-dir", "render {b}/scene --out {w}/out",
         "is a directory; give a file name such as", setup=FOREIGN),
    Case("render-out-suffix", "render {b}/scene --out {w}/out.xyz",
         "must end in .png, .jpg, .jpeg, .bmp", out="out.xyz"),
    Case("render-out-under-a-file", "render {b}/scene --out {b}/a_file/x.png",
         "a_file is a file", out=None),
    Case("render-depth-out-suffix", RENDER + "--depth-out {w}/d.jpg",
         "--depth-out", out="out.png"),
    Case("render-input-missing", "render {b}/nope.ply --out {w}/out.png",
         "no such PLY file or scene directory", out="out.png"),
    Case("render-input-corrupt", "render {b}/bad.ply --out {w}/out.png",
         "cannot read PLY file", out="out.png"),
    # --- render-episode
    Case("episode-out-foreign", EPISODE + "--out {w}/out", "not an igen-gs LeRobot dataset",
         setup=FOREIGN),
    Case("episode-out-is-a-file", EPISODE + "--out {w}/out", "exists and is not a directory",
         setup={"out": "precious"}),
    Case("episode-out-under-a-file", EPISODE + "--out {b}/a_file/ds", "a_file is a file",
         out=None),
    Case("episode-plan-missing", "render-episode --scene {b}/scene --plan {b}/nope.json "
         "--out {w}/out", "trajectory file not found"),
    Case("episode-scene-missing", "render-episode --scene {b}/nope --plan {b}/plan.json "
         "--out {w}/out", "not a scene directory"),
    # --- generate
    Case("generate-manifest-missing", "generate --manifest {b}/nope.jsonl --out {w}/out",
         "manifest not found"),
    Case("generate-manifest-bad-json", "generate --manifest {b}/jobs_bad_json.jsonl "
         "--out {w}/out", "jobs_bad_json.jsonl:1: not valid JSON"),
    Case("generate-manifest-nan", "generate --manifest {b}/jobs_nan.jsonl --out {w}/out",
         "'intrinsics' must be finite numbers"),
    Case("generate-manifest-unknown", "generate --manifest {b}/jobs_unknown.jsonl "
         "--out {w}/out", "unknown field(s) colour"),
    Case("generate-manifest-empty", "generate --manifest {b}/jobs_empty.jsonl --out {w}/out",
         "the manifest has no jobs"),
    Case("generate-out-foreign", "generate --manifest {b}/jobs.jsonl --out {w}/out",
         "not an igen-gs LeRobot dataset", setup=FOREIGN),
    Case("generate-out-under-a-file", "generate --manifest {b}/jobs.jsonl "
         "--out {b}/a_file/ds", "a_file is a file", out=None),
    Case("generate-workers-zero", "generate --manifest {b}/jobs.jsonl --workers 0 "
         "--out {w}/out", "--workers must be >= 1"),
    Case("generate-every-job-fails", "generate --manifest {b}/jobs_missing_image.jsonl "
         "--out {w}/out " + " ".join(GENERATE_OPTS), "1 of 1 episodes failed"),
    # --- eval and augment
    Case("eval-rendered-missing", "eval --rendered {b}/nope --reference {b}/dataset "
         "--out {w}/out", "--rendered not found"),
    Case("eval-out-foreign", "eval --rendered {b}/dataset --reference {b}/dataset "
         "--out {w}/out", "not an igen eval report", setup=FOREIGN),
    Case("eval-out-under-a-file", "eval --rendered {b}/dataset --reference {b}/dataset "
         "--out {b}/a_file/r", "a_file is a file", out=None),
    Case("augment-input-missing", "augment {b}/nope --out {w}/out", "input not found"),
    Case("augment-out-foreign", "augment {b}/dataset --out {w}/out",
         "not an igen-gs LeRobot dataset", setup=FOREIGN),
    Case("augment-out-is-input", "augment {b}/dataset --out {b}/dataset",
         "--out must differ from the input", out=None),
    # --- demo
    Case("demo-out-is-a-file", "demo --config.out {w}/out", "exists and is not a directory",
         setup={"out": "precious"}),
    Case("demo-out-foreign", "demo --config.out {w}/out", "not an igen demo output",
         setup=FOREIGN),
    Case("demo-photo-too-small", "demo --config.out {w}/out --config.photo-width 6 "
         "--config.photo-height 4", "too small"),
    Case("demo-bad-instruction", "demo --config.out {w}/out --config.photo-width 240 "
         "--config.photo-height 180 --config.stride 1 --config.instruction "
         "'juggle the teapot'", "cannot understand 'juggle the teapot'"),
]


# The table's cases run the CLI's entry point (igen_gs.cli.main.entrypoint, what the installed
# ``igen`` script calls) each in its own process, forked from one interpreter that imported
# the heavy libraries once: the same code path, exit status and stderr as a fresh ``igen``
# process, without paying torch's import for each of ~100 cases on a 2-core machine.
# IGEN_FAULTS_FRESH_PROCESS=1 runs every case as a fresh ``igen`` process instead.
FORK_SERVER = r"""
import json, os, sys, time
from igen_gs.cli import main as cli
for mod in cli._command_modules().values():
    cli._load_command(mod)
import igen_gs.augment, igen_gs.batch.generate, igen_gs.demo, igen_gs.episode.produce
import igen_gs.io, igen_gs.lifting, igen_gs.metrics.evaluate, igen_gs.planning, openai
jobs = json.loads(sys.stdin.read())
sys.stdout.flush(); sys.stderr.flush()
running, results, pending = {}, {}, list(jobs)
while pending or running:
    while pending and len(running) < int(os.environ.get("FORKS", "3")):
        job = pending.pop(0)
        pid = os.fork()
        if pid == 0:
            out = os.open(job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            err = os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(out, 1); os.dup2(err, 2)
            os.environ.update(job["env"])
            sys.argv = ["igen", *job["argv"]]
            code = 1
            try:
                cli.entrypoint()
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            finally:
                sys.stdout.flush(); sys.stderr.flush()
            os._exit(code)
        running[pid] = (job["id"], time.monotonic())
    pid, status = os.waitpid(-1, os.WNOHANG)
    if pid == 0:
        for p, (jid, t0) in list(running.items()):
            if time.monotonic() - t0 > 300:
                os.kill(p, 9)
        time.sleep(0.01)
        continue
    jid, t0 = running.pop(pid)
    results[jid] = {"rc": os.waitstatus_to_exitcode(status), "seconds": time.monotonic() - t0}
print(json.dumps(results))
"""


def _snapshot(path: Path):
    """What is at ``path``: None, the bytes' hash, or every entry under it with its hash."""
    if not os.path.lexists(path):
        return None
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return {str(p.relative_to(path)): (hashlib.sha256(p.read_bytes()).hexdigest()
                                       if p.is_file() else "dir")
            for p in sorted(path.rglob("*"))}


def _prepare(case: Case, b: Path, root: Path, vlm: str, unwritable: Path | None) -> dict:
    """The case's folder, occupied outputs and arguments, and what is there before the run."""
    import shlex

    w = root / case.id
    w.mkdir()
    for rel, content in case.setup.items():
        (w / rel).parent.mkdir(parents=True, exist_ok=True)
        (w / rel).write_text(content)
    out = None if case.out is None else w / case.out
    K = (b / "K.txt").read_text()
    return {"w": w, "out": out, "before": None if out is None else _snapshot(out),
            "listing": sorted(os.listdir(w)),
            "argv": shlex.split(case.args.format(b=b, w=w, vlm=vlm, K=K, unwritable=unwritable))}


def _finish(prep: dict, r: subprocess.CompletedProcess, seconds: float) -> dict:
    return {"r": r, "seconds": seconds, "before": prep["before"],
            "after": None if prep["out"] is None else _snapshot(prep["out"]),
            "listing": prep["listing"], "listing_after": sorted(os.listdir(prep["w"]))}


@pytest.fixture(scope="module")
def results(base, vlm_url, tmp_path_factory) -> dict:
    """Every case of the table, a few at a time (each its own process and folder)."""
    root = tmp_path_factory.mktemp("cases")
    logs = tmp_path_factory.mktemp("logs")
    unwritable = _unwritable_dir(root)
    todo = [c for c in CASES if unwritable is not None or not c.needs_unwritable]
    preps = {c.id: _prepare(c, base, root, vlm_url, unwritable) for c in todo}
    if os.environ.get("IGEN_FAULTS_FRESH_PROCESS", "0") not in ("", "0"):
        def one(cid):
            t0 = time.perf_counter()
            r = igen(*preps[cid]["argv"])
            return _finish(preps[cid], r, time.perf_counter() - t0)

        with ThreadPoolExecutor(max_workers=3) as pool:
            return dict(zip(preps, pool.map(one, preps)))
    jobs = [{"id": cid, "argv": p["argv"], "env": {"IGEN_DEBUG": "0"},
             "stdout": str(logs / f"{cid}.out"), "stderr": str(logs / f"{cid}.err")}
            for cid, p in preps.items()]
    server = subprocess.run([sys.executable, "-c", FORK_SERVER], input=json.dumps(jobs),
                            capture_output=True, text=True, timeout=1200,
                            env={**os.environ, "FORKS": "3"})
    assert server.returncode == 0, server.stderr[-3000:]
    done = json.loads(server.stdout.strip().splitlines()[-1])
    out = {}
    for cid, p in preps.items():
        r = subprocess.CompletedProcess(["igen", *p["argv"]], done[cid]["rc"],
                                        (logs / f"{cid}.out").read_text(),
                                        (logs / f"{cid}.err").read_text())
        out[cid] = _finish(p, r, done[cid]["seconds"])
    return out


def test_the_table_has_at_least_60_cases_with_unique_ids():
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(case: Case, results):
    if case.id not in results:
        pytest.skip("no unwritable directory on this machine (root, and /sys is writable)")
    res = results[case.id]
    r = res["r"]
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    assert r.returncode == case.rc, (r.returncode, r.stderr[-2000:])
    assert len(lines) == 1, r.stderr  # exactly one line ...
    assert lines[0].startswith("igen: error: "), lines[0]
    assert case.expect in lines[0], lines[0]  # ... naming the problem
    # Nothing written at the output, or what was there is intact; no temporary leftovers.
    assert res["after"] == res["before"], (case.out, res["before"], res["after"])
    assert res["listing_after"] == res["listing"], res["listing_after"]


def test_report_counts(results):
    """The numbers for the README: cases, clean one-line errors, data lost."""
    clean = sum(1 for c in CASES if c.id in results
                and results[c.id]["r"].returncode == c.rc
                and results[c.id]["r"].stderr.count("\n") == 1
                and "Traceback" not in results[c.id]["r"].stderr)
    lost = sum(1 for c in CASES if c.id in results
               and results[c.id]["after"] != results[c.id]["before"])
    slow = sorted(((round(v["seconds"], 1), k) for k, v in results.items()), reverse=True)[:5]
    print(f"\nigen fault cases: {len(results)} run, {clean} clean one-line errors, data lost: "
          f"{lost}; slowest: {slow}")
    assert clean == len(results) and lost == 0


# ---------------------------------------------------------------------- not errors, but checked
def test_debug_shows_the_traceback(base, tmp_path):
    r = igen("lift", base / "garbage.png", "--depth", base / "depth.png", "--out",
             tmp_path / "s", env={"IGEN_DEBUG": "1"})
    assert r.returncode == 2 and "Traceback" in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("igen: error: cannot read image")
    r = igen("--debug", "lift", base / "garbage.png", "--out", tmp_path / "s")
    assert r.returncode == 2 and "Traceback" in r.stderr


def test_help_is_fast_and_lists_every_command():
    t0 = time.perf_counter()
    r = igen("--help")
    seconds = time.perf_counter() - t0
    assert r.returncode == 0
    for name in ("lift", "plan", "render", "render-episode", "generate", "augment", "eval",
                 "demo"):
        assert f"  {name} " in r.stdout
    assert seconds < 3.0, seconds  # < 0.5 s on an idle machine: no torch imported
    r = igen("lift", "--help")
    assert r.returncode == 0 and "--max-pixels" in r.stdout


def test_depth_units_and_replacing_a_scene_with_the_users_umask(base, tmp_path):
    """Integer .npy depth is scaled like a 16-bit PNG (millimetres by default); float depth
    in millimetres is lifted but warned about, naming the likely unit. The second lift
    replaces the first scene; directories get the user's umask, not mkdtemp's 0700."""
    from igen_gs.scene import Scene

    K = (base / "K.txt").read_text().split()
    masks = [a for m in (base / "mask_args.txt").read_text().splitlines() for a in ("--mask", m)]
    old = os.umask(0o022)
    try:
        ok = igen("lift", base / "photo.png", "--depth", base / "depth_mm_int.npy",
                  "--intrinsics", *K, *masks, "--out", tmp_path / "s")
        assert ok.returncode == 0 and ok.stderr == "", ok.stderr
        plane = Scene.load(tmp_path / "s").support_plane  # world = camera: |d| = distance
        assert plane is not None and 0.2 < abs(float(plane[3])) < 3.0  # metres, not mm
        assert oct((tmp_path / "s").stat().st_mode & 0o777) == oct(0o755)
        warned = igen("lift", base / "photo.png", "--depth", base / "depth_mm_float.npy",
                      "--intrinsics", *K, *masks, "--out", tmp_path / "s")
    finally:
        os.umask(old)
    lines = warned.stderr.strip().splitlines()
    assert warned.returncode == 0 and len(lines) == 1, warned.stderr
    assert lines[0].startswith("igen: warning: ") and "millimetres read as metres" in lines[0]
    assert oct((tmp_path / "s").stat().st_mode & 0o777) == oct(0o755)
    assert oct((tmp_path / "s" / "objects").stat().st_mode & 0o777) == oct(0o755)
    assert sorted(os.listdir(tmp_path)) == ["s"]  # the old scene and the temporaries are gone


def test_render_says_which_options_have_no_effect(base, tmp_path):
    r = igen("render", base / "scene", "--out", tmp_path / "v.png", "--fov-y-deg", "30",
             "--width", "64", "--height", "48")
    assert r.returncode == 0 and (tmp_path / "v.png").is_file()
    assert r.stderr.startswith("igen: note: --fov-y-deg 30 has no effect"), r.stderr
    r = igen("render", base / "scene", "--out", tmp_path / "v.png", "--fov-y-deg", "30",
             "--eye", "0", "-0.5", "0.5", "--width", "64", "--height", "48")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert sorted(os.listdir(tmp_path)) == ["v.png"]  # no temporary file beside it
    assert oct((tmp_path / "v.png").stat().st_mode & 0o777) != oct(0o600)


# ---------------------------------------------------------------------- generate: exit code,
# concurrent writers, kill -9 and resume
def _keys(ds_path: Path) -> list[str]:
    from igen_gs.io import load_lerobot_dataset

    return sorted(e.key for e in load_lerobot_dataset(ds_path).episodes)


def _generate_args(manifest: Path, out: Path, *extra) -> list:
    return ["generate", "--manifest", manifest, "--out", out, *GENERATE_OPTS, *extra]


@pytest.mark.slow
def test_two_generate_processes_on_one_output_write_each_episode_once(base, tmp_path):
    out = tmp_path / "ds"
    manifest = tmp_path.parent / f"{tmp_path.name}.jsonl"
    manifest.write_text((base / "jobs.jsonl").read_text().replace('"variations": 2',
                                                                  '"variations": 1'))
    env = {**os.environ, "IGEN_DEBUG": "0"}
    procs = [subprocess.Popen([*IGEN, *map(str, _generate_args(manifest, out,
                                                                "--config.no-previews"))],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (so, se) in zip(procs, outs):
        assert p.returncode == 0, se
        assert " 0 failed" in so, so
    assert _keys(out) == ["table/0"]  # written once: the other process skipped it
    assert not (out / "failures.jsonl").exists()  # a skip, not a failure
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def _kill_when(cmd: list, condition, timeout: float = 300) -> bool:
    """Start ``cmd``, kill -9 its whole process group as soon as ``condition()`` holds
    (polled every 5 ms); True if it was killed, False if it finished first."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, env={**os.environ, "IGEN_DEBUG": "0"})
    deadline = time.monotonic() + timeout
    try:
        while p.poll() is None and time.monotonic() < deadline:
            if condition():
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                return True
            time.sleep(0.005)
        return False
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@pytest.mark.slow
def test_kill_9_at_three_points_of_generate_then_resume(base, tmp_path):
    """kill -9 (the driver and its workers) (1) before the first episode, (2) while the first
    episode is being written, (3) after it, while the second is being written; after each the
    output is absent or a dataset that loads, and the last run resumes without duplicates."""
    out = tmp_path / "ds"
    manifest = tmp_path.parent / f"{tmp_path.name}.jsonl"  # a good job (2 episodes), a broken one
    manifest.write_text((base / "jobs.jsonl").read_text() + (
        base / "jobs_missing_image.jsonl").read_text().replace('"id": "table"', '"id": "broken"'))
    cmd = [*IGEN, *map(str, _generate_args(manifest, out))]
    parent = tmp_path

    def first_episode_staging():
        return any(p.name.startswith(".ds.igen-new-") for p in parent.iterdir())

    def second_episode_staging():
        return (out / ".staging").is_dir() and (out / "meta" / "info.json").is_file()

    started = time.monotonic()  # (1) starting up, workers lifting
    assert _kill_when(cmd, lambda: time.monotonic() - started > 5.0 or first_episode_staging())
    assert not out.exists()  # nothing at the output before an episode exists
    killed = [_kill_when(cmd, first_episode_staging), _kill_when(cmd, second_episode_staging)]
    for p in tmp_path.iterdir():  # only the dataset, or nothing yet
        assert p.name == "ds" or p.name.startswith(".ds.igen-new-"), p
    if out.exists():
        assert set(_keys(out)) <= {"table/0", "table/1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)  # resume
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr  # the broken job: not exit 0
    assert "1 of 3 episodes failed" in lines[0] and "--allow-failures" in lines[0], lines
    assert "failed broken/0: FileNotFoundError" in r.stdout, r.stdout
    assert _keys(out) == ["table/0", "table/1"]  # each once
    from igen_gs.io import load_lerobot_dataset

    ds = load_lerobot_dataset(out)
    assert [e.index for e in ds.episodes] == [0, 1] and ds.info["total_episodes"] == 2
    assert all(e.frames("photo").shape[0] == e.length for e in ds.episodes)
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]  # stale temporaries removed
    assert any(killed), "neither write was caught in the act; the kill points never hit"
    assert [json.loads(ln)["key"] for ln in (out / "failures.jsonl").read_text().splitlines()
            ] == ["broken/0"]
    r = subprocess.run([*cmd, "--allow-failures"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "0 episodes written, 2 already there, 1 failed" in r.stdout, \
        (r.stdout, r.stderr)
