"""Train LM2, RMT or the vanilla decoder, segment by segment with the memory carried along.

    python train.py                                    # the main job: LM2 on BABILong qa1-qa5
    python train.py config/babilong_rmt.py --batch_size=16
    python train.py config/babilong_cpu_lm2.py         # a laptop-sized run
    torchrun --standalone --nproc_per_node=4 train.py config/babilong_lm2.py

Datasets: "babilong" (generated on first use; loss on the answer and end-of-text only, with a
length curriculum) and "text" (train.bin / val.bin from data/text/prepare.py). The run writes
out_dir/ckpt.pt (atomically), out_dir/log.jsonl and out_dir/loss.svg; --init_from=resume
continues exactly where the checkpoint left off.
"""
import json
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from checkpoint import load_checkpoint, read_log, save_checkpoint, trim_log
from configurator import configure, run_cli
from curriculum import Stage, lr_at, parse_curriculum
from data.babilong.build import make_samples
from data.babilong.tokenized import build_training_data, training_data_prefix
from data.batches import BabilongBatches, TextBatches
from eval_babilong import answer_accuracy
from model import LM, ModelConfig, peak_flops
from plots import line_svg
from sample import autocast_for
from train_settings import check_config, resumed_config

# -----------------------------------------------------------------------------
# Defaults: the main job, sized for one GPU. Override with config files and --key=value.
out_dir = "out/babilong_lm2"
init_from = "scratch"          # "scratch" or "resume" (from out_dir/ckpt.pt)
log_interval = 10              # iterations between log.jsonl lines
eval_interval = 500            # iterations between answer-accuracy (or val-loss) evaluations
checkpoint_interval = 500      # iterations between checkpoints (one is also written at the end)
eval_samples = 100             # held-out samples per task and length
# data
dataset = "babilong"           # "babilong" or "text"
tasks = "qa1,qa2,qa3,qa4,qa5"
# length[/facts]:iterations[@accuracy][*batch][~rate][%segment][?questions], trained in this
# order: a stage ends at its iteration cap, or earlier at the first evaluation whose mean held-out
# accuracy on it reaches the threshold; /facts keeps only stories of at most that many statements
# (a story-size curriculum); *batch is the stage's batch size (else batch_size), ~rate its learning
# rate (else learning_rate), %segment the memory models' segment length, ?questions the questions
# asked inside each training story (curriculum.py)
curriculum = "0k:3000@0.95,1k:1500@0.9,2k:1500"
prompt_format = "qboth"        # "qboth": question before and after the input; "qlast": BABILong's
more_questions = 0             # further questions (and answers) about each story: dense supervision
bucket = True                  # babilong: batch samples of similar length together
train_samples = 20000          # at most, per task and stage (no more than the stage can draw)
data_dir = "data/babilong/cache"
babi_dir = ""                  # real bAbI files (qaN_*_train.txt) instead of the generator
haystack = ""                  # comma-separated text files instead of the built-in text
data_seed = 0                  # training samples use it, held-out samples data_seed + 1
lm_loss = False                # babilong: the loss on every token, not just the answer
text_dir = "data/text"         # dataset="text": train.bin and val.bin
text_segments = 4              # dataset="text": segments per training window
max_iters = 5000               # dataset="text" (babilong takes its length from the curriculum)
# model
memory = "lm2"
vocab_size = 50304
n_layer = 6
n_head = 6
n_embd = 384
segment_len = 512
mem_slots = 16
mem_heads = 4
mem_layers = -1
mem_forget_bias = 1.0
mem_chrono = 0                 # > 0: chrono-initialised memory gates, time scales up to this many segments
conv_width = 0                 # a causal convolution of this width in every block (0: off)
dropout = 0.0
rope_theta = 10000.0
init_std = 0.02                # std of the linear layers' initial weights (GPT-2's 0.02)
bptt = -1                      # segments that gradients reach back through (-1: all)
# optimizer
batch_size = 128               # stories per process and micro-step (each with its questions)
grad_accum = 1
learning_rate = 1e-3
min_lr = 1e-4
warmup_iters = 200
weight_decay = 0.1
beta1 = 0.9
beta2 = 0.95
grad_clip = 1.0
# system
device = "auto"                # "auto", "cpu", "cuda", "cuda:1", ...
compile = True                 # torch.compile each block (CUDA only)
time_limit = 0.0               # seconds: checkpoint and stop after this much training (0: none);
                               # --init_from=resume continues exactly where it stopped
