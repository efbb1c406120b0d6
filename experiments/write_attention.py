"""How sharply an LM2 checkpoint's memory write attends: the entropy of every slot's attention over
its segment (memory.LM2Memory.write_attention), in the first segment and in later ones, per block,
with the RMS norm of the slots it starts from.

    python experiments/write_attention.py out/cpu_lm2 --length=1k --n=20

Uniform attention over a full segment of S tokens has entropy ln S (5.55 nats for 256): a slot
that attends that way writes the segment's average, not a fact. The write's scores are linear in
M, and the identity initial memory's unit-vector slots (RMS 1/sqrt(d)) are small beside the
RMS-normalised tokens X (RMS 1) and beside the slots of later segments (experiments/README.md:
*The first segment's write*).
"""
import argparse
import math
import sys
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from checkpoint import load_model  # noqa: E402
from data.babilong.build import make_samples  # noqa: E402
from data.babilong.tokenized import trained_prompt_format  # noqa: E402
from eval_babilong import encode_prompt  # noqa: E402
from memory import LM2Memory  # noqa: E402


@torch.no_grad()
def write_statistics(model, prompts):
    """{(block, "first" | "later"): [(mean entropy in nats, mean slot RMS norm)]} over the full
    segments of each prompt (one prompt at a time, so no padding enters a segment)."""
    calls, original = [], LM2Memory.write

    def recording_write(memory, x, mem):
        calls.append((memory, x, mem))
        return original(memory, x, mem)

    blocks = {block.memory: i for i, block in enumerate(model.blocks) if block.memory is not None}
    stats = defaultdict(list)
    LM2Memory.write = recording_write
    try:
        for ids in prompts:
            calls.clear()
            model.forward_long(torch.tensor([ids]))
            seen = defaultdict(int)
            for memory, x, mem in calls:
                block = blocks[memory]
                seen[block] += 1
                if x.size(1) < model.config.segment_len:  # the prompt's (short) last segment
                    continue
                p = memory.write_attention(x, mem)
                entropy = -(p * p.clamp_min(1e-12).log()).sum(-1).mean().item()
                norm = mem.pow(2).mean(-1).sqrt().mean().item()
                stats[block, "first" if seen[block] == 1 else "later"].append((entropy, norm))
    finally:
        LM2Memory.write = original
    return stats


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("ckpt", help="a train.py out_dir or checkpoint file of an LM2 model")
    p.add_argument("--length", default="1k")
    p.add_argument("--n", type=int, default=20, help="generated test samples")
    a = p.parse_args()
    model, checkpoint = load_model(a.ckpt, "cpu")
    if model.config.n_memory_blocks == 0:
        sys.exit(f"{a.ckpt}: not an LM2 model (memory={model.config.memory!r})")
    prompt_format = trained_prompt_format(checkpoint)
    records = make_samples("qa1", a.length, a.n, "test", 0, progress=False)
    prompts = [encode_prompt(r, model, prompt_format=prompt_format).tolist() for r in records]
    stats = write_statistics(model, prompts)
    S = model.config.segment_len
    print(f"write attention entropy in nats (uniform over {S} tokens: {math.log(S):.2f}) and slot "
          f"RMS norm (the tokens X: 1), {a.n} qa1 samples at {a.length}, full segments only")
    print("| block | first segment | later segments | slot norm, first | slot norm, later |")
    print("|---|---|---|---|---|")
    mean = {key: [sum(column) / len(rows) for column in zip(*rows)] for key, rows in stats.items()}
    for block in sorted({b for b, _ in stats}):
        (first_entropy, first_norm), (later_entropy, later_norm) = (
            mean.get((block, when), (math.nan, math.nan)) for when in ("first", "later"))
        print(f"| {block} | {first_entropy:.2f} | {later_entropy:.2f} | {first_norm:.2f} | "
              f"{later_norm:.2f} |")


if __name__ == "__main__":
    main()
