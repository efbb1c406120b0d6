"""Checkpoints: written atomically, read back with weights_only=True (no code is unpickled); and
the run's log.jsonl, read tolerantly and trimmed back to the checkpoint when a run resumes.

A checkpoint is a dict of tensors and plain Python values:
    model         the LM's state_dict
    model_config  ModelConfig fields (dict)
    config        the full training config (dict)
    optimizer, iter_num, data_state, rng   (training state, for init_from="resume")
"""
import json
import os
from pathlib import Path

import torch

from configurator import ConfigError
from model import LM, ModelConfig

CKPT_NAME = "ckpt.pt"


class CheckpointError(ConfigError, FileNotFoundError):
    """A missing, truncated or inconsistent checkpoint: a user error, reported in one line."""


def save_checkpoint(checkpoint, path):
    """Write to a temporary file beside `path`, then rename: a kill mid-save leaves the old file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save(checkpoint, tmp)
    os.replace(tmp, path)


def checkpoint_path(path):
    """A checkpoint file, or a training out_dir that holds ckpt.pt."""
    path = Path(path)
    return path / CKPT_NAME if path.is_dir() else path


def load_checkpoint(path, device="cpu"):
    path = checkpoint_path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # truncated or foreign files fail in many ways inside torch.load
        raise CheckpointError(f"checkpoint {path} could not be read (truncated or not a "
                              f"checkpoint written by train.py): {e}") from e
    missing = [k for k in ("model", "model_config") if k not in checkpoint]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {', '.join(missing)}")
    return checkpoint


def load_model(path, device="cpu"):
    """(model in eval mode on `device`, the checkpoint dict) from a file or an out_dir."""
    checkpoint = load_checkpoint(path, device)
    try:
        model = LM(ModelConfig(**checkpoint["model_config"]))
        model.load_state_dict(checkpoint["model"])
    except (TypeError, ValueError, RuntimeError) as e:  # unknown fields, shapes that differ
        raise CheckpointError(f"checkpoint {checkpoint_path(path)}: its model_config does not "
                              f"fit its weights: {str(e).splitlines()[0]}") from e
    return model.to(device).eval(), checkpoint


def read_log(path):
    """log.jsonl entries; a last line cut short (a kill mid-write, a full disk) is skipped."""
    entries = []
    for line in Path(path).read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            pass
    return entries


def trim_log(path, iter_num, eval_pending):
    """Drops what a killed run logged after its checkpoint (the resumed run logs it again), so the
    log of an interrupted and resumed run equals an uninterrupted run's."""
    if not Path(path).is_file():
        return
    keep = [e for e in read_log(path) if e["iter"] < iter_num or (e["iter"] == iter_num and (
        "loss" in e or not eval_pending))]
    tmp = Path(f"{path}.{os.getpid()}.tmp")
    tmp.write_text("".join(json.dumps(e) + "\n" for e in keep))
    os.replace(tmp, path)
