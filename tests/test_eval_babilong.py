"""eval_babilong.py: scoring with a model whose answers are known (both metric modes, the vanilla
window, batching by prompt length), and the command end to end: tables, results.json, heatmaps,
clear errors."""
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

from checkpoint import load_model
from data.babilong.build import make_samples
from data.babilong.official import write_official
from data.babilong.tokenized import format_prompt
import eval_babilong
from model import LM
from eval_babilong import answer_accuracy, main, model_name
from plots import line_svg
from test_sample import tiny_checkpoint
from tokenizer import EOT, encode

REPO = Path(__file__).resolve().parents[1]
SEGMENT = 64


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    for length in ("0k", "1k"):
        write_official(make_samples("qa1", length, 3, split="test", progress=False),
                       root / "data", "qa1", length)
    ckpts = {memory: tiny_checkpoint(root / f"run-{memory}", memory, SEGMENT)
             for memory in ("lm2", "none")}
    return root, ckpts


def answering(monkeypatch, model, text):
    """Make model.generate_greedy answer `text`, then EOT; record each batch of prompts."""
    prompts = []

    def fake_generate_greedy(rows, max_new_tokens, stop_token=None):
        assert max_new_tokens == 20 and stop_token == EOT
        prompts.append([row.tolist() for row in rows])
        return [encode(text) + [EOT] for _ in rows]

    monkeypatch.setattr(model, "generate_greedy", fake_generate_greedy)
    return prompts


def record(target, question="Where is Mary? ", input="Mary went to the kitchen."):
    return {"input": input, "question": question, "target": target}


def test_scores_known_answers_in_both_modes(setup, monkeypatch):
    model, _ = load_model(setup[1]["lm2"])
    prompts = answering(monkeypatch, model, " kitchen")
    result = answer_accuracy(model, [record("kitchen"), record("garden"), record("kitchen")],
                             "qa1", "cpu")
    assert result == {"official": pytest.approx(2 / 3), "fixed": pytest.approx(2 / 3),
                      "outputs": [" kitchen"] * 3}
    full = encode(format_prompt("Mary went to the kitchen.", "Where is Mary? "))
    assert prompts[0][0] == full  # LM2 reads the prompt from its first token
    answering(monkeypatch, model, " none")  # official: "one" is inside "none"; fixed: correct
    result = answer_accuracy(model, [record("none", "How many objects is Mary carrying? ")], "qa7",
                             "cpu")
    assert (result["official"], result["fixed"]) == (0.0, 1.0)


def test_vanilla_keeps_the_last_window_and_batches_rows(setup, monkeypatch):
    model, _ = load_model(setup[1]["none"])
    model.train()
    prompts = answering(monkeypatch, model, " garden")
    records = load_official_records(setup[0], "1k")
    records = [records[0], records[0], records[1]]
    factory_calls = []

    def autocast_factory():
        factory_calls.append(1)
        return torch.autocast("cpu", enabled=False)

    result = answer_accuracy(model, records, "qa1", "cpu", batch_size=2, autocast=autocast_factory)
    assert [len(p) for p in prompts] == [2, 1] and len(factory_calls) == 2
    full = encode(format_prompt(records[2]["input"], records[2]["question"]))
    assert len(full) > SEGMENT and full[-(SEGMENT - 20):] in prompts[0] + prompts[1]
    assert all(len(row) <= SEGMENT - 20 for batch in prompts for row in batch)
    expected = sum(r["target"] == "garden" for r in records) / 3
    assert result["official"] == result["fixed"] == pytest.approx(expected)
    assert model.training  # the caller's mode is restored


def load_official_records(root, length):
    return json.loads((root / "data" / "qa1" / f"{length}.json").read_text())


