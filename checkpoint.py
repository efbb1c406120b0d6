"""Checkpoints: written atomically, read back with weights_only=True (no code is unpickled).

A checkpoint is a dict of tensors and plain Python values:
    model         the LM's state_dict
    model_config  ModelConfig fields (dict)
    config        the full training config (dict)
    optimizer, iter_num, data_state, rng   (training state, for init_from="resume")
"""
import os
from pathlib import Path

import torch

from model import LM, ModelConfig

CKPT_NAME = "ckpt.pt"


def save_checkpoint(checkpoint, path):
    """Write to a temporary file beside `path`, then rename: a kill mid-save leaves the old file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(checkpoint, tmp)
    os.replace(tmp, path)


def checkpoint_path(path):
    """A checkpoint file, or a training out_dir that holds ckpt.pt."""
    path = Path(path)
    return path / CKPT_NAME if path.is_dir() else path


def load_checkpoint(path, device="cpu"):
    path = checkpoint_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # truncated or foreign files fail in many ways inside torch.load
        raise ValueError(f"checkpoint {path} could not be read (truncated or not a checkpoint "
                         f"written by train.py): {e}") from e
    missing = [k for k in ("model", "model_config") if k not in checkpoint]
    if missing:
        raise ValueError(f"checkpoint {path} lacks {', '.join(missing)}")
    return checkpoint


def load_model(path, device="cpu"):
    """(model in eval mode on `device`, the checkpoint dict) from a file or an out_dir."""
    checkpoint = load_checkpoint(path, device)
    model = LM(ModelConfig(**checkpoint["model_config"]))
    model.load_state_dict(checkpoint["model"])
    return model.to(device).eval(), checkpoint
