"""Bad input, as a demanding new user gives it, and what each script does with it: one line that
names the key and the value and exit status 2 (never a traceback), or now-correct behaviour.
Every row of the table below is a test; the rest of the file checks kills, resumes, concurrent
runs and logs.

| input | result |
|---|---|
| train.py --grad_clip=0 | clipping off (nanoGPT's convention): the model trains |
| train.py --grad_clip=-1 | grad_clip=-1.0: must be >= 0 (0 switches clipping off) |
| train.py --grad_accum=0, --batch_size=0, --eval_interval=0, --log_interval=0, --checkpoint_interval=0 | KEY=0: must be at least 1 |
| train.py --eval_samples=0 | evaluation off; training and the final checkpoint as usual |
| train.py --curriculum=0k:5@0.9 --eval_samples=0 | curriculum=...: an accuracy target needs evaluation |
| truncated last line of out_dir/log.jsonl | skipped when read; a resumed run rewrites the log |
| train.py --init_from=resume --out_dir=X | the run's stored settings; explicit keys override, each printed |
| ... --tasks=qa1,qa2 (any setting an exact resume cannot change) | tasks='qa1,qa2': the run in X was trained with tasks='qa1'; ... |
| three runs sharing one fresh data_dir | all finish; each data file is built once |
| unknown key, bad curriculum, bad task, --device=cuda without a GPU, --vocab_size=100, dataset=text without its files | one line naming the key and value |
| sample.py / eval_babilong.py --device=cuda without a GPU | device='cuda': no CUDA device is available on this machine |
| eval_babilong.py --max_samples 0 | --max_samples=0: must be at least 1 |
| sample.py --top_k=-5 | top_k=-5: must be >= 0 (0 = all tokens) |
| a checkpoint whose model_config does not fit its weights | ...: its model_config does not fit its weights: ... |
| prepare.py --n -5 | --n=-5: must be at least 1 |
| python sample.py (no arguments) | reads train.py's default out_dir, out/babilong_lm2 |
| train.py > run.log | one plain line per log_interval and per evaluation, no progress bar |
"""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import train
from checkpoint import save_checkpoint
from configurator import ConfigError, configure
from test_sample import tiny_checkpoint
from test_train import last_logged_iter, logged, tiny_args

ROOT = Path(__file__).resolve().parents[1]
NO_CUDA = not torch.cuda.is_available()


def run_train(args):
    given = set()
    train.main(configure(train.defaults, args, given), given)


def script(*args, cwd=ROOT):
    """(exit status, stdout, stderr) of a script run as a user runs it."""
    result = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True,
                            text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)
    return result.returncode, result.stdout, result.stderr


def assert_one_line_error(status, stderr, message):
    assert status == 2, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert message in stderr, stderr


