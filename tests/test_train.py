"""train.py: it learns, resumes exactly after a kill, refuses bad input clearly, runs under DDP."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import train
from configurator import ConfigError, configure

ROOT = Path(__file__).resolve().parents[1]
BOOKS = ROOT.parent / "shared" / "data" / "text"


def tiny_args(tmp_path, memory, *extra):
    return [f"--out_dir={tmp_path / memory}", f"--memory={memory}", f"--data_dir={tmp_path / 'data'}",
            "--tasks=qa1", "--curriculum=0k:40", "--train_samples=64", "--eval_samples=4",
            "--n_layer=2", "--n_head=2", "--n_embd=32", "--segment_len=64", "--mem_slots=4",
            "--mem_heads=2", "--batch_size=8", "--learning_rate=1e-2", "--warmup_iters=5",
            "--log_interval=1", "--eval_interval=1000", "--checkpoint_interval=1000", *extra]


def run_train(args):
    train.main(configure(train.defaults, args))


def logged(out_dir, key="loss"):
    """{iter: value} from log.jsonl; a resumed run's later line for an iteration wins."""
    entries = [json.loads(line) for line in open(Path(out_dir) / "log.jsonl")]
    return {e["iter"]: e[key] for e in entries if key in e}


def last_logged_iter(out_dir):
    """The last iteration a running train.py has logged (it may be mid-line: skip that line)."""
    try:
        lines = (Path(out_dir) / "log.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return 0
    iters = []
    for line in lines:
        try:
            iters.append(json.loads(line)["iter"])
        except ValueError:
            pass
    return max(iters, default=0)


@pytest.mark.parametrize("memory", ["none", "lm2", "rmt"])
def test_loss_decreases_and_outputs_are_written(tmp_path, memory):
    run_train(tiny_args(tmp_path, memory, "--segment_len=32"))  # 0k samples span several segments
    losses = list(logged(tmp_path / memory).values())
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5
    evals = logged(tmp_path / memory, "eval")
    assert set(evals[40]["qa1"]["0k"]) == {"official", "fixed"}
    checkpoint = torch.load(tmp_path / memory / "ckpt.pt", weights_only=True)
    assert checkpoint["iter_num"] == 40 and checkpoint["model_config"]["memory"] == memory
    assert (tmp_path / memory / "loss.svg").read_text().startswith("<svg")


def test_killed_run_resumes_exactly(tmp_path):
    # two curriculum stages; 0k samples span several 32-token segments
    args = tiny_args(tmp_path, "lm2", "--curriculum=0k:5,0k:25", "--dropout=0.1",
                     "--segment_len=32", "--checkpoint_interval=1")
    straight = tmp_path / "straight"
    run_train(args + [f"--out_dir={straight}"])
    killed = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args, f"--out_dir={killed}"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while last_logged_iter(killed) < 8:
        assert proc.poll() is None, "training ended before it could be killed"
        assert time.time() < deadline, "training did not reach iteration 8 in time"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed_from = torch.load(killed / "ckpt.pt", weights_only=True)["iter_num"]
    assert 7 <= resumed_from < 30  # killed in the second curriculum stage
    run_train(args + [f"--out_dir={killed}", "--init_from=resume"])
    assert logged(killed) == logged(straight)  # same losses, bit for bit


def test_time_limit_stops_with_a_checkpoint_and_resume_finishes_exactly(tmp_path):
    args = tiny_args(tmp_path, "lm2", "--curriculum=0k:5,0k:15", "--segment_len=32")
    straight, limited = tmp_path / "straight", tmp_path / "limited"
    run_train(args + [f"--out_dir={straight}"])
    run_train(args + [f"--out_dir={limited}", "--time_limit=1e-9"])  # stops after one iteration
    assert torch.load(limited / "ckpt.pt", weights_only=True)["iter_num"] == 1
    assert logged(limited, "stopped") == {1: "time_limit=1e-09 s"}
    # as on the command line: a setting given explicitly overrides the run's stored one
    given = set()
    resume = args + [f"--out_dir={limited}", "--init_from=resume", "--time_limit=0"]
    train.main(configure(train.defaults, resume, given=given), given)
    assert logged(limited) == logged(straight)


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    run_train(tiny_args(tmp_path, "rmt", "--curriculum=0k:2"))
    ckpt = tmp_path / "rmt" / "ckpt.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    with pytest.raises(ValueError, match="ckpt.pt could not be read"):
        run_train(tiny_args(tmp_path, "rmt", "--init_from=resume"))


@pytest.mark.parametrize("args, message", [
    (["--bogus=1"], "unknown config key 'bogus'"),
    (["--batch_size=many"], "batch_size='many' has type str, expected int"),
    (["--bptt=1.5"], "bptt=1.5 has type float"),
    (["--memory"], "--key=value"),
    (["missing_config.py"], "config file 'missing_config.py' not found"),
])
def test_bad_config_is_named(args, message):
    with pytest.raises(ConfigError, match=message):
        configure(train.defaults, args)


def test_config_file_overrides_and_checks(tmp_path):
    good = tmp_path / "good.py"
    good.write_text("import math\nmemory = 'rmt'\nlearning_rate = 1\n")
    cfg = configure(train.defaults, [str(good), "--batch_size=3", "--compile=false"])
    assert (cfg["memory"], cfg["learning_rate"], cfg["batch_size"], cfg["compile"]) == \
        ("rmt", 1.0, 3, False)
    bad = tmp_path / "bad.py"
    bad.write_text("n_layers = 4\n")
    with pytest.raises(ConfigError, match=r"bad.py: unknown config key 'n_layers' \(did you mean n_layer"):
        configure(train.defaults, [str(bad)])


def test_shipped_configs_load():
    for path in sorted((ROOT / "config").glob("*.py")):
        cfg = configure(train.defaults, [str(path)])
        assert cfg["memory"] in ("none", "lm2", "rmt"), path


def test_bad_curriculum_is_named():
    with pytest.raises(ValueError, match="curriculum item '1k'"):
        train.parse_curriculum("0k:10,1k")


@pytest.mark.needs_path(BOOKS / "pg11_carroll_alice_in_wonderland.txt")
def test_text_dataset(tmp_path):
    from data.text.prepare import prepare
    prepare([BOOKS / "pg11_carroll_alice_in_wonderland.txt"], tmp_path / "text")
    run_train(tiny_args(tmp_path, "lm2", "--dataset=text", f"--text_dir={tmp_path / 'text'}",
                        "--max_iters=30", "--text_segments=2", "--segment_len=32",
                        "--eval_interval=30"))
    losses = list(logged(tmp_path / "lm2").values())
    assert sum(losses[-5:]) < sum(losses[:5])
    assert 0 < logged(tmp_path / "lm2", "eval")[30]["val_loss"] < 11


@pytest.mark.needs_path(BOOKS / "pg11_carroll_alice_in_wonderland.txt")
def test_ddp_matches_one_process_with_the_same_global_batch(tmp_path):
    """2 gloo processes x batch 4 train exactly like 1 process x batch 8 (text windows all carry
    the same number of loss terms, so the mean of the ranks' means is the global mean)."""
    from data.text.prepare import prepare
    prepare([BOOKS / "pg11_carroll_alice_in_wonderland.txt"], tmp_path / "text")
    args = tiny_args(tmp_path, "lm2", "--dataset=text", f"--text_dir={tmp_path / 'text'}",
                     "--max_iters=4", "--text_segments=2", "--segment_len=32",
                     "--eval_interval=1000")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(ROOT / "train.py"), *args, "--batch_size=4", f"--out_dir={tmp_path / 'ddp'}"]
    result = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1"),
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    run_train(args + ["--batch_size=8", f"--out_dir={tmp_path / 'single'}"])
    ddp, single = logged(tmp_path / "ddp"), logged(tmp_path / "single")
    assert sorted(ddp) == [1, 2, 3, 4] and torch.load(tmp_path / "ddp" / "ckpt.pt",
                                                      weights_only=True)["iter_num"] == 4
    assert ddp == pytest.approx(single, rel=1e-4)
    assert single[4] < single[1]  # and it learned


