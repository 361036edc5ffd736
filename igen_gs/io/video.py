"""MP4 encoding and decoding with PyAV.

Encoding: H.264 (libx264), yuv420p, constant frame rate ``fps``; frame i has presentation time
i / fps exactly (time base 1 / fps), which is what LeRobot's video decoding looks up. Odd
frame sizes are padded by one edge row/column (yuv420p needs even sizes).
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

DEFAULT_CODEC = "libx264"


def encode_mp4(path, frames: np.ndarray, fps: float, crf: int = 18, codec: str = DEFAULT_CODEC,
               gop: int = 2) -> Path:
    """Write uint8 frames [T, H, W, 3] to ``path`` (atomically: a temp file renamed).

    ``crf`` is x264's quality (lower = better; 18 is visually lossless for most content);
    ``gop`` is the keyframe interval (short makes random frame access cheap)."""
    import av

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"video frames must be uint8 [T, H, W, 3], got {frames.dtype} "
                         f"{frames.shape}")
    if frames.shape[0] == 0:
        raise ValueError("cannot encode a video with no frames")
    T, H, W, _ = frames.shape
    pad_h, pad_w = H % 2, W % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.mp4")
    rate = Fraction(fps).limit_denominator(1000)
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = W + pad_w, H + pad_h
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": str(crf), "preset": "veryfast", "g": str(gop),
                              "bf": "0", "threads": "1"}
        for i in range(T):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frames[i]), format="rgb24")
            frame.pts = i  # in units of the codec's time base, 1 / fps
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(tmp, path)
    return path


def decode_mp4(path, crop: tuple[int, int] | None = None) -> np.ndarray:
    """All frames of an MP4 as uint8 [T, H, W, 3] (cropped to (H, W) if given)."""
    import av

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}")
    try:
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except av.error.FFmpegError as e:
        raise ValueError(f"cannot decode video {path}: {e}") from None
    if not frames:
        raise ValueError(f"video {path} has no frames")
    out = np.stack(frames)
    if crop is not None:
        out = out[:, :crop[0], :crop[1]]
    return out


def video_info(path) -> dict:
    """LeRobot's ``info`` block for a video feature."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return {"video.height": s.height, "video.width": s.width,
                "video.codec": s.codec_context.codec.canonical_name,
                "video.pix_fmt": s.pix_fmt, "video.is_depth_map": False,
                "video.fps": int(round(float(s.base_rate or s.average_rate))),
                "video.channels": 3, "has_audio": False}
