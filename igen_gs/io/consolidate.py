"""Pack a dataset written one file per episode into LeRobot's own layout: several episodes per
data file and per video file, up to size limits, as ``LeRobotDataset`` writes them.

Episodes are concatenated in order. Videos are remuxed, not re-encoded (no quality loss):
their packets are copied with their timestamps shifted by the duration of the episodes before
them, and each episode's metadata row records where it now starts and ends
(``videos/<key>/from_timestamp``, ``to_timestamp``), its data file and its video files. Data
and video files roll over to the next file index (and chunk) when adding an episode would pass
``data_files_size_in_mb`` / ``video_files_size_in_mb``. Extras and previews are copied as they
are. The result is written to a temporary directory beside ``dst`` and renamed into place.

A consolidated dataset is for reading and training; :class:`~igen_gs.io.LeRobotWriter` does not
append to it (write more episodes to the per-episode dataset and consolidate again).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from ..outputs import staged_dir
from .lerobot import (
    CHUNKS_SIZE,
    CODEBASE_VERSION,
    DATA_PATH,
    EPISODES_PATH,
    VIDEO_PATH,
    _json_default,
)

LAYOUT_KEY = "layout"
CONCATENATED = "concatenated"


def _next(chunk: int, file: int) -> tuple[int, int]:
    return (chunk + 1, 0) if file == CHUNKS_SIZE - 1 else (chunk, file + 1)


def _groups(sizes: list[int], limit_bytes: float) -> list[list[int]]:
    """Consecutive indices grouped so that each group's total size stays within the limit
    (a single item larger than the limit gets a group of its own)."""
    groups: list[list[int]] = []
    total = 0.0
    for i, s in enumerate(sizes):
        if groups and total + s <= limit_bytes:
            groups[-1].append(i)
            total += s
        else:
            groups.append([i])
            total = s
    return groups


def concat_videos(inputs: list[Path], out: Path, fps: int) -> list[tuple[float, float]]:
    """Remux MP4s with identical encoding settings one after the other into ``out``; returns
    each input's (from, to) presentation times in seconds in the output. Every input must hold
    whole frames at ``fps`` starting at time 0 (as :func:`~igen_gs.io.video.encode_mp4` writes).
    """
    import av

    spans: list[tuple[float, float]] = []
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.mp4")
    start_frames = 0
    extradata = None
    try:
        with av.open(str(tmp), "w") as oc:
            ostream = None
            for path in inputs:
                with av.open(str(path)) as ic:
                    istream = ic.streams.video[0]
                    ctx = istream.codec_context
                    if ostream is None:
                        ostream = oc.add_stream_from_template(istream)
                        ostream.time_base = istream.time_base
                        extradata = ctx.extradata
                    elif ctx.extradata != extradata:
                        raise ValueError(f"{path} was encoded with other settings than "
                                         f"{inputs[0]}; cannot concatenate without re-encoding")
                    tb = istream.time_base
                    shift = int(round(start_frames / fps / tb))
                    n = 0
                    for pkt in ic.demux(istream):
                        if pkt.dts is None:  # the demuxer's end-of-stream marker
                            continue
                        pkt.pts += shift
                        pkt.dts += shift
                        pkt.stream = ostream
                        oc.mux(pkt)
                        n += 1
                    if n == 0:
                        raise ValueError(f"video {path} has no frames")
                spans.append((start_frames / fps, (start_frames + n) / fps))
                start_frames += n
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return spans


def consolidate_dataset(src, dst, data_files_size_in_mb: float = 100.0,
                        video_files_size_in_mb: float = 200.0, progress: bool = False) -> Path:
    """Write the dataset at ``src`` to ``dst`` with episodes packed into shared data and video
    files (see the module docstring). ``dst`` must not exist. Returns ``dst``."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    src, dst = Path(src), Path(dst)
    info_path = src / "meta" / "info.json"
    if not info_path.is_file():
        raise FileNotFoundError(f"not a LeRobot dataset (no meta/info.json): {src}")
    if dst.exists():
        raise ValueError(f"destination {dst} already exists")
    if data_files_size_in_mb <= 0 or video_files_size_in_mb <= 0:
        raise ValueError("file size limits must be positive")
    info = json.loads(info_path.read_text())
    if info.get("codebase_version") != CODEBASE_VERSION:
        raise ValueError(f"{src} is LeRobot {info.get('codebase_version')}, not "
                         f"{CODEBASE_VERSION}")
    rows = []
    for p in sorted((src / "meta" / "episodes").glob("chunk-*/file-*.parquet")):
        rows += pq.read_table(p).to_pylist()
    rows.sort(key=lambda r: r["episode_index"])
    if not rows:
        raise ValueError(f"dataset {src} has no episodes")
    fps = int(info["fps"])
    video_keys = [k for k, v in info["features"].items() if v["dtype"] == "video"]

    def data_file(r):
        return src / info["data_path"].format(chunk_index=r["data/chunk_index"],
                                              file_index=r["data/file_index"])

    def video_file(r, k):
        return src / info["video_path"].format(video_key=k,
                                               chunk_index=r[f"videos/{k}/chunk_index"],
                                               file_index=r[f"videos/{k}/file_index"])

    shared = [r["episode_index"] for r in rows for k in video_keys
              if r[f"videos/{k}/from_timestamp"] != 0.0]
    if shared:
        raise ValueError(f"{src} already shares video files between episodes (episode "
                         f"{shared[0]} starts inside one); consolidate a per-episode dataset")

    steps = 1 + len(video_keys)
    with staged_dir(dst) as tmp:  # renamed into place when complete, else removed
        with tqdm(total=steps, desc="consolidate", unit="part", disable=not progress) as bar:
            # Data files.
            sizes = [data_file(r).stat().st_size for r in rows]
            chunk, file = 0, 0
            for g, group in enumerate(_groups(sizes, data_files_size_in_mb * 2**20)):
                if g:
                    chunk, file = _next(chunk, file)
                tables = []
                for i in group:
                    t = pq.read_table(data_file(rows[i]))
                    mask = np.asarray(t["episode_index"]) == rows[i]["episode_index"]
                    tables.append(t.filter(pa.array(mask)))
                    rows[i]["data/chunk_index"], rows[i]["data/file_index"] = chunk, file
                out = tmp / DATA_PATH.format(chunk_index=chunk, file_index=file)
                out.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(pa.concat_tables(tables), out, compression="snappy")
            bar.update()
            # Video files, per camera.
            for k in video_keys:
                bar.set_postfix_str(k)
                paths = [video_file(r, k) for r in rows]
                sizes = [p.stat().st_size for p in paths]
                chunk, file = 0, 0
                for g, group in enumerate(_groups(sizes, video_files_size_in_mb * 2**20)):
                    if g:
                        chunk, file = _next(chunk, file)
                    out = tmp / VIDEO_PATH.format(video_key=k, chunk_index=chunk,
                                                  file_index=file)
                    spans = concat_videos([paths[i] for i in group], out, fps)
                    for i, (t0, t1) in zip(group, spans, strict=True):
                        if round((t1 - t0) * fps) != rows[i]["length"]:
                            raise ValueError(f"{paths[i]} holds {round((t1 - t0) * fps)} "
                                             f"frames, episode {i} has {rows[i]['length']}")
                        rows[i].update({f"videos/{k}/chunk_index": chunk,
                                        f"videos/{k}/file_index": file,
                                        f"videos/{k}/from_timestamp": t0,
                                        f"videos/{k}/to_timestamp": t1})
                bar.update()
            # Episode metadata: one file per chunk of episodes.
            for start in range(0, len(rows), CHUNKS_SIZE):
                c, f = divmod(start // CHUNKS_SIZE, CHUNKS_SIZE)
                part = rows[start:start + CHUNKS_SIZE]
                for r in part:
                    r["meta/episodes/chunk_index"], r["meta/episodes/file_index"] = c, f
                out = tmp / EPISODES_PATH.format(chunk_index=c, file_index=f)
                out.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(pa.Table.from_pylist(part), out)
        # Tasks, statistics, extras, previews as they are; info with the new limits.
        for rel in ("meta/tasks.parquet", "meta/stats.json"):
            if (src / rel).is_file():
                shutil.copy2(src / rel, tmp / rel)
        for rel in ("extras", "previews"):
            if (src / rel).is_dir():
                shutil.copytree(src / rel, tmp / rel)
        for sub in ("meta", "data", "videos", "extras", "previews"):
            for p in (tmp / sub).rglob(".*.tmp*"):
                p.unlink()
        info["data_files_size_in_mb"] = data_files_size_in_mb
        info["video_files_size_in_mb"] = video_files_size_in_mb
        info.setdefault("igen_gs", {})[LAYOUT_KEY] = CONCATENATED
        (tmp / "meta" / "info.json").write_text(json.dumps(info, indent=4,
                                                           default=_json_default))
    return dst

