"""Quick recipe probes for BABILong training: the harness behind README's table of what was
tried ("Making the models learn"). Not the training script (that is train.py): it trades train.py's
checkpoints, curriculum and generated-answer evaluation for speed, so that short runs can be
compared side by side, one CPU thread each.

    python experiments/recipe_probe.py --fmt=qboth --more=3 --threads=1 --time_limit=600

It trains the vanilla model (or --memory=lm2|rmt) on one task and length with AdamW at a constant
rate after warm-up, length-bucketed batches, and every --every steps prints the held-out accuracy
of the first (evaluated) question: the answer and its end-of-text must all be the argmax under
teacher forcing, which is what greedy decoding then writes. --init_std sets the std of every
linear layer (GPT-2's 0.02 otherwise; residual projections scaled by 1/sqrt(2 n_layer)).
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from data.babilong.build import make_samples  # noqa: E402
from data.babilong.tokenized import encode_sample  # noqa: E402
from data.batches import EpochSampler, pad_batch  # noqa: E402
from model import LM, ModelConfig  # noqa: E402

OPTIONS = dict(task="qa1", length="0k", n=40000, more=3, fmt="qboth", max_facts=0, memory="none",
               d=128, layers=4, heads=4, seg=256, slots=16, batch=64, lr=2e-3, warmup=100,
               wd=0.0, init_std=0.0, steps=5000, every=100, neval=200, threads=2, seed=0,
               time_limit=600.0)


def first_answer_correct(pred, y, mask):
    """The first run of loss positions (the evaluated answer and its end-of-text) all right."""
    pos = np.nonzero(mask)[0]
    end = 1
    while end < len(pos) and pos[end] == pos[end - 1] + 1:
        end += 1
    return bool((pred[pos[:end]] == y[pos[:end]]).all())


@torch.no_grad()
def accuracy(model, samples):
    model.eval()
    correct = 0
    for start in range(0, len(samples), 64):
        x, y, mask = pad_batch(samples[start:start + 64])
        pred = model.forward_long(x)[0].argmax(-1)
        correct += sum(first_answer_correct(pred[r], y[r], mask[r]) for r in range(len(x)))
    model.train()
    return correct / len(samples)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for key, value in OPTIONS.items():
        p.add_argument(f"--{key}", type=type(value), default=value)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    records = make_samples(a.task, a.length, a.n, "train", 0, progress=False, more_questions=a.more)
    if a.max_facts:  # stories of at most max_facts statements (a story-size curriculum's start)
        records = [r for r in records if r["input"].count(".") <= a.max_facts]
    train = [encode_sample(r, a.fmt) for r in records]
    held_out = [encode_sample(r, a.fmt) for r in make_samples(a.task, a.length, a.neval, "train", 1,
                                                              progress=False)]
    tokens = sum(len(ids) for ids, _ in train)
    answers = sum(1 + len(r.get("more", ())) for r in records)
    print(f"{len(train)} samples, {tokens / len(train):.0f} tokens and {answers / len(train):.2f} "
          f"answers each, {1000 * answers / tokens:.1f} answers per 1000 tokens", flush=True)
    model = LM(ModelConfig(n_layer=a.layers, n_head=a.heads, n_embd=a.d, segment_len=a.seg,
                           memory=a.memory, mem_slots=a.slots))
    if a.init_std:
        for name, param in model.named_parameters():
            if param.dim() == 2 and not name.startswith(("wte", "lm_head")):
                scale = (2 * a.layers) ** -0.5 if name.endswith(("proj.weight", "down.weight")) else 1
                torch.nn.init.normal_(param, std=a.init_std * scale)
    optimizer = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=a.wd)
    sampler = EpochSampler(len(train), a.seed, [len(ids) for ids, _ in train], a.batch)
    started, seen = time.time(), 0
    for step in range(1, a.steps + 1):
        for group in optimizer.param_groups:
            group["lr"] = a.lr * min(1.0, step / a.warmup)
        x, y, mask = pad_batch([train[i] for i in sampler.take(a.batch)])
        seen += int((y[mask] == 50256).sum())  # answers: one end-of-text each
        loss = model.forward_long(x, targets=y, loss_mask=mask)[1]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step % a.every == 0:
            print(f"step {step} | {time.time() - started:.0f} s | loss {loss.item():.3f} | "
                  f"held-out {accuracy(model, held_out):.0%} | {seen / 1000:.0f}k answers", flush=True)
            if time.time() - started > a.time_limit:
                break


if __name__ == "__main__":
    main()
