"""Training: the same hyperparameters and number of gradient steps for every dataset."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .data import ACTION_DIM, PROPRIO_DIM, Samples, load_samples, proprio_from_state
from .model import BCPolicy

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """The recipe (identical for every data source)."""

    steps: int = 16000
    """Gradient steps. 16000 since 2026-12-02 (8000 before): at 8000 a dataset of 1000
    episodes sees each episode a tenth as often as one of 100, and on Lift (50 rollouts)
    generated-1000 reached 33/50 against generated-100's 42/50; at 16000, 43/50 (real-100:
    35 -> 42/50). Measured here: 7.3 min on two threads alone, 16 min on one thread beside
    another job."""
    batch_size: int = 64
    lr: float = 3e-4
    weight_decay: float = 1e-6
    chunk: int = 8
    """Actions predicted per inference."""
    execute: int = 4
    """Actions executed per inference (closed loop)."""
    shift_px: int = 4
    """Random-shift augmentation: pad by this (edge pixels) and crop back at random."""
    brightness: float = 0.15
    """Colour jitter: brightness gain within +- this ..."""
    contrast: float = 0.15
    """... contrast within +- this ..."""
    channel_gain: float = 0.05
    """... and per-channel gains within +- this."""
    proprio_noise_m: float = 0.01
    """Gaussian noise (standard deviation, metres) added to the TCP position in the
    proprioception of each training sample (the actions are unchanged): where the state alone
    predicts the action, the network takes the object's position from the state and ignores the
    picture; noise makes the picture the better witness. 0: off. Measured on Lift (50
    rollouts), 0 -> 0.01: real-25 18 -> 28/50, real-100 31 -> 35/50; generated-100 with the
    simulator's renders as frames 8 -> 11/50 (swapping the picture now moves the predicted
    target 32-50 mm near the cube instead of 5-6 mm: the pictures decide)."""
    seed: int = 0
    threads: int = 1
    """torch CPU threads while training. One: on this 2-core machine with anything else
    running (rollouts' simulator, tests), a training step takes 51 ms on one thread and 387 ms
    on two (batch 64, 84 x 84); alone, 30 ms on two."""
    camera: str = "agentview"


class Policy:
    """A trained network with its normalisation; :meth:`act` maps one observation to a chunk
    of ``ee_6d`` actions."""

    def __init__(self, net: BCPolicy, stats: dict[str, np.ndarray], config: TrainConfig,
                 info: dict | None = None):
        self.net = net.eval()
        self.stats = {k: np.asarray(v, dtype=np.float32) for k, v in stats.items()}
        self.config = config
        self.info = info or {}

    @torch.no_grad()
    def act(self, image: np.ndarray, state: np.ndarray) -> np.ndarray:
        """uint8 image [H, W, 3] and state [8] -> actions [chunk, 10] (base frame)."""
        s = self.stats
        img = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255
        p = (proprio_from_state(state) - s["proprio_mean"]) / s["proprio_std"]
        out = self.net(img, torch.from_numpy(p[None]).float())[0].numpy()
        return out * s["action_std"] + s["action_mean"]

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": self.net.state_dict(), "stats": self.stats,
                    "config": asdict(self.config), "info": self.info}, path)
        return path

    @classmethod
    def load(cls, path) -> Policy:
        d = torch.load(path, map_location="cpu", weights_only=False)
        cfg = TrainConfig(**d["config"])
        net = BCPolicy(PROPRIO_DIM, ACTION_DIM, cfg.chunk)
        net.load_state_dict(d["state_dict"])
        return cls(net, d["stats"], cfg, d.get("info"))


def normalisation(samples: Samples) -> dict[str, np.ndarray]:
    a = samples.chunks.reshape(-1, ACTION_DIM)
    return {"proprio_mean": samples.proprio.mean(0),
            "proprio_std": np.maximum(samples.proprio.std(0), 1e-2),
            "action_mean": a.mean(0), "action_std": np.maximum(a.std(0), 1e-2)}


def augment(images: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Random shifts (edge-padded crops) and colour jitter of float images [B, 3, H, W]."""
    B, _, H, W = images.shape
    s = cfg.shift_px
    if s > 0:
        padded = torch.nn.functional.pad(images, (s, s, s, s), mode="replicate")
        ox = torch.randint(0, 2 * s + 1, (B,), generator=gen)
        oy = torch.randint(0, 2 * s + 1, (B,), generator=gen)
        rows = (oy[:, None] + torch.arange(H)[None])  # [B, H]
        cols = (ox[:, None] + torch.arange(W)[None])  # [B, W]
        bidx = torch.arange(B)[:, None, None]
        images = padded.permute(0, 2, 3, 1)[bidx, rows[:, :, None], cols[:, None, :]]
        images = images.permute(0, 3, 1, 2)

    def u(scale, *shape):
        return (torch.rand(*shape, generator=gen) * 2 - 1) * scale

    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    images = (images - mean) * (1 + u(cfg.contrast, B, 1, 1, 1)) + mean
    images = images * (1 + u(cfg.brightness, B, 1, 1, 1)) * (1 + u(cfg.channel_gain, B, 3, 1, 1))
    return images.clamp(0.0, 1.0)


def train_policy(datasets, config: TrainConfig | None = None, progress: bool = True,
                 samples: Samples | None = None) -> Policy:
    """Train the recipe on ``datasets`` (LeRobot v3 paths with ee_6d actions)."""
    from tqdm.auto import tqdm

    cfg = config or TrainConfig()
    if cfg.steps <= 0 or cfg.batch_size <= 0:
        raise ValueError("steps and batch_size must be positive")
    if not cfg.proprio_noise_m >= 0:
        raise ValueError(f"proprio_noise_m must be >= 0 (metres), got {cfg.proprio_noise_m}")
    if not 0 < cfg.execute <= cfg.chunk:
        raise ValueError(f"execute must be within 1..chunk ({cfg.chunk}), got {cfg.execute}")
    data = samples if samples is not None else load_samples(datasets, cfg.camera, cfg.chunk)
    stats = normalisation(data)
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        torch.manual_seed(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        net = BCPolicy(PROPRIO_DIM, ACTION_DIM, cfg.chunk)
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
        images = torch.from_numpy(data.images)  # uint8 [N, H, W, 3]
        proprio = torch.from_numpy((data.proprio - stats["proprio_mean"]) / stats["proprio_std"])
        target = torch.from_numpy((data.chunks - stats["action_mean"]) / stats["action_std"])
        N = len(data)
        # position noise in normalised units (the first three proprioception values are x, y, z)
        pos_noise = torch.from_numpy(cfg.proprio_noise_m / stats["proprio_std"][:3]).float()
        t0 = time.perf_counter()
        losses = []
        net.train()
        with tqdm(range(cfg.steps), desc=f"train ({data.episodes} demos)", unit="step",
                  disable=not progress, leave=False) as bar:
            for step in bar:
                idx = torch.randint(0, N, (cfg.batch_size,), generator=gen)
                img = images[idx].permute(0, 3, 1, 2).float() / 255
                img = augment(img, cfg, gen)
                p = proprio[idx].float()
                if cfg.proprio_noise_m > 0:
                    p[:, :3] += torch.randn(cfg.batch_size, 3, generator=gen) * pos_noise
                pred = net(img, p)
                loss = torch.nn.functional.mse_loss(pred, target[idx].float())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                losses.append(loss.item())
                if step % 50 == 0:
                    bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        info = {"episodes": data.episodes, "frames": N, "seconds": time.perf_counter() - t0,
                "final_loss": float(np.mean(losses[-100:]))}
    finally:
        torch.set_num_threads(threads)
    return Policy(net, stats, cfg, info)
