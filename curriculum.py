"""The training schedule: curriculum stages and the learning rate.

A curriculum is a list of stages trained in order, written
"length[/facts]:iterations[@accuracy][*batch][~rate][%segment][?questions]":
"0k:2000@0.95,1k:500" trains 0k samples until held-out accuracy reaches 95% (or 2000 iterations
pass), then 1k samples for 500 iterations.
"/facts" limits the stage to stories of at most that many statements ("0k/2:300@0.9,0k:2000"
starts on two-statement stories), "*batch" sets the stage's batch size ("0k:2000*128,1k:500*16"
keeps the tokens per step level; otherwise train.py's batch_size) and "~rate" its learning rate
("1k:500*16~3e-4": small batches of long inputs at a lower rate; otherwise learning_rate).
"%segment" cuts the stage's samples into segments of that many tokens for the memory models
("0k:600*128%64": short stories span segments, so the memory write learns to carry their facts
across a boundary on cheap samples); the vanilla model, with no memory to carry them, reads the
stage in its own window. "?questions" asks that many questions inside each training story, each
after one of its statements ("1k:300*16?4": data/babilong/build.questions_in_story), answered in
the loss; held-out samples, and so the stage's gate, keep the one question at the end.
"""
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    length: str                 # a length label, or "text"
    max_iters: int              # the stage's iteration cap
    target: float = None        # end earlier once held-out accuracy reaches this (None: never)
    max_facts: int = 0          # only stories of at most this many statements (0: all)
    batch_size: int = 0         # samples per step and process (0: train.py's batch_size)
    lr: float = None            # the stage's peak learning rate (None: train.py's learning_rate)
    segment_len: int = 0        # memory models' tokens per segment here (0: the model's own)
    questions: int = 0          # questions asked inside each training story (0: none)

    def segment_len_for(self, memory):
        """The segment length a model of this memory kind trains on here (None: its own). Only the
        memory models are cut: the vanilla model has no memory to carry facts across a cut."""
        return (self.segment_len or None) if memory != "none" else None

    @property
    def name(self):
        """The stage's samples, as written in the curriculum: "0k" or "0k/2" (its held-out set)."""
        return f"{self.length}/{self.max_facts}" if self.max_facts else self.length

    @property
    def data(self):
        """Its training data: the name, and "?k" when it asks questions inside the stories."""
        return f"{self.name}?{self.questions}" if self.questions else self.name


def parse_curriculum(text):
    """"0k/2:300*128,0k:2000@0.95,1k:500~3e-4%64?4" -> [Stage("0k", 300, None, 2, 128),
    Stage("0k", 2000, 0.95), Stage("1k", 500, lr=3e-4, segment_len=64, questions=4)]."""
    stages = []
    for item in text.split(","):
        data, _, rest = item.partition(":")
        length, slash, facts = data.partition("/")
        rest, ask, questions = rest.partition("?")
        rest, percent, segment = rest.partition("%")
        rest, tilde, lr = rest.partition("~")
        rest, star, batch = rest.partition("*")
        iters, _, target = rest.partition("@")
        try:
            stage = Stage(length.strip(), int(iters), float(target) if target else None,
                          int(facts) if slash else 0, int(batch) if star else 0,
                          float(lr) if tilde else None, int(segment) if percent else 0,
                          int(questions) if ask else 0)
        except ValueError:
            stage = None
        if (stage is None or stage.max_iters < 1 or not 0 < (stage.target or 1) <= 1
                or (slash and stage.max_facts < 1) or (star and stage.batch_size < 1)
                or (tilde and not stage.lr > 0) or (percent and stage.segment_len < 1)
                or (ask and stage.questions < 1)):
            raise ValueError(f"curriculum item {item!r}: expected length[/facts]:iterations"
                             f"[@accuracy][*batch][~rate][%segment][?questions] like 1k:500, "
                             f"0k:2000@0.95, 0k/2:300@0.9*128, 1k:500*16~3e-4, 0k:600*128%64 "
                             f"or 1k:300*16?4")
        stages.append(stage)
    return stages


def lr_at(it, stage_start, stage, last_stage, cfg):
    """Linear warm-up, then the full rate (the stage's own, else learning_rate) until the last
    stage, which decays it along a cosine to min_lr at its iteration cap. Stages that end early on
    accuracy leave the schedule intact."""
    peak = stage.lr or cfg["learning_rate"]
    if it < cfg["warmup_iters"]:
        return peak * (it + 1) / cfg["warmup_iters"]
    if not last_stage:
        return peak
    begin = max(stage_start, cfg["warmup_iters"])
    progress = (it - begin) / max(1, stage_start + stage.max_iters - begin)
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return cfg["min_lr"] + cosine * (peak - cfg["min_lr"])
