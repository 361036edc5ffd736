"""Executors that run batch jobs in parallel and hand results back to one writer.

Both yield ``(item, ok, value)`` as jobs finish (in completion order): ``ok`` is False when the
job raised or its worker died, and ``value`` is then a one-line reason. A failing job never
stops the batch.

* :class:`LocalExecutor`: worker processes on this machine (``concurrent.futures``, spawn).
* :class:`RayExecutor`: one Ray task per job, on a local Ray instance or an existing cluster
  (``address``); results travel through Ray's object store back to the driver.

Each worker sets torch's (and the CPU kernels') thread count to ``threads_per_worker`` so
that workers do not oversubscribe the cores.

GPUs (``gpus``: how many CUDA devices the jobs may use; 0, the default, changes nothing): local
workers take one GPU each, round robin, through ``CUDA_VISIBLE_DEVICES`` when several are
visible, and share the one GPU otherwise (:func:`gpu_assignment`); Ray tasks request
``num_gpus`` (a fraction when workers share, :func:`ray_gpus_per_task`) and Ray sets their
``CUDA_VISIBLE_DEVICES``.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import multiprocessing as mp
import os
import re
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _reason(exc: BaseException) -> str:
    msg = _ANSI.sub("", str(exc)).strip().splitlines()
    text = msg[0] if msg else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _set_threads(n: int) -> None:
    os.environ["IGEN_GS_NUM_THREADS"] = str(n)
    os.environ["OMP_NUM_THREADS"] = str(n)
    import torch

    torch.set_num_threads(n)


def visible_gpus(count: int, env: str | None = None) -> list[str]:
    """The ids of the ``count`` CUDA devices this process sees, as ``CUDA_VISIBLE_DEVICES``
    names them (``env``, default the variable itself; unset: ``0 .. count - 1``)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES") if env is None else env
    ids = [x.strip() for x in env.split(",") if x.strip()] if env else []
    return ids[:count] if ids else [str(i) for i in range(count)]


def gpu_assignment(workers: int, visible: list[str]) -> list[str | None]:
    """``CUDA_VISIBLE_DEVICES`` for each of ``workers`` local workers given the ``visible``
    GPU ids: one GPU each, round robin, when there are several; None (leave the environment
    alone: every worker sees what the driver sees) for one GPU, which they share, or none."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if len(visible) <= 1:
        return [None] * workers
    return [visible[i % len(visible)] for i in range(workers)]


def ray_gpus_per_task(workers: int, gpus: float) -> float:
    """``num_gpus`` of one Ray task when ``workers`` tasks run at once on ``gpus`` GPUs: 0
    without GPUs, else at most 1, a fraction (rounded down to Ray's 1e-4 grain) when tasks
    share a GPU."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if gpus <= 0:
        return 0.0
    share = min(1.0, gpus / workers)
    return max(1e-4, math.floor(share * 1e4) / 1e4)


def _take_gpu(assignments) -> None:
    """Worker initializer: this worker's ``CUDA_VISIBLE_DEVICES`` (before CUDA starts)."""
    gpu = assignments.get()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu


def _worker_logging() -> None:
    """A worker's log records on stderr as one line each, like the driver's: igen-gs warnings
    and anything at ERROR or above (third-party libraries' warnings are noise to a user)."""
    import logging

    root = logging.getLogger()
    if getattr(root, "_igen_worker", False):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("igen: %(levelname)s (worker %(process)d): "
                                           "%(message)s"))
    root.handlers[:] = [handler]
    root.setLevel(logging.ERROR)
    logging.getLogger("igen_gs").setLevel(logging.WARNING)
    root._igen_worker = True


def _call(fn: Callable[[Any], Any], item: Any, threads: int) -> tuple[bool, Any]:
    """Runs in the worker: never raises, returns (ok, value or reason)."""
    _worker_logging()
    _set_threads(threads)
    try:
        return True, fn(item)
    except Exception as e:  # noqa: BLE001 - a job's failure is data for the report
        if isinstance(e, (ValueError, FileNotFoundError)):
            return False, _reason(e)
        return False, _reason(e) + " | " + traceback.format_exc(limit=3).strip().splitlines()[-1]


