"""MP4 encoding and decoding with PyAV.

Encoding: constant frame rate ``fps``, pixel format yuv420p, frame i presented at exactly
i / fps (what LeRobot's decoders look up, with a 1e-4 s tolerance). Codecs (all decodable by
LeRobot's ``pyav`` video backend):

* ``"h264"`` -- libx264, the default: fast, deterministic (one thread, no B-frames, no
  lookahead), ``crf`` 18 is visually lossless on rendered frames;
* ``"av1"``  -- libsvtav1 (LeRobot's own default; smaller files, slower to decode).

(libx265 is not offered: the build PyAV ships with corrupts its heap here.)

A keyframe every ``gop`` frames (2 by default, as LeRobot does) keeps random frame access
cheap. yuv420p needs even sizes: odd heights/widths are padded by repeating the last row or
column (:func:`padded_size`); the stored video has the padded size.

RGB is converted to yuv420p here (:func:`rgb_to_yuv420p`: BT.601 limited range, what decoders
assume for untagged streams, chroma averaged over 2x2 pixels) rather than by libswscale, whose
conversion of small frames was seen to differ from run to run; so the same frames always give
the same bytes.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

CODECS = {"h264": "libx264", "av1": "libsvtav1"}
DEFAULT_CODEC = "h264"
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")


def padded_size(height: int, width: int) -> tuple[int, int]:
    """(H, W) rounded up to even numbers, the size a yuv420p video stores."""
    return height + height % 2, width + width % 2


# BT.601 limited range: rows Y, Cb, Cr; last column the offset (RGB in 0..255).
_RGB_TO_YUV = np.array([[0.256788, 0.504129, 0.097906, 16.0],
                        [-0.148223, -0.290993, 0.439216, 128.0],
                        [0.439216, -0.367788, -0.071427, 128.0]])


def rgb_to_yuv420p(img: np.ndarray) -> np.ndarray:
    """uint8 RGB [H, W, 3] (H, W even) -> planar yuv420p as uint8 [3H/2, W]: the Y plane, then
    the Cb and Cr planes at half resolution (2x2 means)."""
    import cv2

    H, W, _ = img.shape
    yuv = cv2.transform(np.ascontiguousarray(img), _RGB_TO_YUV)
    half = cv2.resize(yuv, (W // 2, H // 2), interpolation=cv2.INTER_AREA)  # 2x2 means
    out = np.empty((H * 3 // 2, W), np.uint8)
    out[:H] = yuv[..., 0]
    chroma = out[H:].reshape(2, H // 2, W // 2)
    chroma[0] = half[..., 1]
    chroma[1] = half[..., 2]
    return out


def _encoder_options(codec: str, crf: int, gop: int, preset: str) -> dict[str, str]:
    if codec == "h264":
        # No lookahead (no mb-tree, no scene-cut analysis): with it, x264 sometimes wrote other
        # bytes for the same frames under CPU load (measured: 9 of 240 small videos, six
        # encoding threads, the machine busy; with these settings 0 of 600). The keyframe
        # interval is a couple of frames anyway, so the lookahead bought next to nothing.
        return {"crf": str(crf), "preset": preset, "g": str(gop), "bf": "0", "threads": "1",
                "x264-params": "rc-lookahead=0:mbtree=0:scenecut=0"}
    return {"crf": str(crf), "g": str(gop), "preset": "10"}


def encode_mp4(path, frames: np.ndarray, fps: float, crf: int = 18, codec: str = DEFAULT_CODEC,
               gop: int = 2, preset: str = "veryfast") -> Path:
    """Write uint8 frames [T, H, W, 3] to ``path`` (atomically: a temp file renamed).

    ``codec`` is one of :data:`CODECS`; ``crf`` its quality (lower = better); ``gop`` the
    keyframe interval in frames; ``preset`` x264's speed/size trade-off (640x480, crf 18, one
    thread, measured: "veryfast" 5.7 ms and 35 kB per frame, "ultrafast" 1.7 ms and 52 kB,
    the same PSNR); ignored for av1."""
    import av

    if codec not in CODECS:
        raise ValueError(f"unknown video codec {codec!r}; expected one of {sorted(CODECS)}")
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"video frames must be uint8 [T, H, W, 3], got {frames.dtype} "
                         f"{frames.shape}")
    if frames.shape[0] == 0:
        raise ValueError("cannot encode a video with no frames")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if preset not in X264_PRESETS:
        raise ValueError(f"unknown x264 preset {preset!r}; expected one of {X264_PRESETS}")
    T, H, W, _ = frames.shape
    Hp, Wp = padded_size(H, W)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.mp4")
    if codec == "av1":
        os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints a banner to stderr otherwise
    rate = Fraction(fps).limit_denominator(1000)
    try:
        with av.open(str(tmp), mode="w") as container:
            stream = container.add_stream(CODECS[codec], rate=rate,
                                          options=_encoder_options(codec, crf, gop, preset))
            stream.width, stream.height = Wp, Hp
            stream.pix_fmt = "yuv420p"
            if codec == "h264":  # one thread: byte-identical output for identical input
                stream.codec_context.thread_count = 1
                stream.codec_context.thread_type = "NONE"
            for i in range(T):
                img = frames[i]
                if (Hp, Wp) != (H, W):
                    img = np.pad(img, ((0, Hp - H), (0, Wp - W), (0, 0)), mode="edge")
                frame = av.VideoFrame.from_ndarray(rgb_to_yuv420p(img), format="yuv420p")
                frame.pts = i  # in the codec's time base, 1 / fps
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def decode_mp4(path, start_s: float | None = None, end_s: float | None = None) -> np.ndarray:
    """Frames of an MP4 as uint8 [T, H, W, 3]: all of them, or those presented in
    [``start_s``, ``end_s``) seconds (how LeRobot v3 locates one episode in a video file that
    holds several). Frame times are compared with half a frame of slack."""
    import av

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}")
    out = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.base_rate
            slack = 0.5 / float(rate) if rate else 1e-4
            if start_s is not None and start_s > slack:
                container.seek(int(start_s / stream.time_base), stream=stream, backward=True,
                               any_frame=False)
            for f in container.decode(stream):
                t = float(f.pts * stream.time_base) if f.pts is not None else None
                if t is not None and start_s is not None and t < start_s - slack:
                    continue
                if t is not None and end_s is not None and t >= end_s - slack:
                    break
                out.append(f.to_ndarray(format="rgb24"))
    except av.error.FFmpegError as e:
        raise ValueError(f"cannot decode video {path}: {e}") from None
    if not out:
        raise ValueError(f"video {path} has no frames in [{start_s}, {end_s}) s")
    return np.stack(out)


def video_info(path) -> dict:
    """LeRobot's ``info`` block of a video feature (the keys ``meta/info.json`` uses)."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return {"video.height": s.height, "video.width": s.width,
                "video.codec": s.codec_context.codec.canonical_name,
                "video.pix_fmt": s.pix_fmt, "video.is_depth_map": False,
                "video.fps": int(round(float(s.base_rate or s.average_rate))),
                "video.channels": 3, "has_audio": False}
