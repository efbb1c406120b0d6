"""Sample from a trained model.

    python sample.py --out_dir=out/babilong_lm2 --start="Mary went to the kitchen." --num_samples=3
    python sample.py --out_dir=out/babilong_lm2/ckpt.pt --start=FILE:prompt.txt --temperature=0

    python sample.py --out_dir=out/cpu_lm2 --start="Mary went to the kitchen." --question="Where is Mary?" --temperature=0

A prompt of any length is read segment by segment from its first token with the memory carried
along (model.generate), so LM2 and RMT see all of it; the vanilla model attends only within its
current segment. The prompt is encoded as plain text: "<|endoftext|>" in it is ordinary text.
With --question, the prompt is the BABILong prompt around --start as the input, in the prompt
format the checkpoint was trained with (qlast or qboth).
Each sample's continuation (the prompt is not repeated) is printed, followed by a line of dashes.
"""
import contextlib
from pathlib import Path

import torch

from checkpoint import load_model
from configurator import ConfigError, configure, run_cli
from data.babilong.tokenized import format_prompt, trained_prompt_format
from tokenizer import EOT, decode, encode

DEFAULTS = dict(
    out_dir="out/babilong_lm2",  # a training out_dir holding ckpt.pt (train.py's default), or a file
    start="\n",             # the prompt, or FILE:path to read it from a file
    question="",            # ask a BABILong question about `start`, in the trained prompt format
    num_samples=3,
    max_new_tokens=200,
    temperature=0.8,        # 0 = greedy; < 1 less random, > 1 more random
    top_k=200,              # keep only the top_k most likely tokens (0 = all)
    seed=1337,
    device="auto",          # "auto" = cuda if available, else cpu
    stop_at_eot=True,       # stop a sample at <|endoftext|> (not printed)
)


def pick_device(device, key="device"):
    """"auto" -> cuda if available, else cpu; any other name must be a device this machine has
    (ConfigError naming `key` otherwise)."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(f"{key}={device!r}: not a device name (auto, cpu, cuda, cuda:1, mps)")
    if kind.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{key}={device!r}: no CUDA device is available on this machine")
    if kind.type == "cuda" and (kind.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"{key}={device!r}: this machine has {torch.cuda.device_count()} CUDA "
                          f"device(s)")
    if kind.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"{key}={device!r}: MPS is not available on this machine")
    if kind.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"{key}={device!r}: only cpu, cuda and mps are supported")
    return device


def autocast_for(device):
    """bf16 autocast on CUDA, nothing elsewhere (CPU runs fp32)."""
    if torch.device(device).type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def read_prompt(start):
    if start.startswith("FILE:"):
        path = Path(start[len("FILE:"):])
        if not path.is_file():
            raise ConfigError(f"start={start!r}: prompt file {path} not found")
        return path.read_text(encoding="utf-8")
    return start


def sample(config):
    """Returns the generated texts (prompt excluded), one per sample."""
    for key, ok, why in (("num_samples", config["num_samples"] >= 1, "must be at least 1"),
                         ("max_new_tokens", config["max_new_tokens"] >= 0, "must be >= 0"),
                         ("temperature", config["temperature"] >= 0, "must be >= 0 (0 = greedy)"),
                         ("top_k", config["top_k"] >= 0, "must be >= 0 (0 = all tokens)")):
        if not ok:
            raise ConfigError(f"{key}={config[key]!r}: {why}")
    device = pick_device(config["device"])
    torch.manual_seed(config["seed"])
    if device.startswith("cuda"):
        torch.cuda.manual_seed(config["seed"])
    model, checkpoint = load_model(config["out_dir"], device)
    text = read_prompt(config["start"])
    if config["question"]:
        text = format_prompt(text, config["question"], trained_prompt_format(checkpoint))
    prompt = encode(text) or [EOT]  # an empty prompt starts a document
    idx = torch.tensor([prompt], dtype=torch.long, device=device)
    stop = EOT if config["stop_at_eot"] else None
    texts = []
    for _ in range(config["num_samples"]):
        with autocast_for(device):
            out = model.generate(idx, config["max_new_tokens"], temperature=config["temperature"],
                                 top_k=config["top_k"] or None, stop_token=stop)
        new = out[0, len(prompt):].tolist()
        if stop is not None and EOT in new:
            new = new[:new.index(EOT)]
        texts.append(decode(new))
    return texts


def main(argv=None):
    config = configure(DEFAULTS, argv)
    for text in sample(config):
        print(text)
        print("---------------")


if __name__ == "__main__":
    run_cli("sample.py", main, (ConfigError, FileNotFoundError))