def test_text_windows_need_one_token_beyond(tmp_path):
    import numpy as np
    from data.batches import TextBatches
    path = tmp_path / "val.bin"
    np.arange(64, dtype=np.uint16).tofile(path)  # exactly 4 windows of 16: the last lacks a target
    batches = TextBatches(path, 16, seed=0)
    assert batches.n_windows == 3
    x, y, _ = batches.windows(range(batches.n_windows))
    assert x.shape == y.shape == (3, 16) and torch.equal(y[:, :-1], x[:, 1:])


def test_curriculum_stages_end_on_accuracy_or_their_cap(tmp_path, monkeypatch):
    """A stub accuracy that reaches 0.9 at the third evaluation ends the 0k stage there; the
    1k stage has no target and runs to its cap."""
    calls = []

    def stub_accuracy(model, records, task, device, **kwargs):
        calls.append(len(records[0]["input"]))
        acc = 0.9 if len(calls) >= 3 else 0.5
        return {"official": acc, "fixed": acc, "outputs": []}

    monkeypatch.setattr(train, "answer_accuracy", stub_accuracy)
    run_train(tiny_args(tmp_path, "lm2", "--curriculum=0k:100@0.85,1k:4", "--eval_interval=2"))
    ends = [e for e in map(json.loads, open(tmp_path / "lm2" / "log.jsonl")) if "stage_end" in e]
    assert ends == [{"iter": 6, "stage_end": "0k", "reason": "held-out accuracy 90.0% reached 85%"},
                    {"iter": 10, "stage_end": "1k", "reason": "reached its cap of 4 iterations"}]
    stages = {i: e["stage"] for i, e in enumerate(map(json.loads, open(tmp_path / "lm2" / "log.jsonl")))
              if "stage" in e}
    assert list(stages.values()) == ["0k"] * 6 + ["1k"] * 4
    checkpoint = torch.load(tmp_path / "lm2" / "ckpt.pt", weights_only=True)
    assert checkpoint["iter_num"] == 10 and checkpoint["data_state"]["stage"] == 2


