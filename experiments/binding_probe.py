"""How fast can a memory learn to bind keys to values across a segment boundary?

BABILong's qa1 asks "where is Mary?" after a story about several people: whatever the memory
carries must say whose place is whose. tests/test_learning.py shows that both memories learn to
carry ONE value across a segment within a unit test's budget; this probe measures the binding:

    segment 1:  F facts "k v" (distinct keys) at random even offsets, the rest filler
    segment 2:  filler, then one of the keys; the target is its value (the only loss term)

With --spread=S the facts are dealt over S segments (one each when S = facts), so the memory
must keep facts written at different segment ends, as BABILong's haystacks need. With
--ask_first=1 the first segment starts with the asked key as well (BABILong's qboth prompt: the
question before the story and again after it), so the memory has to keep one fact, not all.
--memory=none --window=16 (with --seg=8 and one fact segment) sees everything at once: how
fast the task is learned with no memory in the way. With --rewrite=R the asked key is also
written R times earlier in the first segment, with other values (qa1's "Mary moved ... Mary
went ..."): the answer is its latest value, so the memory's write has to know which came last.
--conv_width=4 gives every block a short causal convolution (model.ShortConv).

Chance is 1/values; a model that carries the values but not their keys sits at 1/F. Runs are
tiny (seconds to minutes on one thread), so architecture and optimizer settings can be swept:

    python experiments/binding_probe.py --memory=lm2 --facts=2 --slots=4 --seeds=0,1,2

Prints, per seed, the held-out accuracy every --every steps and the step it first reached --target.
"""
import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from model import LM, ModelConfig  # noqa: E402

OPTIONS = dict(memory="lm2", facts=2, keys=8, values=8, fill=4, seg=8, d=64, layers=2, heads=4,
               slots=4, mem_heads=4, forget_bias=1.0, lr=1e-3, batch=128, steps=1500, every=50,
               target=0.9, seeds="0", threads=1, init_std=0.02, ask_first=0, window=0, spread=1,
               rewrite=0, conv_width=0)


def batch(a, size, generator):
    """(idx, targets) of shape (size, (spread + 1) * seg): F facts over the first `spread`
    segments (fact f in segment f % spread), then a segment that ends with the asked key."""
    rows = torch.arange(size)
    fill0, value0 = a.keys + a.values, a.keys
    keys = torch.argsort(torch.rand(size, a.keys, generator=generator), dim=1)[:, :a.facts]
    values = torch.randint(0, a.values, (size, a.facts), generator=generator)
    story = torch.randint(fill0, fill0 + a.fill, (size, a.spread * a.seg), generator=generator)
    # each segment's facts take its first free pairs in a random order; pair 0 of the first
    # segment holds the asked key when it is asked first
    pairs = torch.rand(size, a.spread, a.seg // 2, generator=generator)
    pairs[:, 0, 0] += a.ask_first  # larger than every draw: never taken by a fact
    order = torch.argsort(pairs, dim=2)
    asked = torch.randint(0, a.facts, (size,), generator=generator)
    if a.rewrite:  # the asked key's writes: pairs F..F+R-1 hold older values, its fact the latest
        events = torch.cat([order[rows, 0, asked, None], order[:, 0, a.facts:a.facts + a.rewrite]],
                           dim=1).sort(dim=1).values
        order[rows, 0, asked] = events[:, -1]
        stale = values[rows, asked, None] + torch.randint(1, a.values, (size, a.rewrite),
                                                          generator=generator)
        for r in range(a.rewrite):
            story[rows, 2 * events[:, r]] = keys[rows, asked]
            story[rows, 2 * events[:, r] + 1] = value0 + stale[:, r] % a.values
    for f in range(a.facts):
        s = f % a.spread
        at = s * a.seg + 2 * order[:, s, f // a.spread]
        story[rows, at] = keys[:, f]
        story[rows, at + 1] = value0 + values[:, f]
    if a.ask_first:
        story[:, 0] = keys[rows, asked]
    query = torch.randint(fill0, fill0 + a.fill, (size, a.seg), generator=generator)
    query[:, -1] = keys[rows, asked]
    idx = torch.cat([story, query], dim=1)
    targets = torch.full_like(idx, -1)
    targets[:, -1] = value0 + values[rows, asked]
    return idx, targets


def accuracy(model, idx, targets):
    model.eval()
    with torch.no_grad():
        mask = targets >= 0
        logits = model.forward_long(idx, targets=targets, loss_mask=mask)[0]
    model.train()
    return (logits.argmax(-1) == targets[mask]).float().mean().item()


def run(a, seed):
    torch.manual_seed(seed)
    model = LM(ModelConfig(vocab_size=a.keys + a.values + a.fill, n_layer=a.layers,
                           n_head=a.heads, n_embd=a.d, segment_len=a.window or a.seg,
                           memory=a.memory, mem_slots=a.slots, mem_heads=a.mem_heads,
                           mem_forget_bias=a.forget_bias, init_std=a.init_std,
                           conv_width=a.conv_width))
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=0.0)
    data = torch.Generator().manual_seed(seed + 1)
    held_out = batch(a, 1024, torch.Generator().manual_seed(12345))
    curve, reached, started = [], None, time.time()
    for step in range(1, a.steps + 1):
        idx, targets = batch(a, a.batch, data)
        loss = model.forward_long(idx, targets=targets, loss_mask=targets >= 0)[1]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % a.every == 0:
            acc = accuracy(model, *held_out)
            curve.append(round(100 * acc))
            if acc >= a.target:
                reached = step
                break
    return curve, reached, time.time() - started


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for key, value in OPTIONS.items():
        p.add_argument(f"--{key}", type=type(value), default=value)
    a = p.parse_args()
    per_segment = -(-a.facts // a.spread) + (a.ask_first > 0) + a.rewrite
    if a.rewrite and a.spread != 1:
        p.error("--rewrite needs --spread=1 (all writes in the first segment)")
    if per_segment > a.seg // 2 or a.facts > a.keys:
        p.error(f"{a.facts} facts over {a.spread} segments do not fit {a.seg}-token segments "
                f"with {a.keys} keys")
    torch.set_num_threads(a.threads)
    settings = " ".join(f"{k}={getattr(a, k)}" for k in OPTIONS if getattr(a, k) != OPTIONS[k])
    for seed in (int(s) for s in a.seeds.split(",")):
        curve, reached, wall = run(a, seed)
        outcome = f"reached {a.target} at step {reached}" if reached else "not reached"
        print(f"[{settings or 'defaults'}] seed {seed}: {outcome} ({wall:.0f} s) | "
              f"every {a.every}: {' '.join(map(str, curve))}", flush=True)


if __name__ == "__main__":
    main()