def test_command_writes_tables_json_and_heatmaps(setup, capsys, monkeypatch):
    root, ckpts = setup
    computed = []  # what answer_accuracy returned, call by call (models x tasks x lengths)

    def spy(model, records, task, *args, **kwargs):
        computed.append(answer_accuracy(model, records, task, *args, **kwargs))
        assert records == load_official_records(root, ("0k", "1k")[(len(computed) - 1) % 2])
        return computed[-1]

    monkeypatch.setattr(eval_babilong, "answer_accuracy", spy)
    out = root / "res" / "results.json"
    main(["--ckpt", str(ckpts["lm2"].parent), "--ckpt", str(ckpts["none"]), "--tasks", "qa1",
          "--lengths", "0k,1k", "--data_dir", str(root / "data"), "--out", str(out),
          "--device", "cpu"])
    printed = capsys.readouterr().out
    assert "| task | 0k | 1k |" in printed and "| task length | run-lm2 | run-none |" in printed
    results = json.loads(out.read_text())
    assert set(results) == {"run-lm2", "run-none", "_fixed", "_meta"}
    assert results["_meta"]["n_samples"] == {"qa1": {"0k": 3, "1k": 3}}
    assert results["_meta"]["models"]["run-none"]["memory"] == "none"
    scores = iter(computed)
    for name in ("run-lm2", "run-none"):
        for length in ("0k", "1k"):
            expected = next(scores)
            assert results[name]["qa1"][length] == expected["official"]
            assert results["_fixed"][name]["qa1"][length] == expected["fixed"]
            assert 0.0 <= expected["official"] <= 1.0 and len(expected["outputs"]) == 3
        svg = ET.parse(out.with_name(f"results_{name}.svg")).getroot()
        assert svg.tag.endswith("svg") and len(svg.findall("{http://www.w3.org/2000/svg}rect")) > 2


def test_generated_samples_and_averages(setup, capsys, tmp_path):
    main(["--ckpt", str(setup[1]["lm2"]), "--tasks", "qa1,qa2", "--lengths", "0k",
          "--max_samples", "2", "--out", str(tmp_path / "r.json"), "--device", "cpu",
          "--report_memory"])
    printed = capsys.readouterr().out
    assert "| avg qa1,qa2 |" in printed and "peak RSS:" in printed
    meta = json.loads((tmp_path / "r.json").read_text())["_meta"]
    assert meta["n_samples"] == {"qa1": {"0k": 2}, "qa2": {"0k": 2}}


def test_model_names_are_unique_and_never_reserved(tmp_path):
    taken = {"_meta", "_fixed"}
    checkpoint = {"config": {"out_dir": "out/_meta"}}
    assert model_name(tmp_path / "a" / "ckpt.pt", checkpoint, taken) == "meta"
    assert model_name(tmp_path / "run" / "ckpt.pt", {}, taken) == "run"
    assert model_name(tmp_path / "b.pt", {}, taken) == "b"
    assert model_name(tmp_path / "b.pt", {}, taken | {"b"}) == "b-2"


@pytest.mark.parametrize("args, message", [
    (["--tasks", "qa99"], "unknown task 'qa99'"),
    (["--lengths", "3x"], "bad length label '3x'"),
    (["--lengths", "2k"], r"qa1/2k\.json"),
    (["--ckpt", "nowhere"], "no checkpoint at nowhere"),
])
def test_bad_input_is_named(setup, args, message):
    root, ckpts = setup
    base = ["--ckpt", str(ckpts["lm2"]), "--tasks", "qa1", "--lengths", "0k",
            "--data_dir", str(root / "data")]
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        main(base + args)