def test_curriculum_syntax():
    assert train.parse_curriculum("0k:2000@0.95, 1k:500") == [
        train.Stage("0k", 2000, 0.95), train.Stage(" 1k".strip(), 500, None)]
    assert train.parse_curriculum("0k/2:300@0.9,0k:50") == [
        train.Stage("0k", 300, 0.9, max_facts=2), train.Stage("0k", 50)]
    assert [s.name for s in train.parse_curriculum("0k/2:300@0.9,0k:50")] == ["0k/2", "0k"]
    assert train.parse_curriculum("0k/4:30@0.9*128,1k:5*16") == [
        train.Stage("0k", 30, 0.9, max_facts=4, batch_size=128), train.Stage("1k", 5, batch_size=16)]
    assert train.parse_curriculum("1k:5@0.9*16~3e-4,2k:5~1e-3") == [
        train.Stage("1k", 5, 0.9, batch_size=16, lr=3e-4), train.Stage("2k", 5, lr=1e-3)]
    assert train.parse_curriculum("0k:600*128%64,1k:5~3e-4%32") == [
        train.Stage("0k", 600, batch_size=128, segment_len=64),
        train.Stage("1k", 5, lr=3e-4, segment_len=32)]
    assert train.parse_curriculum("0k/2:5%64?3,1k:5*16~3e-4?4") == [
        train.Stage("0k", 5, max_facts=2, segment_len=64, questions=3),
        train.Stage("1k", 5, batch_size=16, lr=3e-4, questions=4)]
    # the held-out set (and the gate) goes by the name, the training data by the data
    assert [(s.name, s.data) for s in train.parse_curriculum("0k/2:5?3,0k:5")] == [
        ("0k/2", "0k/2?3"), ("0k", "0k")]
    for bad in ("0k:10@1.5", "0k:10@x", "0k:0", "0k", "0k/0:10", "0k/x:10", "0k/:10", "0k:10*0",
                "0k:10*x", "0k:10*", "0k:10~", "0k:10~0", "0k:10~x", "0k:10%", "0k:10%0",
                "0k:10%x", "0k:10?", "0k:10?0", "0k:10?x"):
        with pytest.raises(ValueError, match=r"expected length\[/facts\]:iterations"):
            train.parse_curriculum(bad)


