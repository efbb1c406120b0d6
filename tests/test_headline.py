"""headline.py: three trainings, one evaluation, one report; runs stopped early are resumed and
finished runs are not trained again."""
import json

import pytest

import headline

TINY = ("--tasks=qa1 --curriculum=0k:3 --train_samples=32 --eval_samples=2 --n_layer=1 "
        "--n_head=2 --n_embd=32 --segment_len=64 --mem_slots=4 --mem_heads=2 --batch_size=4 "
        "--eval_interval=1000 --device=cpu")


def test_trains_three_models_then_writes_one_report(tmp_path, monkeypatch, capsys):
    out = tmp_path / "headline"
    common = ["--cpu", f"--out={out}", "--max_samples=2", "--lengths=0k,1k"]
    train_args = f"--train_args={TINY} --data_dir={tmp_path / 'data'}"
    headline.main(common + [train_args + " --time_limit=1e-9"])  # each stops after one iteration
    report = (out / "headline.md").read_text()
    assert "- lm2: 1 iterations, stopped in stage 1 of 1 (0k)" in report
    # the stopped runs are resumed, not restarted (an explicit setting overrides the stored one)
    headline.main(common + [train_args + " --time_limit=0"])
    results = json.loads((out / "results.json").read_text())
    assert [m for m in results if not m.startswith("_")] == ["lm2", "rmt", "vanilla"]
    assert {m["memory"] for m in results["_meta"]["models"].values()} == {"lm2", "rmt", "none"}
    report = (out / "headline.md").read_text()
    assert "| model | prompt | 0k | 1k |" in report and "| vanilla | qboth |" in report
    assert "python headline.py --cpu" in report and "training wall time" in report
    assert "- vanilla: 3 iterations, all 1 stages" in report
    for name in ("lm2", "rmt", "vanilla"):
        assert (out / f"results_{name}.svg").is_file() and (out / f"{name}.train.log").is_file()
        assert '"init_from": "resume"' in (out / f"{name}.train.log").read_text()
    # a third call reuses the finished runs: nothing is trained again
    monkeypatch.setattr(headline.subprocess, "Popen", None)
    headline.main(common + [train_args])
    assert "reused finished runs" in (out / "headline.md").read_text()
    # --eval_only evaluates what is there, and names what is missing
    headline.main(common + ["--eval_only", "--lengths=0k"])
    report = (out / "headline.md").read_text()
    assert "| model | prompt | 0k |" in report and "not in this command (--eval_only" in report
    (out / "rmt" / "ckpt.pt").unlink()
    with pytest.raises(SystemExit, match="no checkpoint in .* for rmt"):
        headline.main(common + ["--eval_only"])
