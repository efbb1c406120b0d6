"""BABILong accuracy of one or more checkpoints: tables, results.json and a heatmap per model.

    python eval_babilong.py --ckpt out/babilong_lm2 --ckpt out/babilong_rmt --tasks qa1,qa2 --lengths 0k,1k,4k
    python eval_babilong.py --ckpt out/babilong_lm2/ckpt.pt --data_dir babilong_official --max_samples 100

With --data_dir the official files are read (DIR/qaN/{len}.json, or the babilong-1k-samples
parquet layout DIR/{len}/qaN-*.parquet); without it, test samples are generated (bAbI test
stories, test haystack, --max_samples per task and length, default 100, --seed).

Each sample is answered greedily, at most 20 new tokens after format_prompt(input, question) in
the prompt format the checkpoint was trained with (qlast or qboth), stopping at <|endoftext|>,
and scored with the official BABILong metric and the fixed one.
LM2 and RMT read the whole prompt from its first token, segment by segment (as in training),
holding only the memory and one segment's activations, so memory does not grow with the length.
The vanilla model keeps the most recent window: its prompt is cut to the last
segment_len - max_new_tokens tokens, so the question and the answer share one window.
"""
import argparse
import contextlib
import json
import re
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from checkpoint import checkpoint_path, load_model
from configurator import ConfigError, run_cli
from data.babilong.babi import TASKS, check_task
from data.babilong.build import make_samples, parse_length
from data.babilong.metric import MODES, compare_answers
from data.babilong.official import load_official
from data.babilong.tokenized import format_prompt, trained_prompt_format
from plots import heatmap_svg
from sample import autocast_for, pick_device
from tokenizer import EOT, decode, encode

MAX_NEW_TOKENS = 20  # BABILong's rule
LEADERBOARD_AVERAGES = {"avg qa1-qa5": TASKS[:5], "avg qa1-qa10": TASKS[:10]}
RESERVED_KEYS = ("_fixed", "_meta")  # results.json keys beside the model names


def encode_prompt(record, model, max_new_tokens=MAX_NEW_TOKENS, prompt_format="qlast"):
    """Prompt token ids (int32 array) of a record as `model` reads them: the whole prompt for
    LM2 and RMT; for the vanilla model only its last segment_len - max_new_tokens tokens (which
    keep the trailing question and "Answer:")."""
    ids = encode(format_prompt(record["input"], record["question"], prompt_format))
    if model.config.memory == "none":
        ids = ids[-max(model.config.segment_len - max_new_tokens, 1):]
    return np.array(ids, dtype=np.int32)


def as_context(autocast):
    """None -> no-op; a context manager -> itself; a factory -> what it returns."""
    if autocast is None:
        return contextlib.nullcontext()
    return autocast if hasattr(autocast, "__enter__") else autocast()


def answer_accuracy(model, records, task, device, max_new_tokens=MAX_NEW_TOKENS, batch_size=1,
                    autocast=None, progress=False, prompt_format="qlast"):
    """Greedy answers to BABILong records of one task -> {"official": accuracy, "fixed": accuracy,
    "outputs": [answer text per record]}. Prompts of any lengths share a batch
    (model.generate_greedy keeps every row's segment alignment), the answers identical to
    batch size 1. autocast: None, a context manager such as
    torch.autocast("cuda", dtype=torch.bfloat16), or a function returning one. progress: show a
    tqdm bar (a string labels it). prompt_format: the one the model was trained with."""
    check_task(task)
    if not records:
        raise ValueError(f"no {task} records to evaluate")
    prompts = [encode_prompt(r, model, max_new_tokens, prompt_format) for r in records]
    # similar lengths together: rows that share their whole segments can share a batch
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    batches = [order[k:k + batch_size] for k in range(0, len(order), batch_size)]
    outputs = [None] * len(records)
    was_training = model.training
    model.eval()
    bar = tqdm(total=len(records), desc=progress if isinstance(progress, str) else task,
               disable=not progress, leave=False)
    try:
        for batch in batches:
            rows = [torch.from_numpy(prompts[i]).long().to(device) for i in batch]
            with as_context(autocast):
                answers = model.generate_greedy(rows, max_new_tokens, stop_token=EOT)
            for i, new in zip(batch, answers):
                outputs[i] = decode(new[:new.index(EOT)] if EOT in new else new)
            bar.update(len(batch))
    finally:
        bar.close()
        model.train(was_training)
    scores = {mode: sum(compare_answers(r["target"], out, r["question"], task, mode)
                        for r, out in zip(records, outputs)) / len(records) for mode in MODES}
    return {**scores, "outputs": outputs}


