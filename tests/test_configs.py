"""The shipped configs: each passes train.py's checks, and the three of a set (LM2, RMT, vanilla)
share everything except the memory, their out_dir and the vanilla model's window."""
from pathlib import Path

import pytest

import train
from configurator import configure
from train_settings import check_config

ROOT = Path(__file__).resolve().parents[1]
SETS = {"one GPU": "config/babilong_{}.py", "2 CPU cores": "config/babilong_cpu_{}.py"}
MODELS = ("lm2", "rmt", "vanilla")


@pytest.mark.parametrize("pattern", SETS.values(), ids=SETS.keys())
def test_the_three_configs_of_a_set_differ_only_in_their_memory(pattern):
    cfgs = {m: configure(train.defaults, [str(ROOT / pattern.format(m))]) for m in MODELS}
    for cfg in cfgs.values():
        check_config(cfg)
    differ = {key for key in train.defaults if len({repr(c[key]) for c in cfgs.values()}) > 1}
    assert differ == {"out_dir", "memory", "segment_len"}
    assert [cfgs[m]["memory"] for m in MODELS] == ["lm2", "rmt", "none"]
    assert cfgs["lm2"]["segment_len"] == cfgs["rmt"]["segment_len"]
    # "beyond the window" must mean something: the vanilla window is a training length (1k),
    # shorter than the evaluated 2k and 4k, and longer than the memory models' segments
    assert cfgs["lm2"]["segment_len"] < cfgs["vanilla"]["segment_len"] == 1024
