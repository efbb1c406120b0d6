"""train.py's settings: the checks made before any work, and how a resumed run's stored settings
combine with the ones given on the command line."""
from dataclasses import fields
from pathlib import Path

from configurator import ConfigError
from curriculum import parse_curriculum
from data.babilong.babi import check_task
from data.babilong.build import parse_length
from data.babilong.tokenized import check_prompt_format
from model import ModelConfig
from sample import pick_device
from tokenizer import EOT

# Settings a resumed run cannot change and still continue exactly.
RESUME_FIXED = ("dataset", "tasks", "curriculum", "prompt_format", "more_questions", "bucket",
                "train_samples", "data_seed", "babi_dir", "haystack", "lm_loss", "text_dir",
                "text_segments", "batch_size", "grad_accum", "seed", "bptt",
                *(f.name for f in fields(ModelConfig)))


def check_config(cfg):
    """Every setting, before any work starts: a user error raises ConfigError naming the key and
    its value."""
    def need(ok, key, why):
        if not ok:
            raise ConfigError(f"{key}={cfg[key]!r}: {why}")
    for key in ("log_interval", "eval_interval", "checkpoint_interval", "batch_size", "grad_accum",
                "train_samples", "max_iters", "text_segments", "vocab_size"):
        need(cfg[key] >= 1, key, "must be at least 1")
    for key, off in (("eval_samples", " (0 switches evaluation off)"), ("more_questions", ""),
                     ("warmup_iters", ""), ("grad_clip", " (0 switches clipping off)"),
                     ("weight_decay", ""), ("min_lr", ""), ("time_limit", " (0: no limit)")):
        need(cfg[key] >= 0, key, "must be >= 0" + off)
    need(cfg["learning_rate"] > 0, "learning_rate", "must be > 0")
    for key in ("beta1", "beta2"):
        need(0 <= cfg[key] < 1, key, "must be in [0, 1)")
    need(cfg["bptt"] == -1 or cfg["bptt"] >= 1, "bptt", "must be -1 (all segments) or at least 1")
    need(cfg["init_from"] in ("scratch", "resume"), "init_from", "expected 'scratch' or 'resume'")
    need(cfg["dataset"] in ("babilong", "text"), "dataset", "expected 'babilong' or 'text'")
    need(cfg["vocab_size"] >= EOT + 1, "vocab_size",
         f"must cover the GPT-2 tokenizer's {EOT + 1} tokens")
    try:
        ModelConfig.from_dict(cfg)
        check_prompt_format(cfg["prompt_format"])
        if cfg["dataset"] == "babilong":
            for task in cfg["tasks"].split(","):
                check_task(task)
            for stage in parse_curriculum(cfg["curriculum"]):
                parse_length(stage.length)
                need(cfg["eval_samples"] > 0 or stage.target is None, "curriculum",
                     "an accuracy target needs evaluation (eval_samples >= 1)")
                need(stage.segment_len <= cfg["segment_len"], "curriculum",
                     f"stage {stage.name}'s %{stage.segment_len} is longer than "
                     f"segment_len={cfg['segment_len']}")
    except ConfigError:
        raise
    except ValueError as e:  # the message names the setting
        raise ConfigError(str(e)) from None
    if cfg["dataset"] == "text":
        for name in ("train.bin", "val.bin"):
            need((Path(cfg["text_dir"]) / name).is_file(), "text_dir",
                 f"no {name} there (make it with data/text/prepare.py)")
    pick_device(cfg["device"])


def resumed_config(cfg, stored, given):
    """The stored run's settings, with the keys set explicitly (`given`) taking precedence; a key
    that would break an exact continuation is refused."""
    merged = {**cfg, **{k: v for k, v in stored.items() if k in cfg and k not in given}}
    for key in sorted(given):
        if key in stored and cfg[key] != stored[key]:
            if key in RESUME_FIXED:
                raise ConfigError(f"{key}={cfg[key]!r}: the run in {cfg['out_dir']} was trained with "
                                  f"{key}={stored[key]!r}; a resumed run cannot change it (use a "
                                  f"new out_dir for a new run)")
            print(f"resume: {key}={cfg[key]!r} overrides the run's {stored[key]!r}")
    return merged