def test_each_stage_draws_its_own_batch_size(tmp_path, monkeypatch):
    from data.batches import BabilongBatches
    sizes = []
    original = BabilongBatches.next
    monkeypatch.setattr(BabilongBatches, "next",
                        lambda self, n, *a: sizes.append(n) or original(self, n, *a))
    run_train(tiny_args(tmp_path, "none", "--curriculum=0k:2*3,0k:2,1k:1*2"))
    assert sizes == [3, 3, 8, 8, 2]


@pytest.mark.parametrize("memory", ["none", "lm2", "rmt"])
def test_segment_stage_cuts_samples_for_the_memory_models_only(tmp_path, monkeypatch, memory):
    """"0k:2%16" trains the memory models on 16-token segments, then "0k:1" on their own; the
    vanilla model, with no memory to carry facts across a boundary, keeps its window."""
    from model import LM
    seen = []
    original = LM.forward_long
    monkeypatch.setattr(LM, "forward_long", lambda self, *a, segment_len=None, **k: seen.append(
        segment_len) or original(self, *a, segment_len=segment_len, **k))
    run_train(tiny_args(tmp_path, memory, "--curriculum=0k:2%16,0k:1", "--eval_samples=0"))
    assert seen == ([None] * 3 if memory == "none" else [16, 16, None])


def test_story_size_stage_trains_and_evaluates_on_short_stories(tmp_path, monkeypatch):
    """A "0k/2" stage draws only two-statement stories, for training and for its gate."""
    from data.batches import BabilongBatches
    from tokenizer import decode
    evaluated = []

    def stub_accuracy(model, records, task, device, **kwargs):  # qa1 at 0k: one "." a statement
        evaluated.append(max(r["input"].count(".") for r in records))
        return {"official": 1.0, "fixed": 1.0, "outputs": []}

    monkeypatch.setattr(train, "answer_accuracy", stub_accuracy)
    run_train(tiny_args(tmp_path, "none", "--curriculum=0k/2:50@0.9,0k:2", "--eval_interval=3"))
    ends = [e["stage_end"] for e in map(json.loads, open(tmp_path / "none" / "log.jsonl"))
            if "stage_end" in e]
    assert ends == ["0k/2", "0k"] and evaluated[0] == 2 and max(evaluated) > 2
    # each stage's data: at most train_samples (64), and no more than it draws (2 x 8 for "0k")
    assert sorted(p.name.split("_")[3] for p in (tmp_path / "data").glob("*.index.npy")) == [
        "n16", "n64"]
    [prefix] = {str(p)[:-len(".index.npy")] for p in (tmp_path / "data").glob("*_f2_*.index.npy")}
    x, y, _ = BabilongBatches([prefix], seed=0).next(64)
    prompts = [decode(x[r][: int((y[r] != -1).sum())].tolist()).split("Answer:")[0]
               for r in range(len(x))]
    assert {prompt.count(".") for prompt in prompts} == {2}