def load_records(task, length, data_dir=None, max_samples=None, seed=0):
    """Official records from data_dir (the first max_samples), or max_samples generated test
    samples (default 100)."""
    if data_dir is not None:
        records = load_official(data_dir, task, length)
        return records[:max_samples] if max_samples else records
    return make_samples(task, length, max_samples or 100, split="test", seed=seed, progress=False)


def model_name(ckpt, checkpoint, taken):
    """The training run's out_dir name (else the checkpoint's folder or file name), made unique."""
    out_dir = (checkpoint.get("config") or {}).get("out_dir")
    path = checkpoint_path(ckpt)
    if out_dir:
        base = Path(out_dir).name
    else:
        base = path.parent.name if path.name == "ckpt.pt" else path.stem
    base = base.lstrip("_") or "model"  # a leading "_" is kept for RESERVED_KEYS
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}-{k}"
    return name


def average_rows(tasks):
    """{row label: tasks averaged}: the leaderboard's qa1-qa5 and qa1-qa10 averages when all
    their tasks were evaluated, otherwise the mean of the evaluated tasks, named by them."""
    rows = {label: group for label, group in LEADERBOARD_AVERAGES.items()
            if set(group) <= set(tasks)}
    if not rows and len(tasks) > 1:
        rows = {f"avg {','.join(tasks)}": list(tasks)}
    return rows


def with_averages(scores, tasks, lengths):
    """{task: {length: acc}} -> [(row label, [acc per length])], task rows then averages."""
    rows = [(task, [scores[task][length] for length in lengths]) for task in tasks]
    for label, group in average_rows(tasks).items():
        rows.append((label, [float(np.mean([scores[t][length] for t in group]))
                             for length in lengths]))
    return rows


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


def pct(official, fixed):
    return f"{100 * official:.1f} / {100 * fixed:.1f}"


def model_table(official, fixed, tasks, lengths):
    rows = [[label] + [pct(o, f) for o, f in zip(off, fix)] for (label, off), (_, fix)
            in zip(with_averages(official, tasks, lengths), with_averages(fixed, tasks, lengths))]
    return markdown_table(["task"] + lengths, rows)