@pytest.mark.parametrize("args, message", [
    (["--grad_clip=-1"], "grad_clip=-1.0: must be >= 0 (0 switches clipping off)"),
    (["--grad_accum=0"], "grad_accum=0: must be at least 1"),
    (["--batch_size=0"], "batch_size=0: must be at least 1"),
    (["--eval_interval=0"], "eval_interval=0: must be at least 1"),
    (["--log_interval=0"], "log_interval=0: must be at least 1"),
    (["--checkpoint_interval=0"], "checkpoint_interval=0: must be at least 1"),
    (["--curriculum=0k:5@0.9", "--eval_samples=0"], "an accuracy target needs evaluation"),
    (["--curriculum=0k:5,1k"], "curriculum item '1k'"),
    (["--curriculum=0k:5,3x:5"], "bad length label '3x'"),
    (["--curriculum=0k:5%128"], "stage 0k's %128 is longer than segment_len=64"),
    (["--tasks=qa1,qa99"], "unknown task 'qa99'"),
    (["--vocab_size=100"], "vocab_size=100: must cover the GPT-2 tokenizer's 50257 tokens"),
    (["--device=gpu"], "device='gpu': not a device name"),
    (["--dataset=text", "--text_dir=/nowhere"], "text_dir='/nowhere': no train.bin there"),
    (["--n_head=3"], "ModelConfig.n_head=3: must divide n_embd=32"),
    (["--prompt_format=qfirst"], "prompt_format='qfirst'"),
    (["--init_from=checkpoint"], "init_from='checkpoint': expected 'scratch' or 'resume'"),
])
def test_bad_training_settings_are_named_before_any_work(tmp_path, args, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_train(tiny_args(tmp_path, "lm2", *args))
    assert not (tmp_path / "data").exists()  # nothing was built


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a GPU")
def test_missing_gpu_is_one_line_in_every_script(tmp_path):
    status, _, err = script("train.py", "--device=cuda", f"--out_dir={tmp_path}")
    assert_one_line_error(status, err, "train.py: device='cuda': no CUDA device is available")
    ckpt = tiny_checkpoint(tmp_path / "run", "lm2")
    status, _, err = script("sample.py", f"--out_dir={ckpt}", "--device=cuda")
    assert_one_line_error(status, err, "sample.py: device='cuda': no CUDA device")
    status, _, err = script("eval_babilong.py", "--ckpt", ckpt, "--device", "cuda")
    assert_one_line_error(status, err, "eval_babilong.py: --device='cuda': no CUDA device")


def test_other_scripts_name_bad_values(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "run", "lm2")
    status, _, err = script("eval_babilong.py", "--ckpt", ckpt, "--max_samples", "0")
    assert_one_line_error(status, err, "--max_samples=0: must be at least 1")
    status, _, err = script("sample.py", f"--out_dir={ckpt}", "--top_k=-5")
    assert_one_line_error(status, err, "top_k=-5: must be >= 0 (0 = all tokens)")
    status, _, err = script("data/babilong/prepare.py", "--n", "-5", "--out", tmp_path / "x")
    assert_one_line_error(status, err, "--n=-5: must be at least 1")
    status, _, err = script("train.py", "--n_layers=2")
    assert_one_line_error(status, err, "unknown config key 'n_layers' (did you mean n_layer")
    status, _, err = script("bench.py", "--n_layers=2")
    assert_one_line_error(status, err, "bench.py: --n_layers=2: unknown config key 'n_layers'")
    status, _, err = script(ROOT / "sample.py", cwd=tmp_path)  # train.py's default out_dir
    assert_one_line_error(status, err, "sample.py: no checkpoint at out/babilong_lm2")


def test_checkpoint_that_does_not_fit_its_weights(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "run", "lm2")
    checkpoint = torch.load(ckpt, weights_only=True)
    save_checkpoint({**checkpoint, "model_config": {**checkpoint["model_config"], "n_embd": 64}},
                    ckpt)
    status, _, err = script("sample.py", f"--out_dir={ckpt}")
    assert_one_line_error(status, err, "its model_config does not fit its weights")


def test_clipping_zero_switches_it_off_and_trains(tmp_path):
    run_train(tiny_args(tmp_path, "none", "--grad_clip=0.0", "--curriculum=0k:12"))
    entries = [json.loads(x) for x in open(tmp_path / "none" / "log.jsonl")]
    losses = [e["loss"] for e in entries if "loss" in e]
    assert losses[-1] < 0.7 * losses[0]
    assert max(e["grad_norm"] for e in entries if "grad_norm" in e) > 1.0  # not clipped to 1


def test_evaluation_off_still_saves_the_run(tmp_path):
    run_train(tiny_args(tmp_path, "lm2", "--eval_samples=0", "--curriculum=0k:3"))
    entries = [json.loads(x) for x in open(tmp_path / "lm2" / "log.jsonl")]
    assert not any("eval" in e for e in entries) and len([e for e in entries if "loss" in e]) == 3
    assert torch.load(tmp_path / "lm2" / "ckpt.pt", weights_only=True)["iter_num"] == 3


def test_resume_restores_the_runs_settings_and_refuses_what_it_cannot_continue(tmp_path, capsys):
    out = tmp_path / "lm2"
    run_train(tiny_args(tmp_path, "lm2", "--curriculum=0k:3,0k:3", "--learning_rate=3e-3",
                        "--checkpoint_interval=3", "--eval_samples=0"))
    with open(out / "log.jsonl", "a") as log:
        log.write('{"iter": 4, "lo')  # a kill mid-write
    checkpoint = torch.load(out / "ckpt.pt", weights_only=True)
    checkpoint["iter_num"] = 3  # as if killed at 3, at the start of the second stage
    checkpoint["data_state"].update(stage=1, stage_start=3)
    checkpoint["config"]["curriculum"] = "0k:3,0k:5"
    save_checkpoint(checkpoint, out / "ckpt.pt")
    run_train([f"--out_dir={out}", "--init_from=resume", "--log_interval=2"])
    assert "resume: log_interval=2 overrides the run's 1" in capsys.readouterr().out
    resumed = torch.load(out / "ckpt.pt", weights_only=True)
    assert resumed["iter_num"] == 8 and resumed["config"]["learning_rate"] == 3e-3
    assert resumed["config"]["tasks"] == "qa1" and resumed["config"]["n_embd"] == 32
    assert sorted(logged(out)) == [1, 2, 3, 4, 6, 8]  # the cut line is gone, rewritten
    for bad, message in (("--tasks=qa1,qa2", "tasks='qa1,qa2': the run in"),
                         ("--n_embd=64", "n_embd=64: the run in"),
                         ("--prompt_format=qlast", "prompt_format='qlast'")):
        with pytest.raises(ConfigError, match=message):
            run_train([f"--out_dir={out}", "--init_from=resume", bad])


@pytest.mark.parametrize("kills", [3, pytest.param(10, marks=pytest.mark.slow)])
def test_killed_at_random_moments_resumes_to_the_same_log(tmp_path, kills):
    """SIGKILL at random moments (evaluation, checkpointing and stage changes included), then
    resume with only --init_from=resume --out_dir: the log equals an uninterrupted run's.
    The default run kills 3 times; `pytest -m slow` kills 10 times."""
    args = tiny_args(tmp_path, "lm2", f"--curriculum=0k:6@0.99,0k:{4 * kills}", "--dropout=0.1",
                     "--segment_len=32", "--checkpoint_interval=2", "--eval_interval=4")
    straight = tmp_path / "straight"
    run_train(args + [f"--out_dir={straight}"])
    rng = random.Random(0)
    killed = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args, f"--out_dir={killed}"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(kills):
        deadline = time.time() + 120
        target = last_logged_iter(killed) + rng.randint(1, 4)
        while last_logged_iter(killed) < target and proc.poll() is None:
            assert time.time() < deadline
            time.sleep(0.01)
        time.sleep(rng.random() * 0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        resume = ["--init_from=resume", f"--out_dir={killed}"]
        if not (killed / "ckpt.pt").exists():  # killed before its first checkpoint: start again
            resume = [*args, f"--out_dir={killed}"]
        proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *resume], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert proc.wait(timeout=300) == 0
    assert without_timings(killed / "log.jsonl") == without_timings(straight / "log.jsonl")


def without_timings(path):
    """The log's lines in order, less the wall-clock measurements (tokens/s, MFU)."""
    return [{k: v for k, v in json.loads(line).items() if k not in ("tokens_per_s", "mfu")}
            for line in Path(path).read_text().splitlines()]


def test_three_runs_share_a_fresh_data_dir(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, str(ROOT / "train.py"),
                               *tiny_args(tmp_path, memory, "--curriculum=0k:2,1k:1",
                                          "--train_samples=200")],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for memory in ("lm2", "rmt", "none")]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    assert len(list((tmp_path / "data").glob("*.index.npy"))) == 2
    assert not list((tmp_path / "data").glob("*.tmp"))
    # one plain line per log_interval when the output is not a terminal, no progress bar
    assert "iter 3 | stage 1k | loss" in out and "\r" not in out + err