seed = 1337
# -----------------------------------------------------------------------------
defaults = {k: v for k, v in globals().items() if not k.startswith("_")
            and isinstance(v, (int, float, bool, str))}


class LongInput(torch.nn.Module):
    """Makes forward_long the module's forward, so that DDP (which hooks forward) sees it."""

    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def forward(self, *args, **kwargs):
        return self.lm.forward_long(*args, **kwargs)


class Run:
    """The data side of a run: the curriculum's stages, their batches, and held-out evaluation."""

    def __init__(self, cfg, master, world_size=1):
        self.cfg = cfg
        if cfg["dataset"] == "text":
            window = cfg["text_segments"] * cfg["segment_len"]
            self.stages = [Stage("text", cfg["max_iters"])]
            self.make_batches = lambda stage: TextBatches(Path(cfg["text_dir"]) / "train.bin",
                                                          window, cfg["seed"])
            self.val = TextBatches(Path(cfg["text_dir"]) / "val.bin", window, cfg["seed"])
        elif cfg["dataset"] == "babilong":
            self.stages = parse_curriculum(cfg["curriculum"])
            self.tasks = cfg["tasks"].split(",")
            # one data set per stage's data, no larger than its stages can draw
            draws = {}
            for i, s in enumerate(self.stages):
                draws[s.data] = draws.get(s.data, 0) + s.max_iters * self.batch_size(i)
            source = dict(babi_dir=cfg["babi_dir"] or None,
                          haystack=cfg["haystack"].split(",") if cfg["haystack"] else None)
            spec = dict(source, split="train", seed=cfg["data_seed"],
                        prompt_format=cfg["prompt_format"], more_questions=cfg["more_questions"])
            files = {(task, s.data): dict(task=task, length=s.length, max_facts=s.max_facts,
                                          inline_questions=s.questions,
                                          n=min(cfg["train_samples"], draws[s.data]))
                     for s in self.stages for task in self.tasks}
            prefixes = {key: training_data_prefix(cfg["data_dir"], **f, **spec)
                        for key, f in files.items()}
            missing = [dict(out_dir=cfg["data_dir"], tasks=[f["task"]], lengths=[f["length"]],
                            n=f["n"], max_facts=f["max_facts"],
                            inline_questions=f["inline_questions"], **spec)
                       for key, f in files.items()
                       if not Path(f"{prefixes[key]}.index.npy").is_file()]
            if master:  # the other ranks wait at the barrier below, then find the files
                build_training_data(missing, progress=sys.stderr.isatty())  # no bars in log files
            if dist.is_initialized():
                dist.barrier()
            self.make_batches = lambda stage: BabilongBatches(
                [prefixes[(t, self.stages[stage].data)] for t in self.tasks], cfg["seed"] + stage,
                cfg["lm_loss"], self.batch_size(stage) * world_size if cfg["bucket"] else None)
            evaluating = master and cfg["eval_samples"] > 0
            held_out = {s.name: s for s in self.stages}  # one question per sample, at the end
            self.held_out = {(t, name): make_samples(t, s.length, cfg["eval_samples"], "train",
                                                     cfg["data_seed"] + 1, progress=False,
                                                     max_facts=s.max_facts, **source)
                             for t in self.tasks
                             for name, s in held_out.items()} if evaluating else {}
        else:
            raise ValueError(f"dataset={cfg['dataset']!r}: expected 'babilong' or 'text'")

    def batch_size(self, stage):
        """Samples per step and process in this stage."""
        return self.stages[stage].batch_size or self.cfg["batch_size"]

    @torch.no_grad()
    def evaluate(self, model, device, autocast, stage):
        """babilong: answer accuracy (official and fixed) per task at the lengths trained so far;
        text: val loss."""
        model.eval()
        with torch.compiler.set_stance("force_eager"):  # generation shapes vary: no recompiles
            result = self._evaluate(model, device, autocast, stage)
        model.train()
        return result

    def _evaluate(self, model, device, autocast, stage):
        if self.cfg["dataset"] == "text":
            windows = range(min(self.val.n_windows, 8 * self.cfg["batch_size"]))
            losses = []
            for start in range(0, len(windows), self.cfg["batch_size"]):
                x, y, _ = self.val.windows(windows[start:start + self.cfg["batch_size"]])
                with autocast:
                    losses.append(model.forward_long(x.to(device), targets=y.to(device))[1].item())
            return {"val_loss": sum(losses) / len(losses)}
        names = {s.name for s in self.stages[:stage + 1]}
        result = {}
        for (task, name), records in self.held_out.items():
            if name in names:
                acc = answer_accuracy(model, records, task, device, batch_size=self.cfg["batch_size"],
                                      autocast=autocast, prompt_format=self.cfg["prompt_format"])
                result.setdefault(task, {})[name] = {k: acc[k] for k in ("official", "fixed")}
        return result

    def stage_accuracy(self, result, stage):
        """Mean official accuracy over the tasks on the stage's data (None for text)."""
        name = self.stages[stage].name
        if "val_loss" in result:
            return None
        return sum(result[task][name]["official"] for task in self.tasks) / len(self.tasks)