def comparison_table(results, fixed, tasks, lengths):
    """Models side by side: one row per task (and average) and length."""
    official = {m: with_averages(results[m], tasks, lengths) for m in results}
    fixed = {m: with_averages(fixed[m], tasks, lengths) for m in results}
    labels = [label for label, _ in next(iter(official.values()))]
    rows = [[f"{label} {length}"] + [pct(official[m][r][1][j], fixed[m][r][1][j]) for m in results]
            for r, label in enumerate(labels) for j, length in enumerate(lengths)]
    return markdown_table(["task length"] + list(results), rows)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ckpt", action="append", required=True,
                   help="a train.py out_dir or checkpoint file; repeat to compare models")
    p.add_argument("--tasks", default="qa1,qa2,qa3,qa4,qa5")
    p.add_argument("--lengths", default="0k,1k,2k,4k")
    p.add_argument("--data_dir", default=None, help="official-format BABILong files")
    p.add_argument("--max_samples", type=int, default=None,
                   help="samples per task and length (generated data: default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated test samples")
    p.add_argument("--batch_size", type=int, default=None,
                   help="prompts per batch (default 32 on CUDA, 8 on the CPU)")
    p.add_argument("--max_new_tokens", type=int, default=MAX_NEW_TOKENS)
    p.add_argument("--device", default="auto", help="auto = cuda if available, else cpu")
    p.add_argument("--out", default="results.json", help="results file; heatmaps go beside it")
    p.add_argument("--report_memory", action="store_true", help="print the peak memory at the end")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    tasks = [check_task(t.strip()) for t in args.tasks.split(",")]
    lengths = [length.strip() for length in args.lengths.split(",")]
    for length in lengths:
        parse_length(length)  # an unknown label stops here, before any work
    for key in ("batch_size", "max_new_tokens", "max_samples"):
        value = getattr(args, key)
        if value is not None and value < 1:
            raise ConfigError(f"--{key}={value}: must be at least 1")
    for ckpt in args.ckpt:
        if not checkpoint_path(ckpt).is_file():
            raise FileNotFoundError(f"--ckpt {ckpt}: no checkpoint at {checkpoint_path(ckpt)}")
    device = pick_device(args.device, "--device")
    if args.batch_size is None:
        args.batch_size = 32 if device.startswith("cuda") else 8
    started = time.time()
    data = {(t, n): load_records(t, n, args.data_dir, args.max_samples, args.seed)
            for t in tasks for n in lengths}
    results, fixed = {}, {}
    command = ["python", "eval_babilong.py"] + (sys.argv[1:] if argv is None else argv)
    meta = {"command": " ".join(command),
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "device": device,
            "data": args.data_dir or f"generated test samples, seed {args.seed}",
            "max_new_tokens": args.max_new_tokens, "metric": "official (top level), fixed (_fixed)",
            "vanilla_window": "memory 'none' reads the last segment_len - max_new_tokens tokens",
            "n_samples": {t: {n: len(data[t, n]) for n in lengths} for t in tasks}, "models": {}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for ckpt in args.ckpt:
        model, checkpoint = load_model(ckpt, device)
        name = model_name(ckpt, checkpoint, set(results) | set(RESERVED_KEYS))
        prompt_format = trained_prompt_format(checkpoint)
        t0 = time.time()
        results[name], fixed[name] = defaultdict(dict), defaultdict(dict)
        for task in tasks:
            for length in lengths:
                scores = answer_accuracy(model, data[task, length], task, device,
                                         args.max_new_tokens, args.batch_size,
                                         autocast_for(device), progress=f"{name} {task} {length}",
                                         prompt_format=prompt_format)
                results[name][task][length] = scores["official"]
                fixed[name][task][length] = scores["fixed"]
        meta["models"][name] = {"ckpt": str(checkpoint_path(ckpt)), "memory": model.config.memory,
                                "prompt_format": prompt_format,
                                "iter_num": checkpoint.get("iter_num"),
                                "params": model.num_params(), "seconds": round(time.time() - t0, 1)}
        print(f"\n## {name} ({model.config.memory}, prompt {prompt_format}), "
              f"accuracy % official / fixed\n")
        print(model_table(results[name], fixed[name], tasks, lengths))
        svg = out.with_name(f"{out.stem}_{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.svg")
        rows = with_averages(results[name], tasks, lengths)
        heatmap_svg(svg, f"BABILong accuracy: {name}", [r[0] for r in rows], lengths,
                    [r[1] for r in rows], fmt="{:.0%}")
        print(f"\nheatmap: {svg}")
        del model
    if len(results) > 1:
        print("\n## comparison, accuracy % official / fixed\n")
        print(comparison_table(results, fixed, tasks, lengths))
    meta["seconds"] = round(time.time() - started, 1)
    out.write_text(json.dumps({**results, "_fixed": fixed, "_meta": meta}, indent=2) + "\n")
    print(f"\nresults: {out}")
    if args.report_memory:
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
        print(f"peak RSS: {peak_mib:.0f} MiB")
        if device.startswith("cuda"):
            print(f"peak CUDA memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    return results, fixed, meta


if __name__ == "__main__":
    run_cli("eval_babilong.py", main, (ConfigError, FileNotFoundError, ValueError, ImportError))
