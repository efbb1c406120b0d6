"""The headline comparison in one command: train LM2, RMT and the vanilla decoder, then evaluate
the three on BABILong and write the side-by-side table, results.json and heatmaps.

    python headline.py                      # one GPU: the three trainings side by side, then
                                            # qa1-qa5 at 0k-16k, 100 samples each
    python headline.py --cpu                # the CPU twin: qa1 at 0k-4k, trainings one by one
    python headline.py --cpu --train_args="--prompt_format=qlast" --out=out/headline_qlast

Training uses config/babilong_{lm2,rmt,vanilla}.py (config/babilong_cpu_*.py with --cpu); a run
whose out_dir already holds a finished checkpoint is not trained again (--retrain forces it), and
one stopped early (train.py's time_limit, or a kill) is resumed. For a fixed budget:

    python headline.py --train_args="--time_limit=240"   # at most 4 minutes of training each

--eval_only evaluates the runs in --out as they stand, finished or stopped early, and trains
nothing: for runs trained one by one with train.py, or a re-evaluation with other samples.

Everything lands in --out: one folder per model, train logs, results.json, one heatmap per
model and headline.md (the table, the command, the device and the wall times).
"""
import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

import eval_babilong
from checkpoint import checkpoint_path, load_checkpoint
from curriculum import parse_curriculum

MODELS = ("lm2", "rmt", "vanilla")
SETTINGS = {  # config prefix, tasks, lengths, evaluation batch
    "gpu": ("config/babilong_", "qa1,qa2,qa3,qa4,qa5", "0k,1k,2k,4k,8k,16k", 32),
    "cpu": ("config/babilong_cpu_", "qa1", "0k,1k,2k,4k", 8),
}


def progress(out_dir):
    """(iterations, stages done, the curriculum's stages) of the run in out_dir."""
    checkpoint = load_checkpoint(out_dir)
    stages = parse_curriculum(checkpoint["config"]["curriculum"])
    return checkpoint["iter_num"], checkpoint["data_state"]["stage"], stages


def finished(out_dir):
    """True when out_dir holds the checkpoint of a run that went through its whole curriculum."""
    if not checkpoint_path(out_dir).is_file():
        return False
    _, done, stages = progress(out_dir)
    return done >= len(stages)


def train_commands(args, prefix):
    """train.py per model; a run with an unfinished checkpoint continues (unless --retrain)."""
    root = Path(args.out)
    return {name: [sys.executable, "train.py", f"{prefix}{name}.py", f"--out_dir={root / name}",
                   *shlex.split(args.train_args),
                   *(["--init_from=resume"] if not args.retrain
                     and checkpoint_path(root / name).is_file() else [])] for name in MODELS}


def training_state(out_dir):
    """"1250 iterations, all 3 stages" or "800 iterations, stopped in stage 2 of 3 (0k)"."""
    its, done, stages = progress(out_dir)
    if done >= len(stages):
        return f"{its} iterations, all {len(stages)} stages"
    return f"{its} iterations, stopped in stage {done + 1} of {len(stages)} ({stages[done].name})"


def train_all(args, prefix):
    """Runs the three trainings (side by side with --parallel), logs in OUT/name.train.log.
    Returns {name: seconds}."""
    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    todo = {name: cmd for name, cmd in train_commands(args, prefix).items()
            if args.retrain or not finished(root / name)}
    seconds, running = {}, {}
    for name, cmd in todo.items():
        print("$", " ".join(cmd), flush=True)
        log = open(root / f"{name}.train.log", "w")
        running[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log,
                         time.time())
        if not args.parallel:
            wait_for(running, seconds, name)
    for name in list(running):
        wait_for(running, seconds, name)
    return seconds