def main(cfg, given=None):
    """Train with the settings cfg. given: the keys set by config files or the command line,
    which override a resumed run's stored settings (default: those that differ from defaults)."""
    checkpoint = None
    if cfg["init_from"] == "resume":  # the stored settings first, then the checks
        checkpoint = load_checkpoint(cfg["out_dir"], "cpu")
        if given is None:
            given = {k for k in cfg if cfg[k] != defaults.get(k)}
        cfg = resumed_config(cfg, checkpoint.get("config") or {}, given | {"init_from", "out_dir"})
        cfg.update(checkpoint["model_config"])  # the model it holds
    check_config(cfg)
    ddp = int(os.environ.get("RANK", -1)) != -1
    if ddp:  # torchrun: one process per device
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
        rank, world_size = dist.get_rank(), dist.get_world_size()
        local_rank = int(os.environ["LOCAL_RANK"])
    else:
        rank, world_size, local_rank = 0, 1, 0
    master = rank == 0
    if cfg["device"] == "auto":
        cfg["device"] = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    device = torch.device(cfg["device"])
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    elif master:
        print("no CUDA device: training on the CPU in float32 without torch.compile")
        if cfg["batch_size"] == defaults["batch_size"]:
            cfg["batch_size"] = 4
            print(f"batch_size {defaults['batch_size']} is sized for a GPU: using 4 (set "
                  f"--batch_size to choose)")
    autocast = autocast_for(device)
    out_dir = Path(cfg["out_dir"])

    torch.manual_seed(cfg["seed"] + rank)
    model = LM(ModelConfig.from_dict(cfg)).to(device)
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in model.parameters() if p.dim() >= 2], "weight_decay": cfg["weight_decay"]},
         {"params": [p for p in model.parameters() if p.dim() < 2], "weight_decay": 0.0}],
        lr=cfg["learning_rate"], betas=(cfg["beta1"], cfg["beta2"]), fused=cuda)
    run = Run(cfg, master, world_size)
    it = 0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        it = checkpoint["iter_num"]
        torch.set_rng_state(checkpoint["rng"]["cpu"].cpu())
        if cuda and "cuda" in checkpoint["rng"]:
            torch.cuda.set_rng_state(checkpoint["rng"]["cuda"].cpu())
    if master:
        out_dir.mkdir(parents=True, exist_ok=True)
        if checkpoint is None:  # a fresh run starts a fresh log; a resumed one appends
            (out_dir / "log.jsonl").unlink(missing_ok=True)
        else:
            trim_log(out_dir / "log.jsonl", it, checkpoint["data_state"].get("eval_pending", False))
        print(json.dumps(cfg, indent=1))
        print(f"{model.num_params() / 1e6:.2f}M parameters, "
              f"{model.num_params(include_memory=False) / 1e6:.2f}M without memory")
    raw_model = model
    if cuda and cfg["compile"]:
        raw_model.compile_blocks()
    model = LongInput(raw_model)
    if ddp:
        # A batch that fits in one segment never uses the memory write (nothing reads it later).
        model = DDP(model, device_ids=[local_rank] if cuda else None,
                    find_unused_parameters=raw_model.config.memory != "none")
    peak = peak_flops(torch.cuda.get_device_name(device)) if cuda else None
    flops_per_token = raw_model.flops_per_token()

    stage, stage_start, eval_pending = 0, 0, False
    if checkpoint is not None:
        stage, stage_start = checkpoint["data_state"]["stage"], checkpoint["data_state"]["stage_start"]
        eval_pending = checkpoint["data_state"].get("eval_pending", False)
    batches = run.make_batches(min(stage, len(run.stages) - 1))
    if checkpoint is not None:
        batches.sampler.load_state_dict(checkpoint["data_state"]["sampler"])

    def save(eval_pending=False):
        """eval_pending: saved before this iteration's evaluation, which a resumed run redoes."""
        save_checkpoint({
            "model": raw_model.state_dict(), "model_config": asdict(raw_model.config),
            "config": cfg, "optimizer": optimizer.state_dict(), "iter_num": it,
            "data_state": {"stage": stage, "stage_start": stage_start, "eval_pending": eval_pending,
                           "sampler": batches.sampler.state_dict()},
            "rng": {"cpu": torch.get_rng_state(),
                    **({"cuda": torch.cuda.get_rng_state()} if cuda else {})},
        }, out_dir / "ckpt.pt")

    def log(entry):
        with open(out_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")

    started = time.time()
    interactive = sys.stderr.isatty()  # else one plain line per log_interval, no progress bar
    bar = tqdm(total=sum(st.max_iters for st in run.stages), initial=it,
               disable=not master or not interactive, desc=cfg["memory"])
    while stage < len(run.stages):
        current, last = run.stages[stage], stage == len(run.stages) - 1
        segment_len = current.segment_len_for(raw_model.config.memory)  # "%segment" stages
        ended = None
        if not eval_pending:  # (a resumed run whose evaluation was cut short redoes just that)
            lr = lr_at(it, stage_start, current, last, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            t0 = time.perf_counter()
            loss_sum, tokens, real = 0.0, 0, 0
            for micro in range(cfg["grad_accum"]):
                x, y, mask = (t if t is None else t.to(device)
                              for t in batches.next(run.batch_size(stage), rank, world_size))
                sync = not ddp or micro == cfg["grad_accum"] - 1  # all-reduce on the last micro-step
                with (nullcontext() if sync else model.no_sync()), autocast:
                    _, loss, _ = model(x, targets=y, loss_mask=mask, bptt=cfg["bptt"],
                                       return_logits=False, segment_len=segment_len)
                (loss / cfg["grad_accum"]).backward()
                loss_sum += loss.item() / cfg["grad_accum"]
                tokens += x.numel() * world_size
                real += int((y != -1).sum()) * world_size
            if ddp:  # log the mean over all ranks, not rank 0's share
                mean = torch.tensor(loss_sum, device=device)
                dist.all_reduce(mean)
                loss_sum = mean.item() / world_size
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(),
                                                       cfg["grad_clip"] or float("inf"))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            it += 1
            tokens_per_s = tokens / (time.perf_counter() - t0)
            mfu = flops_per_token * tokens_per_s / world_size / peak if peak else None
            at_cap = it - stage_start >= current.max_iters
            if master:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum:.4f}", tok_s=f"{tokens_per_s:,.0f}",
                                **({"mfu": f"{mfu:.1%}"} if mfu else {}))
                if it % cfg["log_interval"] == 0 or at_cap:
                    log({"iter": it, "stage": current.name, "loss": loss_sum, "lr": lr,
                         "grad_norm": float(grad_norm), "tokens_per_s": tokens_per_s, "mfu": mfu,
                         "padding": 1 - real / tokens})
                    if not interactive:
                        print(f"iter {it} | stage {current.name} | loss {loss_sum:.4f} | "
                              f"lr {lr:.2e} | {tokens_per_s:,.0f} tok/s", flush=True)
        if it - stage_start >= current.max_iters:
            ended = f"reached its cap of {current.max_iters} iterations"
        evaluate = cfg["eval_samples"] > 0 and (
            eval_pending or it % cfg["eval_interval"] == 0 or ended)
        resumed_evaluation, eval_pending = eval_pending, False
        if evaluate:
            if master and not resumed_evaluation:
                save(eval_pending=True)  # whatever happens in evaluation, training is kept
            verdict = [ended]
            if master:
                result = run.evaluate(raw_model, device, autocast, stage)
                log({"iter": it, "eval": result})
                bar.write(f"iter {it}: {summarize(result)}")
                write_loss_plot(out_dir)
                accuracy = run.stage_accuracy(result, stage)
                if not ended and current.target is not None and accuracy >= current.target:
                    verdict = [f"held-out accuracy {accuracy:.1%} reached {current.target:.0%}"]
            if ddp:  # every rank follows rank 0's decision
                dist.broadcast_object_list(verdict, src=0)
            ended = verdict[0]
        if ended:
            if master:
                log({"iter": it, "stage_end": current.name, "reason": ended})
                bar.write(f"iter {it}: stage {current.name} ended: {ended}")
                bar.total -= stage_start + current.max_iters - it  # iterations it did not need
                bar.refresh()
            stage, stage_start = stage + 1, it
            if stage < len(run.stages):
                batches = run.make_batches(stage)
        out_of_time = out_of_time_everywhere(started, cfg["time_limit"], device, ddp)
        if master and (it % cfg["checkpoint_interval"] == 0 or evaluate or out_of_time
                       or stage == len(run.stages)):
            save()
        if out_of_time and stage < len(run.stages):
            if master:
                log({"iter": it, "stopped": f"time_limit={cfg['time_limit']:g} s"})
                bar.write(f"iter {it}: stopped at time_limit={cfg['time_limit']:g} s; "
                          f"--init_from=resume continues")
            break
    bar.close()
    if ddp:
        dist.destroy_process_group()


def out_of_time_everywhere(started, time_limit, device, ddp):
    """True once time_limit seconds have passed on any rank (0: never), so all ranks stop at once."""
    if time_limit <= 0:
        return False
    late = torch.tensor(float(time.time() - started > time_limit), device=device)
    if ddp:
        dist.all_reduce(late, op=dist.ReduceOp.MAX)
    return bool(late.item())


def summarize(result):
    if "val_loss" in result:
        return f"val loss {result['val_loss']:.4f}"
    return ", ".join(f"{task} {length} {acc['official']:.0%}" for task, by_length in result.items()
                     for length, acc in by_length.items())


def write_loss_plot(out_dir):
    entries = read_log(out_dir / "log.jsonl")
    losses = {e["iter"]: e["loss"] for e in entries if "loss" in e}  # a resumed run's last word
    xs = sorted(losses)
    line_svg(out_dir / "loss.svg", f"training loss: {out_dir.name}",
             {"train loss": (xs, [losses[x] for x in xs])}, "iteration", "loss")


def cli():
    given = set()
    main(configure(defaults, given=given), given)


if __name__ == "__main__":
    run_cli("train.py", cli)
