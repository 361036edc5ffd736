"""igen-gs: single open-world photos -> per-object 3D Gaussian scenes -> robot-learning data.

Public API (imported lazily, so ``import igen_gs`` stays cheap):

* :func:`rasterization` -- gsplat-compatible Gaussian rasterization (CPU kernels, gsplat, torch).
* :class:`Camera`, :class:`GaussianField`, :class:`Scene` -- the scene model.

Frame and unit conventions are written once, in :mod:`igen_gs.scene.frames`.
"""

from __future__ import annotations

from ._lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "rasterization": "igen_gs.render",
    "Camera": "igen_gs.scene",
    "GaussianField": "igen_gs.scene",
    "Scene": "igen_gs.scene",
    "lift": "igen_gs.lifting",
    "LiftConfig": "igen_gs.lifting",
    "plan_task": "igen_gs.planning",
    "PlanConfig": "igen_gs.planning",
    "Plan": "igen_gs.planning",
    "Trajectory": "igen_gs.planning",
    "evaluate": "igen_gs.metrics",
    "EvalConfig": "igen_gs.metrics",
    "LeRobotWriter": "igen_gs.io",
    "WriterConfig": "igen_gs.io",
    "EpisodeData": "igen_gs.io",
    "CameraInfo": "igen_gs.io",
    "load_lerobot_dataset": "igen_gs.io",
    "export_robomimic": "igen_gs.io",
    "SyntheticWorld": "igen_gs.synthetic",
    "make_tabletop_world": "igen_gs.synthetic",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_exports(__name__, _LAZY)


def __dir__():
    return sorted(list(globals()) + __all__)
