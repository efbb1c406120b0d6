"""Sample from a trained model.

    python sample.py --out_dir=out/babilong_lm2 --start="Mary went to the kitchen." --num_samples=3
    python sample.py --out_dir=out/babilong_lm2/ckpt.pt --start=FILE:prompt.txt --temperature=0

A prompt of any length is read segment by segment from its first token with the memory carried
along (model.generate), so LM2 and RMT see all of it; the vanilla model attends only within its
current segment. The prompt is encoded as plain text: "<|endoftext|>" in it is ordinary text.
Each sample's continuation (the prompt is not repeated) is printed, followed by a line of dashes.
"""
import contextlib
import sys
from pathlib import Path

import torch

from checkpoint import load_model
from configurator import ConfigError, configure
from tokenizer import EOT, decode, encode

DEFAULTS = dict(
    out_dir="out",          # a training out_dir holding ckpt.pt, or a checkpoint file
    start="\n",             # the prompt, or FILE:path to read it from a file
    num_samples=3,
    max_new_tokens=200,
    temperature=0.8,        # 0 = greedy; < 1 less random, > 1 more random
    top_k=200,              # keep only the top_k most likely tokens (0 = all)
    seed=1337,
    device="auto",          # "auto" = cuda if available, else cpu
    stop_at_eot=True,       # stop a sample at <|endoftext|> (not printed)
)


def pick_device(device):
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
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
            raise FileNotFoundError(f"prompt file {path} not found (from --start={start})")
        return path.read_text(encoding="utf-8")
    return start


def sample(config):
    """Returns the generated texts (prompt excluded), one per sample."""
    if config["num_samples"] < 1 or config["max_new_tokens"] < 0:
        raise ConfigError("num_samples must be >= 1 and max_new_tokens >= 0")
    if config["temperature"] < 0:
        raise ConfigError("temperature must be >= 0 (0 = greedy)")
    device = pick_device(config["device"])
    torch.manual_seed(config["seed"])
    if device.startswith("cuda"):
        torch.cuda.manual_seed(config["seed"])
    model, _ = load_model(config["out_dir"], device)
    prompt = encode(read_prompt(config["start"])) or [EOT]  # an empty prompt starts a document
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
    try:
        main()
    except (ConfigError, FileNotFoundError, ValueError) as e:
        sys.exit(f"sample.py: {e}")
