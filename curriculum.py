"""The training schedule: curriculum stages and the learning rate.

A curriculum is a list of stages trained in order, written "length:iterations[@accuracy]":
"0k:2000@0.95,1k:500" trains 0k samples until held-out accuracy reaches 95% (or 2000
iterations pass), then 1k samples for 500 iterations.
"""
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    length: str                 # a length label, or "text"
    max_iters: int              # the stage's iteration cap
    target: float = None        # end earlier once held-out accuracy reaches this (None: never)


def parse_curriculum(text):
    """"0k:2000@0.95,1k:500" -> [Stage("0k", 2000, 0.95), Stage("1k", 500)]."""
    stages = []
    for item in text.split(","):
        length, _, rest = item.partition(":")
        iters, _, target = rest.partition("@")
        try:
            stage = Stage(length.strip(), int(iters), float(target) if target else None)
        except ValueError:
            stage = None
        if stage is None or stage.max_iters < 1 or not 0 < (stage.target or 1) <= 1:
            raise ValueError(f"curriculum item {item!r}: expected length:iterations[@accuracy] "
                             f"like 1k:500 or 0k:2000@0.95")
        stages.append(stage)
    return stages


def lr_at(it, stage_start, stage, last_stage, cfg):
    """Linear warm-up, then the full rate until the last stage, which decays it along a cosine to
    min_lr at its iteration cap. Stages that end early on accuracy leave the schedule intact."""
    if it < cfg["warmup_iters"]:
        return cfg["learning_rate"] * (it + 1) / cfg["warmup_iters"]
    if not last_stage:
        return cfg["learning_rate"]
    begin = max(stage_start, cfg["warmup_iters"])
    progress = (it - begin) / max(1, stage_start + stage.max_iters - begin)
    return cfg["min_lr"] + 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))) * (
        cfg["learning_rate"] - cfg["min_lr"])