def test_an_evaluation_cut_short_is_redone_on_resume(tmp_path, monkeypatch):
    out = tmp_path / "lm2"
    run_train(tiny_args(tmp_path, "lm2", "--curriculum=0k:4", "--eval_interval=2"))
    checkpoint = torch.load(out / "ckpt.pt", weights_only=True)
    assert checkpoint["data_state"]["eval_pending"] is False  # the last save follows the eval
    evaluations = []
    monkeypatch.setattr(train.Run, "evaluate", lambda self, *args: evaluations.append(args) or {
        "qa1": {"0k": {"official": 0.5, "fixed": 0.5}}})
    # as if killed inside the last evaluation: saved just before it, the stage not yet ended
    checkpoint["data_state"].update(eval_pending=True, stage=0, stage_start=0)
    save_checkpoint(checkpoint, out / "ckpt.pt")
    run_train([f"--out_dir={out}", "--init_from=resume"])
    assert len(evaluations) == 1  # redone once, with no training step before it
    assert torch.load(out / "ckpt.pt", weights_only=True)["iter_num"] == 4
    save_checkpoint(checkpoint, out / "ckpt.pt")
    run_train([f"--out_dir={out}", "--init_from=resume", "--eval_samples=0"])  # no hang
    assert len(evaluations) == 1
    assert torch.load(out / "ckpt.pt", weights_only=True)["data_state"]["stage"] == 1