class LocalExecutor:
    """Worker processes on this machine; with ``gpus`` > 0, on this machine's first ``gpus``
    visible CUDA devices (see :func:`gpu_assignment`)."""

    def __init__(self, workers: int = 2, threads_per_worker: int | None = None, gpus: int = 0):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.threads = threads_per_worker or max(1, (os.cpu_count() or 1) // workers)
        self.assignment = gpu_assignment(workers, visible_gpus(gpus) if gpus > 0 else [])

    def _pool(self, ctx, assignment: list[str | None]) -> cf.ProcessPoolExecutor:
        if all(a is None for a in assignment):
            return cf.ProcessPoolExecutor(len(assignment), mp_context=ctx)
        queue = ctx.Queue()
        for a in assignment:
            queue.put(a)
        return cf.ProcessPoolExecutor(len(assignment), mp_context=ctx, initializer=_take_gpu,
                                      initargs=(queue,))

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]
                      ) -> Iterator[tuple[Any, bool, Any]]:
        ctx = mp.get_context("spawn")
        unfinished: list[Any] = []
        with self._pool(ctx, self.assignment) as pool:
            futures = {pool.submit(_call, fn, it, self.threads): it for it in items}
            for fut in cf.as_completed(futures):
                try:
                    ok, value = fut.result()
                except cf.process.BrokenProcessPool:
                    unfinished.append(futures[fut])
                    continue
                yield futures[fut], ok, value
        # A worker died (crash, out of memory) and took the pool down: we cannot tell which job
        # killed it, so the unfinished ones run again one per fresh process; a job whose
        # process dies on its own is reported as failed.
        for item in unfinished:
            with self._pool(ctx, self.assignment[:1]) as pool:
                try:
                    ok, value = pool.submit(_call, fn, item, self.threads).result()
                except cf.process.BrokenProcessPool:
                    ok, value = False, "worker process died (crash or out of memory)"
            yield item, ok, value


class RayExecutor:
    """One Ray task per job. ``address=None`` starts a local Ray instance with ``workers``
    CPUs (and ``gpus`` GPUs; stopped again when done); otherwise connects to that cluster.
    With ``gpus`` > 0 each task requests :func:`ray_gpus_per_task` GPUs (on a cluster: of
    the cluster's GPUs)."""

    def __init__(self, workers: int = 2, address: str | None = None,
                 threads_per_worker: int | None = None, runtime_env: dict | None = None,
                 gpus: int = 0):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.gpus = gpus
        self.address = address
        self.threads = threads_per_worker or max(1, (os.cpu_count() or 1) // workers)
        self.runtime_env = runtime_env

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]
                      ) -> Iterator[tuple[Any, bool, Any]]:
        import ray

        started_here = False
        if not ray.is_initialized():
            if self.address is None:
                ray.init(num_cpus=self.workers, num_gpus=self.gpus, include_dashboard=False,
                         log_to_driver=False, configure_logging=False,
                         runtime_env=self.runtime_env)
            else:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False,
                         runtime_env=self.runtime_env)
            started_here = True
        try:
            gpus = self.gpus
            if gpus > 0 and self.address is not None:
                gpus = ray.cluster_resources().get("GPU", 0)
                if gpus <= 0:
                    raise ValueError(f"the Ray cluster at {self.address} has no GPUs; "
                                     "use --device cpu")
            remote = ray.remote(num_cpus=1, num_gpus=ray_gpus_per_task(self.workers, gpus),
                                max_retries=0)(_call)
            refs = {remote.remote(fn, it, self.threads): it for it in items}
            waiting = list(refs)
            while waiting:
                done, waiting = ray.wait(waiting, num_returns=1)
                ref = done[0]
                item = refs.pop(ref)
                try:
                    ok, value = ray.get(ref)
                except Exception as e:  # noqa: BLE001 - worker died or task was lost
                    ok, value = False, f"Ray task failed: {_reason(e)}"
                yield item, ok, value
        finally:
            if started_here:
                ray.shutdown()


def make_executor(kind: str, workers: int = 2, address: str | None = None, gpus: int = 0):
    """An executor of ``kind`` ("local" or "ray"); ``gpus``: CUDA devices the jobs use (0:
    the CPU)."""
    if kind == "local":
        if address is not None:
            raise ValueError("--ray-address only applies to --executor ray")
        return LocalExecutor(workers, gpus=gpus)
    if kind == "ray":
        return RayExecutor(workers, address, gpus=gpus)
    raise ValueError(f"executor must be 'local' or 'ray', got {kind!r}")