def test_learning_rate_holds_until_the_last_stage_decays_it_and_stages_may_set_their_own():
    cfg = {**train.defaults, "learning_rate": 1.0, "min_lr": 0.1, "warmup_iters": 10}
    first, last = train.Stage("0k", 100), train.Stage("1k", 50)
    assert train.lr_at(4, 0, first, False, cfg) == 0.5
    assert train.lr_at(60, 0, first, False, cfg) == 1.0
    assert train.lr_at(70, 70, last, True, cfg) == 1.0  # the last stage starts at full rate
    assert abs(train.lr_at(95, 70, last, True, cfg) - 0.55) < 1e-9
    assert abs(train.lr_at(120, 70, last, True, cfg) - 0.1) < 1e-9
    # a stage's own rate replaces learning_rate in the warm-up, the hold and the decay
    own_first, own_last = train.Stage("0k", 100, lr=0.5), train.Stage("1k", 50, lr=0.5)
    assert train.lr_at(4, 0, own_first, False, cfg) == 0.25
    assert train.lr_at(60, 0, own_first, False, cfg) == 0.5
    assert train.lr_at(70, 70, own_last, True, cfg) == 0.5
    assert abs(train.lr_at(95, 70, own_last, True, cfg) - 0.3) < 1e-9


def test_prompt_format_goes_into_the_data_and_the_checkpoint(tmp_path):
    from data.batches import BabilongBatches
    from tokenizer import decode
    run_train(tiny_args(tmp_path, "none", "--curriculum=0k:2", "--prompt_format=qboth",
                        "--more_questions=2"))
    checkpoint = torch.load(tmp_path / "none" / "ckpt.pt", weights_only=True)
    assert checkpoint["config"]["prompt_format"] == "qboth"
    [prefix] = {str(p)[:-len(".index.npy")] for p in (tmp_path / "data").glob("*qboth_q2*.index.npy")}
    x, y, mask = BabilongBatches([prefix], seed=0).next(4)
    text = decode(x[0][: int((y[0] != -1).sum())].tolist())
    assert text.startswith("Question: Where is") and text.count("Question:") >= 3
    with pytest.raises(ValueError, match="prompt_format='both'"):
        run_train(tiny_args(tmp_path, "none", "--prompt_format=both"))


def test_questions_inside_stories_train_on_every_answer_and_gate_on_the_last(tmp_path,
                                                                              monkeypatch):
    """"0k:2?3" trains on stories with up to three questions inside (their own data files), then
    "0k:2" on plain ones; both stages evaluate the one held-out set of "0k"."""
    from data.batches import BabilongBatches
    from tokenizer import EOT, decode
    evaluated = []

    def stub_accuracy(model, records, task, device, **kwargs):
        evaluated.append(records)
        return {"official": 1.0, "fixed": 1.0, "outputs": []}

    monkeypatch.setattr(train, "answer_accuracy", stub_accuracy)
    run_train(tiny_args(tmp_path, "none", "--curriculum=0k:2?3,0k:2", "--eval_interval=1",
                        "--prompt_format=qboth"))
    [inside] = {str(p)[:-len(".index.npy")] for p in (tmp_path / "data").glob("*_i3_*.index.npy")}
    assert len(list((tmp_path / "data").glob("*.index.npy"))) == 2
    x, y, _ = BabilongBatches([inside], seed=0).next(16)
    answers = [int((row == EOT).sum()) for row in y]  # one end-of-text per answer
    assert max(answers) == 4 and min(answers) >= 2
    text = decode(x[answers.index(4)][: int((y[answers.index(4)] != -1).sum())].tolist())
    # qboth: the question before the story, three inside it, and the question at its end
    assert text.count("Question:") == 5 and text.count("<|endoftext|>") == 3
    assert evaluated and all("inline" not in r for records in evaluated for r in records)
    assert {id(records) for records in evaluated} == {id(evaluated[0])}  # one set, "0k"