def test_command_line_error_exit(tmp_path):
    result = subprocess.run([sys.executable, "eval_babilong.py", "--ckpt", str(tmp_path / "x.pt")],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2 and "no checkpoint at" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_line_plot_breaks_at_missing_points(tmp_path):
    xs = list(range(2000))
    ys = [1.0 / (x + 1) if x != 1000 else float("nan") for x in xs]
    line_svg(tmp_path / "loss.svg", "loss <train>", {"lm2": (xs, ys), "rmt": ([0, 1999], [1, 0.5])},
             "iteration", "loss")
    svg = ET.parse(tmp_path / "loss.svg").getroot()
    lines = svg.findall("{http://www.w3.org/2000/svg}polyline")
    assert [len(p.get("points").split()) for p in lines] == [1000, 999, 2]
    assert "loss <train>" in [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    line_svg(tmp_path / "one.svg", "diverged", {"a": ([0, 1], [2.0, float("nan")])}, "x", "y")
    dots = ET.parse(tmp_path / "one.svg").getroot().findall("{http://www.w3.org/2000/svg}circle")
    assert len(dots) == 1
    line_svg(tmp_path / "none.svg", "no data", {"a": ([], [])}, "x", "y")  # empty axes, no error


def test_each_checkpoint_is_asked_in_its_own_prompt_format(tmp_path, monkeypatch):
    records = make_samples("qa1", "0k", 2, split="test", progress=False)
    write_official(records, tmp_path / "data", "qa1", "0k")
    seen = {}

    def fake_generate_greedy(self, rows, max_new_tokens, stop_token=None):
        seen.setdefault(self.config.memory, []).extend(row.tolist() for row in rows)
        return [[EOT] for _ in rows]

    monkeypatch.setattr(LM, "generate_greedy", fake_generate_greedy)
    ckpts = {"lm2": tiny_checkpoint(tmp_path / "a", "lm2", SEGMENT, prompt_format="qboth"),
             "none": tiny_checkpoint(tmp_path / "b", "none", SEGMENT)}  # qlast
    _, _, meta = main(["--ckpt", str(ckpts["lm2"]), "--ckpt", str(ckpts["none"]), "--tasks", "qa1",
                       "--lengths", "0k", "--data_dir", str(tmp_path / "data"),
                       "--out", str(tmp_path / "results.json")])
    assert [m["prompt_format"] for m in meta["models"].values()] == ["qboth", "qlast"]
    for memory, fmt in (("lm2", "qboth"), ("none", "qlast")):
        assert sorted(seen[memory]) == sorted(encode(format_prompt(r["input"], r["question"], fmt))
                                              for r in records)


def test_average_rows_hold_the_mean_of_their_tasks(setup, capsys, tmp_path, monkeypatch):
    scores = {"qa1": 0.2, "qa2": 0.4, "qa3": 0.5, "qa4": 0.9, "qa5": 1.0}
    monkeypatch.setattr(eval_babilong, "answer_accuracy", lambda model, records, task, *a, **k: {
        "official": scores[task], "fixed": scores[task] / 2, "outputs": []})
    monkeypatch.setattr(eval_babilong, "load_records", lambda *args: [])
    main(["--ckpt", str(setup[1]["lm2"]), "--tasks", "qa1,qa2", "--lengths", "0k",
          "--out", str(tmp_path / "a.json")])
    assert "| avg qa1,qa2 | 30.0 / 15.0 |" in capsys.readouterr().out
    main(["--ckpt", str(setup[1]["lm2"]), "--tasks", "qa1,qa2,qa3,qa4,qa5", "--lengths", "0k",
          "--out", str(tmp_path / "b.json")])
    assert "| avg qa1-qa5 | 60.0 / 30.0 |" in capsys.readouterr().out


@pytest.mark.parametrize("memory", ["lm2", "rmt", "none"])
def test_batched_greedy_answers_equal_one_prompt_at_a_time(tmp_path, memory):
    """Prompts of many lengths in one batch: 0k ones inside one segment, 1k ones across many
    (segments of 64), and one whose answer spills into a new segment."""
    model, _ = load_model(tiny_checkpoint(tmp_path, memory, SEGMENT, seed=1))
    records = (make_samples("qa1", "0k", 5, split="test", progress=False)
               + make_samples("qa2", "1k", 4, split="test", progress=False))
    prompts = [torch.tensor(encode(format_prompt(r["input"], r["question"]))) for r in records]
    prompts.append(prompts[-1][:3 * SEGMENT - 5])  # 5 tokens from its segment's end
    expected = []
    for prompt in prompts:
        new = model.generate(prompt[None], 20, temperature=0, stop_token=EOT)[0, len(prompt):]
        new = new.tolist()
        expected.append(new[:new.index(EOT) + 1] if EOT in new else new)
    assert model.generate_greedy(prompts, 20, stop_token=EOT) == expected
    assert model.generate_greedy(prompts[::-1], 20, stop_token=EOT) == expected[::-1]
