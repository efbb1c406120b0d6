"""Quick recipe probes for BABILong training: the harness behind the research log's tables
(experiments/README.md). Not the training script (that is train.py): it trades train.py's
checkpoints, gated curriculum and generated-answer evaluation for speed, so that short runs can be
compared side by side, one CPU thread each.

    python experiments/recipe_probe.py --more=0 --stages=0k/2:250,0k/4:250,0k:1000 --threads=1

It trains the vanilla model (or --memory=lm2|rmt) on one task with AdamW, length-bucketed
batches and a curriculum (--stages, in train.py's syntax without its accuracy gate:
"0k/2:250,0k/4:250,0k:800%64,1k:300*16~3e-4"), at a constant rate (--lr, or the stage's ~rate)
after warm-up (--decay: a cosine to a tenth over the last stage). Every --every steps it prints
the held-out accuracy of the first (evaluated) question on whole stories at --length, on stories
of at most 4 statements, and at each of --eval_lengths: the answer and its end-of-text must all
be the argmax under teacher forcing, which is what greedy decoding then writes. At the end it
breaks the 0k accuracy down by how many statements back the answer was last stated. --save
writes the model after every stage (PATH.stageK) and at the end; --load continues from one, or
from a train.py checkpoint.
--read_scale multiplies LM2's initial read values (0: the read starts silent), --write_scale
its write's scores (after --load: a sharper write); --mem_lr the memory modules' learning rate.
--more=k puts k further questions after each training story, --inline=k asks k inside it (after
statements: data/babilong/build.questions_in_story). --lm_loss=1 puts the loss on every token.
--conv_width=4 gives every block a short causal convolution (model.ShortConv).
"""
import argparse
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from curriculum import parse_curriculum  # noqa: E402
from data.babilong.build import make_samples  # noqa: E402
from data.babilong.tokenized import encode_sample  # noqa: E402
from data.babilong.world import ACTORS  # noqa: E402
from data.batches import EpochSampler, pad_batch  # noqa: E402
from model import LM, ModelConfig  # noqa: E402

OPTIONS = dict(task="qa1", length="0k", n=40000, more=0, inline=0, fmt="qboth", stages="0k:5000",
               memory="none", d=128, layers=4, heads=4, seg=256, slots=16, mem_heads=4,
               theta=10000.0, init_std=0.088, batch=128, lr=2e-3, warmup=100, decay=0, wd=0.0,
               every=100, neval=200, threads=2, seed=0, time_limit=600.0, save="", load="",
               read_scale=1.0, write_scale=1.0, mem_lr=1.0, eval_lengths="", lm_loss=0, conv_width=0)


def first_answer(mask):
    """The first run of loss positions in each row: the evaluated answer and its end-of-text."""
    first = mask.clone()
    for r in range(len(mask)):
        pos = torch.nonzero(mask[r])[:, 0]
        end = 1
        while end < len(pos) and pos[end] == pos[end - 1] + 1:
            end += 1
        first[r, pos[end:]] = False
    return first


@torch.no_grad()
def correct(model, samples):
    """Per sample: is every token of the first answer the argmax under teacher forcing? The head
    runs at the answer positions only (forward_long orders them segment by segment)."""
    model.eval()
    right = []
    S = model.config.segment_len
    for start in range(0, len(samples), 32):
        x, y, mask = pad_batch(samples[start:start + 32])
        first = first_answer(mask)
        logits = model.forward_long(x, targets=y, loss_mask=first)[0]
        rows = torch.arange(len(x))[:, None].expand_as(x)
        order = [(rows[:, k:k + S][first[:, k:k + S]], y[:, k:k + S][first[:, k:k + S]])
                 for k in range(0, x.size(1), S)]
        row_of, target = torch.cat([o[0] for o in order]), torch.cat([o[1] for o in order])
        wrong = torch.zeros(len(x), dtype=torch.long).index_add_(
            0, row_of, (logits.argmax(-1) != target).long())
        right += (wrong == 0).tolist()
    model.train()
    return right


def asked_person(record):
    return record["question"].split()[-1].rstrip("?")


def statements(record):
    """The words of each statement of a qa1 story, at 0k or hidden in text: a sentence that names
    an actor, from the actor on (background text never names one, data/babilong/haystack.py's
    TASK_WORD_RE; the background sentence cut to meet the budget can run into a statement)."""
    found = []
    for words in (sentence.split() for sentence in record["input"].split(".")):
        actor = next((i for i, word in enumerate(words) if word in ACTORS["qa1"]), None)
        if actor is not None:
            found.append(words[actor:])
    return found


