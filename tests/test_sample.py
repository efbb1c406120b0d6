"""sample.py: text from a tiny checkpoint for long, special-token and file prompts, seeded
reproducibility, the end-of-text cut, and clear errors."""
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from checkpoint import save_checkpoint
from model import LM, ModelConfig
from configurator import ConfigError
from sample import DEFAULTS, main, sample
from tokenizer import EOT, encode

REPO = Path(__file__).resolve().parents[1]
LONG_PROMPT = "Mary went to the kitchen. <|endoftext|> John moved to the garden. " * 6


def tiny_checkpoint(out_dir, memory, segment_len=16, seed=0, prompt_format="qlast"):
    """A random-init model saved as train.py would: out_dir/ckpt.pt. Returns the file."""
    torch.manual_seed(seed)
    model = LM(ModelConfig(vocab_size=50304, n_layer=1, n_head=2, n_embd=32,
                           segment_len=segment_len, memory=memory, mem_slots=4, mem_heads=2))
    path = Path(out_dir) / "ckpt.pt"
    save_checkpoint({"model": model.state_dict(), "model_config": dataclasses.asdict(model.config),
                     "config": {"out_dir": str(out_dir), "memory": memory,
                                "prompt_format": prompt_format}, "iter_num": 0}, path)
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("ckpts") / "run-lm2"
    tiny_checkpoint(out_dir, "lm2")
    return out_dir


def settings(out_dir, **overrides):
    return {**DEFAULTS, "out_dir": str(out_dir), "num_samples": 2, "max_new_tokens": 5,
            "device": "cpu", **overrides}


@pytest.mark.parametrize("memory", ["lm2", "rmt", "none"])
def test_long_prompt_with_special_token_text(tmp_path, memory):
    assert len(encode(LONG_PROMPT)) > 3 * 16  # several segments of the tiny model
    config = settings(tiny_checkpoint(tmp_path / memory, memory), start=LONG_PROMPT,
                      stop_at_eot=False, seed=3)
    texts = sample(config)
    assert len(texts) == 2 and all(isinstance(t, str) and t for t in texts)
    assert texts[0] != texts[1]  # two draws, not one repeated
    assert sample(config) == texts  # the same seed gives the same samples


def test_file_prompt_and_seeded_reproducibility(tmp_path, run_dir):
    prompt = tmp_path / "prompt.txt"
    prompt.write_text(LONG_PROMPT, encoding="utf-8")
    config = settings(run_dir, start=f"FILE:{prompt}", temperature=1.0, top_k=0, seed=7)
    first, again = sample(config), sample(config)
    assert first == again
    assert sample({**config, "seed": 8}) != first
    greedy = settings(run_dir, start=LONG_PROMPT, temperature=0.0)
    assert sample(greedy) == sample({**greedy, "start": f"FILE:{prompt}"})


def test_stops_at_end_of_text_without_printing_it(run_dir, monkeypatch, capsys):
    before, after = encode(" kitchen"), encode(" garden")

    def fake_generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, state=None,
                      stop_token=None):
        new = torch.tensor([before + [EOT] + after]).expand(idx.size(0), -1)
        return torch.cat([idx, new], dim=1)

    monkeypatch.setattr(LM, "generate", fake_generate)
    main([f"--out_dir={run_dir}", "--start=Where?", "--num_samples=2", "--device=cpu"])
    out = capsys.readouterr().out
    assert out == " kitchen\n---------------\n" * 2
    texts = sample(settings(run_dir, start="Where?", stop_at_eot=False))
    assert texts == [" kitchen<|endoftext|> garden"] * 2


def test_command_line(run_dir):
    result = subprocess.run([sys.executable, "sample.py", f"--out_dir={run_dir / 'ckpt.pt'}",
                             "--start=<|endoftext|>Mary", "--num_samples=2",
                             "--max_new_tokens=5"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("---------------\n") == 2


def test_missing_checkpoint_and_prompt_file_are_named(tmp_path, run_dir):
    result = subprocess.run([sys.executable, "sample.py", f"--out_dir={tmp_path / 'nowhere'}"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode != 0 and "no checkpoint at" in result.stderr
    assert str(tmp_path / "nowhere") in result.stderr
    with pytest.raises(ConfigError, match="missing.txt"):
        sample(settings(run_dir, start=f"FILE:{tmp_path / 'missing.txt'}"))


@pytest.mark.parametrize("prompt_format", ["qlast", "qboth"])
def test_question_is_asked_in_the_trained_prompt_format(tmp_path, monkeypatch, prompt_format):
    from data.babilong.tokenized import format_prompt
    prompts = []

    def fake_generate(self, idx, max_new_tokens, **kwargs):
        prompts.append(idx[0].tolist())
        return torch.cat([idx, torch.tensor([encode(" kitchen") + [EOT]])], dim=1)

    monkeypatch.setattr(LM, "generate", fake_generate)
    ckpt = tiny_checkpoint(tmp_path / prompt_format, "lm2", prompt_format=prompt_format)
    texts = sample(settings(ckpt, start="Mary went to the kitchen.", question="Where is Mary?",
                            num_samples=1))
    assert texts == [" kitchen"]
    assert prompts == [encode(format_prompt("Mary went to the kitchen.", "Where is Mary?",
                                            prompt_format))]
