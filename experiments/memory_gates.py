"""How much of its memory a trained LM2 keeps from segment to segment: the forget and input gates
(Eqs. 4-6) of every block on generated qa1 test prompts, over the segments that hold a statement
and over the segments of haystack alone.

    python experiments/memory_gates.py out/cpu_lm2 --length=4k --n=20

"forget" is the mean forget gate; "kept" the share of memory entries that leave a segment as they
came in (forget gate above 0.95 and the written term g_in * tanh(U) below 0.05 in size): what a
fact can ride on through haystack without being read back and written again at every boundary.
"""
import argparse
import bisect
import re
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from checkpoint import load_model  # noqa: E402
from data.babilong.tokenized import format_prompt, trained_prompt_format  # noqa: E402
from data.babilong.world import ACTORS  # noqa: E402
from eval_babilong import load_records  # noqa: E402
from memory import LM2Memory  # noqa: E402
from tokenizer import encode, get_encoding  # noqa: E402

STATEMENT = re.compile(rf"\b(?:{'|'.join(ACTORS['qa1'])}) [a-z ]+ to the \w+\.")


def statement_segments(prompt, segment_len):
    """The segments (from the prompt's first token) that hold a token of a qa1 statement."""
    _, starts = get_encoding().decode_with_offsets(encode(prompt))  # each token's first character
    found = set()
    for m in STATEMENT.finditer(prompt):
        first, last = (bisect.bisect_right(starts, char) - 1 for char in (m.start(), m.end() - 1))
        found.update(range(first // segment_len, last // segment_len + 1))
    return found


def gate_stats(model, prompts):
    """{(memory block, holds a statement): [sum of mean forget gates, sum of kept shares, segments]}."""
    calls = []

    def recording(memory):  # memory.gate (Eqs. 4-5), noting what each call keeps
        def gate(u):
            g_in, g_forget = LM2Memory.gate(memory, u)
            kept = ((g_forget > 0.95) & ((g_in * torch.tanh(u)).abs() < 0.05)).float().mean()
            calls.append((g_forget.mean().item(), kept.item()))
            return g_in, g_forget
        return gate

    blocks = [b.memory for b in model.blocks if b.memory is not None]
    for memory in blocks:
        memory.gate = recording(memory)
    stats = {}
    try:
        for prompt in prompts:
            calls.clear()
            ids, S = torch.tensor([encode(prompt)]), model.config.segment_len
            state = model.init_state(1)
            with torch.no_grad():  # forward_long without the logits: only the writes matter
                for start in range(0, ids.size(1), S):
                    _, state = model.hidden(ids[:, start:start + S], state)
            holding = statement_segments(prompt, S)
            for k, (forget, kept) in enumerate(calls):
                segment, block = divmod(k, len(blocks))
                entry = stats.setdefault((block, segment in holding), [0.0, 0.0, 0])
                entry[0], entry[1], entry[2] = entry[0] + forget, entry[1] + kept, entry[2] + 1
    finally:
        for memory in blocks:
            del memory.gate
    return stats


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("ckpt")
    p.add_argument("--length", default="4k")
    p.add_argument("--n", type=int, default=20)
    a = p.parse_args()
    model, checkpoint = load_model(a.ckpt)
    if model.config.memory != "lm2":
        sys.exit(f"{a.ckpt}: memory={model.config.memory!r}; the gates are LM2's")
    fmt = trained_prompt_format(checkpoint)
    prompts = [format_prompt(r["input"], r["question"], fmt)
               for r in load_records("qa1", a.length, max_samples=a.n)]
    stats = gate_stats(model, prompts)
    n_blocks = model.config.n_memory_blocks
    print(f"{a.ckpt}: qa1 {a.length}, {a.n} test prompts, {model.config.segment_len}-token segments")
    print("| block | segments | forget, haystack only | kept | segments | forget, with a statement | kept |")
    print("|---|---|---|---|---|---|---|")
    for block in range(n_blocks):
        cells = []
        for holds in (False, True):
            forget, kept, n = stats.get((block, holds), (0.0, 0.0, 0))
            cells += [str(n), f"{forget / max(n, 1):.2f}", f"{kept / max(n, 1):.1%}"]
        print(f"| {block} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