def wait_for(running, seconds, name):
    proc, log, started = running.pop(name)
    code = proc.wait()
    log.close()
    seconds[name] = round(time.time() - started)
    if code != 0:
        sys.exit(f"headline.py: training {name} failed (exit {code}); see {log.name}")
    print(f"{name}: trained in {seconds[name]} s", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cpu", action="store_true", help="the CPU twin (qa1, config/babilong_cpu_*)")
    p.add_argument("--out", default=None, help="output folder (default out/headline[_cpu])")
    p.add_argument("--train_args", default="", help="extra --key=value for all three trainings")
    p.add_argument("--parallel", default=None, choices=("yes", "no"),
                   help="train side by side (default: yes on a GPU, no on the CPU)")
    p.add_argument("--retrain", action="store_true", help="train even if a finished run exists")
    p.add_argument("--eval_only", action="store_true",
                   help="evaluate the runs in --out as they stand; train nothing")
    p.add_argument("--max_samples", type=int, default=100, help="test samples per task and length")
    p.add_argument("--tasks", default=None)
    p.add_argument("--lengths", default=None)
    args = p.parse_args(argv)
    kind = "cpu" if args.cpu else "gpu"
    if kind == "gpu" and not torch.cuda.is_available():
        sys.exit("headline.py: no CUDA device; use --cpu for the CPU twin")
    prefix, tasks, lengths, eval_batch = SETTINGS[kind]
    args.out = args.out or f"out/headline{'_cpu' if args.cpu else ''}"
    args.parallel = (args.parallel or ("no" if args.cpu else "yes")) == "yes"
    if args.eval_only:
        missing = [m for m in MODELS if not checkpoint_path(Path(args.out) / m).is_file()]
        if missing:
            sys.exit(f"headline.py --eval_only: no checkpoint in {args.out}/ for {', '.join(missing)}")
    started = time.time()
    train_seconds = None if args.eval_only else train_all(args, prefix)
    trained = time.time()
    out = Path(args.out) / "results.json"
    eval_babilong.main(["--tasks", args.tasks or tasks, "--lengths", args.lengths or lengths,
                        "--max_samples", str(args.max_samples), "--batch_size", str(eval_batch),
                        "--out", str(out), *sum((["--ckpt", str(Path(args.out) / m)]
                                                 for m in MODELS), [])])
    results = json.loads(out.read_text())
    write_report(args, argv, results, train_seconds, trained - started, time.time() - trained)


def write_report(args, argv, results, train_seconds, train_wall, eval_wall):
    meta = results["_meta"]
    tasks, lengths = list(meta["n_samples"]), list(next(iter(meta["n_samples"].values())))
    fixed = results["_fixed"]
    models = [m for m in results if not m.startswith("_")]
    command = "python headline.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    # the last row of each model's table: the leaderboard average, or the task when only one
    means = {m: eval_babilong.with_averages(results[m], tasks, lengths)[-1] for m in models}
    label = means[models[0]][0]
    table = eval_babilong.markdown_table(
        ["model", "prompt"] + lengths,
        [[m, meta["models"][m]["prompt_format"]] + [f"{100 * acc:.0f}" for acc in means[m][1]]
         for m in models])
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    if train_seconds is None:
        training = "- training: not in this command (--eval_only: the runs in the folder as they stood)"
    else:
        per_model = ", ".join(f"{m} {s} s" for m, s in train_seconds.items()) or "reused finished runs"
        training = f"- training wall time: {train_wall:.0f} s ({per_model})"
    report = "\n".join([
        f"# BABILong headline ({label}, official metric, %)", "", table, "",
        "Per task, official / fixed metric:", "",
        eval_babilong.comparison_table({m: results[m] for m in models},
                                       {m: fixed[m] for m in models}, tasks, lengths), "",
        f"- command: `{command}`", f"- device: {device}", training,
        f"- evaluation wall time: {eval_wall:.0f} s",
        *(f"- {m}: {training_state(Path(args.out) / m)}" for m in MODELS), f"- data: {meta['data']}", ""])
    path = Path(args.out) / "headline.md"
    path.write_text(report)
    print(f"\n{report}\nreport: {path}")


if __name__ == "__main__":
    main()
