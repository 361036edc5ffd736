"""LPIPS (Zhang et al. 2018, v0.1) through the ``lpips`` package.

LPIPS has two parts. The learned linear heads ship inside the ``lpips`` wheel
(``lpips/weights/v0.1/{alex,vgg}.pth``). The backbone is torchvision's ImageNet AlexNet or
VGG16, which ``lpips`` would download through torchvision; here it must already be on disk:

* ``alex``: ``alexnet-owt-7be5be79.pth``, ``vgg``: ``vgg16-397923af.pth`` (the files
  https://download.pytorch.org/models/ serves), found
* at the path given (``weights=`` / ``igen eval --lpips-weights``; a file, or a folder holding
  the file under that name), or else
* in the torch hub cache, ``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME/hub/checkpoints``,
  by default ``~/.cache/torch/hub/checkpoints``), where torchvision keeps its downloads.

Without the file a FileNotFoundError says which file to put where; LPIPS is never computed with
a random backbone unless a caller builds one on purpose. Models are loaded once per process
(per net and file) and reused.

Images: [H, W, 3] float in [0, 1] or uint8 (divided by 255), at least 32 x 32 pixels. The
unmasked value is the package's (spatially averaged per layer); the masked value is the mean
over the mask's pixels of the package's spatial map (each layer's distance upsampled
bilinearly to [H, W] and summed).
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch
from torch import Tensor

from .image import as_mask, image_pair

LPIPS_NETS = ("alex", "vgg")
BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}
BACKBONE_URL = "https://download.pytorch.org/models/"
MIN_SIZE = 32


def hub_checkpoint_dir() -> Path:
    """torch's hub cache folder of downloaded weights (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def lpips_backbone_path(net: str = "alex", weights=None) -> Path:
    """The backbone weights file LPIPS(``net``) will use (see the module docstring), or a
    FileNotFoundError that says which file to put where."""
    if net not in LPIPS_NETS:
        raise ValueError(f"LPIPS net must be one of {LPIPS_NETS}, got {net!r}")
    name = BACKBONE_FILES[net]
    how = (f"download {BACKBONE_URL}{name} (torchvision's ImageNet {net} weights) on a "
           f"machine with internet and put it in the torch hub cache {hub_checkpoint_dir()} "
           "(set TORCH_HOME to move it), or pass its path with --lpips-weights (Python: "
           "weights=)")
    if weights is not None:
        p = Path(weights).expanduser()
        if p.is_dir():
            p = p / name
        if not p.is_file():
            raise FileNotFoundError(f"LPIPS ({net}) backbone weights not found at {p}: {how}")
        return p
    p = hub_checkpoint_dir() / name
    if not p.is_file():
        raise FileNotFoundError(f"LPIPS ({net}) needs the backbone weights file {name}, which "
                                f"is not at {p}: {how}")
    return p


def _backbone_state(net: str, path: Path, model) -> dict[str, Tensor]:
    """torchvision ``features.<i>.<kind>`` tensors renamed to the lpips module's
    ``slice<k>.<i>.<kind>`` parameters (the slices keep torchvision's layer indices)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a corrupt or foreign file
        raise ValueError(f"cannot read LPIPS backbone weights {path}: "
                         f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not a state dict of torchvision's {net} model")
    out = {}
    for name, param in model.net.named_parameters():
        _, index, kind = name.split(".")
        key = f"features.{index}.{kind}"
        if key not in state:
            raise ValueError(f"{path} is not torchvision's {net} checkpoint (no {key})")
        if tuple(state[key].shape) != tuple(param.shape):
            raise ValueError(f"{path}: {key} has shape {tuple(state[key].shape)}, LPIPS-{net} "
                             f"needs {tuple(param.shape)}")
        out[name] = state[key]
    return out


@functools.lru_cache(maxsize=4)
def _load(net: str, path: str):
    import lpips as lpips_pkg

    with warnings.catch_warnings():  # torchvision's 'pretrained' deprecation notice
        warnings.simplefilter("ignore")
        # pnet_rand: build the backbone without torchvision's download; its weights are
        # loaded from ``path`` below. pretrained: the linear heads from the lpips wheel.
        model = lpips_pkg.LPIPS(net=net, version="0.1", pretrained=True, pnet_rand=True,
                                verbose=False)
    model.net.load_state_dict(_backbone_state(net, Path(path), model), strict=True)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def load_lpips(net: str = "alex", weights=None):
    """The ``lpips.LPIPS`` model (eval mode, CPU) with real backbone weights, loaded once per
    process for each (net, weights file)."""
    path = lpips_backbone_path(net, weights)
    return _load(net, str(path.resolve()))


def _inputs(pred, target) -> tuple[Tensor, Tensor]:
    a, b = image_pair(pred, target)
    if a.shape[-1] != 3:
        raise ValueError(f"LPIPS needs colour images [H, W, 3], got {tuple(a.shape)}")
    H, W = a.shape[:2]
    if H < MIN_SIZE or W < MIN_SIZE:
        raise ValueError(f"LPIPS needs images of at least {MIN_SIZE}x{MIN_SIZE}, got {W}x{H}")
    return (a.permute(2, 0, 1)[None].float(), b.permute(2, 0, 1)[None].float())


def _on_model(model, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """The images on the device of ``model``'s weights (a model moved to CUDA runs there)."""
    dev = next(model.parameters()).device
    return x.to(dev), y.to(dev)


def lpips_map(pred, target, net: str = "alex", weights=None, model=None) -> Tensor:
    """Spatial LPIPS map float32 [H, W] (the package's ``spatial=True`` output).
    ``model``: an ``lpips.LPIPS`` to use instead of :func:`load_lpips` (net, weights)."""
    m = model if model is not None else load_lpips(net, weights)
    x, y = _on_model(m, *_inputs(pred, target))
    was = m.spatial
    m.spatial = True
    try:
        with torch.no_grad():
            return m(x, y, normalize=True)[0, 0].cpu()
    finally:
        m.spatial = was


def lpips(pred, target, net: str = "alex", mask=None, weights=None, model=None) -> float:
    """LPIPS distance (0 = identical), optionally the mean of :func:`lpips_map` over a mask
    [H, W] (see the module docstring). ``weights``: backbone file or folder (default: the
    torch hub cache); ``model``: an already built ``lpips.LPIPS`` to use instead."""
    if mask is not None:
        dmap = lpips_map(pred, target, net, weights, model)
        mk = as_mask(mask, tuple(dmap.shape))
        if not bool(mk.any()):
            raise ValueError("the mask selects no pixels")
        return float(dmap[mk].mean())
    m = model if model is not None else load_lpips(net, weights)
    x, y = _on_model(m, *_inputs(pred, target))
    was = m.spatial
    m.spatial = False
    try:
        with torch.no_grad():
            return float(m(x, y, normalize=True).reshape(-1)[0])
    finally:
        m.spatial = was