def statements_back(record):
    """How many statements after the asked person's last one (qa1 at 0k)."""
    facts, name = statements(record), asked_person(record)
    return len(facts) - 1 - max(i for i, f in enumerate(facts) if f[0] == name)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for key, value in OPTIONS.items():
        p.add_argument(f"--{key}", type=type(value), default=value)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    stages = []
    for stage in parse_curriculum(a.stages):
        if stage.target is not None:
            raise ValueError(f"--stages: {stage.name} has an accuracy gate; probes have none")
        batch = stage.batch_size or a.batch
        records = make_samples(a.task, stage.length, min(a.n, stage.max_iters * batch), "train", 0,
                               progress=False, more_questions=a.more, max_facts=stage.max_facts,
                               inline_questions=a.inline)
        stages.append((stage, [encode_sample(r, a.fmt) for r in records], batch))
        tokens = sum(len(ids) for ids, _ in stages[-1][1])
        print(f"stage {stage.name}: {len(records)} samples of {tokens / len(records):.0f} tokens "
              f"for {stage.max_iters} steps at batch {batch}", flush=True)
    extra = {length: [encode_sample(r, a.fmt) for r in make_samples(
                 a.task, length, a.neval // 2, "train", 1, progress=False)]
             for length in a.eval_lengths.split(",") if length}
    held_records = make_samples(a.task, a.length, a.neval, "train", 1, progress=False)
    held_out = [encode_sample(r, a.fmt) for r in held_records]
    short = [encode_sample(r, a.fmt) for r in make_samples(a.task, a.length, a.neval, "train", 1,
                                                           progress=False, max_facts=4)]
    model = LM(ModelConfig(n_layer=a.layers, n_head=a.heads, n_embd=a.d, segment_len=a.seg,
                           memory=a.memory, mem_slots=a.slots, mem_heads=a.mem_heads,
                           rope_theta=a.theta, init_std=a.init_std, conv_width=a.conv_width))
    for block in model.blocks:  # experiment: scale the LM2 read's value projection (0: silent)
        if block.memory is not None:
            with torch.no_grad():
                block.memory.read_kv.weight[a.d:] *= a.read_scale
    if a.load:  # continue from a --save'd model (fresh optimizer)
        model.load_state_dict(torch.load(a.load, weights_only=True)["model"])
    for block in model.blocks:  # experiment: the write's scores times k (its attention sharper)
        if block.memory is not None:
            with torch.no_grad():
                block.memory.write_q.weight *= a.write_scale
    groups = [dict(params=[], scale=1.0), dict(params=[], scale=a.mem_lr)]  # --mem_lr: the memory's
    for name, param in model.named_parameters():
        groups[".memory." in name]["params"].append(param)
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=a.lr, betas=(0.9, 0.95),
                                  weight_decay=a.wd)
    started, seen, step = time.time(), 0, 0

    def report(training):
        whole, small = np.mean(correct(model, held_out)), np.mean(correct(model, short))
        print(f"step {step} | {time.time() - started:.0f} s | {training} | held-out {whole:.0%} "
              f"(<=4 statements {small:.0%})" + "".join(
                  f" | {k} {np.mean(correct(model, v)):.0%}" for k, v in extra.items()), flush=True)

    if a.load:  # where the loaded model starts
        report("loaded")
    for i, (stage, train, batch) in enumerate(stages):
        steps = stage.max_iters
        print(f"step {step + 1}: stage {stage.name}", flush=True)
        sampler = EpochSampler(len(train), a.seed, [len(ids) for ids, _ in train], batch)
        for k in range(1, steps + 1):
            step += 1
            lr = (stage.lr or a.lr) * min(1.0, step / a.warmup)  # a stage's ~rate, else --lr
            if a.decay and i == len(stages) - 1:  # a cosine to lr / 10 over the last stage
                lr *= 0.1 + 0.45 * (1 + math.cos(math.pi * k / steps))
            for group in optimizer.param_groups:
                group["lr"] = lr * group["scale"]
            x, y, mask = pad_batch([train[j] for j in sampler.take(batch)])
            seen += int((y[mask] == 50256).sum())  # answers: one end-of-text each
            if a.lm_loss:  # the loss on every token, the haystack's too (train.py's lm_loss)
                mask = y != -1
            loss = model.forward_long(x, targets=y, loss_mask=mask,
                                      segment_len=stage.segment_len_for(a.memory))[1]
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if step % a.every == 0:
                report(f"loss {loss.item():.3f} | {seen / 1000:.0f}k answers")
            if time.time() - started > a.time_limit:
                break
        if a.save:  # every stage's model, for probes that continue from it (--load)
            torch.save({"model": model.state_dict(), "args": vars(a)}, f"{a.save}.stage{i}")
        if time.time() - started > a.time_limit:
            break
    if a.task == "qa1" and a.length == "0k":
        by_distance = defaultdict(list)
        for record, right in zip(held_records, correct(model, held_out)):
            by_distance[statements_back(record)].append(right)
        print("held-out accuracy by statements back: " + ", ".join(
            f"{k}: {np.mean(v):.0%} of {len(v)}" for k, v in sorted(by_distance.items())))
    if a.save:
        torch.save({"model": model.state_dict(), "args": vars(a)}, a.save)


if __name__ == "__main__":
    main()
