"""Time full segment-recurrent training steps: forward through every segment with the memory
carried (full back-propagation through time), backward, optimizer step. Prints tokens/s, peak
memory and, on CUDA, MFU against the card's bf16 peak (model.PEAK_BF16_FLOPS).

    python bench.py --memory=lm2          # or none, rmt; the defaults are the issue's LM2 shape
    python bench.py --memory=all          # none, lm2 and rmt in one run, with the ratios to none
    python bench.py --memory=none --n_embd=768 --n_layer=12 --n_head=12 --segment_len=1024 \
        --n_segments=1 --batch_size=16    # GPT-2-small shape, one window

With --what=eval it times BABILong evaluation instead: greedy answers to generated test samples
(--eval_tasks at --eval_lengths, --eval_samples each) one prompt at a time and --batch_size at a
time, checks that the answers are identical, and prints both wall times and their ratio:

    python bench.py --what=eval --memory=lm2 --n_layer=2 --n_head=2 --n_embd=128 --segment_len=256 --batch_size=8
"""
import resource
import time
from dataclasses import asdict

import torch

from configurator import configure, run_cli
from model import LM, ModelConfig, peak_flops

defaults = dict(
    asdict(ModelConfig()),  # every model field is a flag; its defaults are the LM2 shape
    n_segments=4, batch_size=32, bptt=-1,
    steps=20, warmup_steps=5, seed=0,
    device="cuda" if torch.cuda.is_available() else "cpu",
    bf16=True, compile=True, fused_adamw=True,  # each used only on CUDA
    return_logits=False,  # True: the whole float32 logits, as before the chunked head and loss
    what="train",  # "train": training steps; "eval": batched against one-by-one evaluation
    eval_tasks="qa1,qa2", eval_lengths="0k,1k", eval_samples=100,
)


def bench_eval(cfg):
    from data.babilong.build import make_samples
    from eval_babilong import answer_accuracy
    from sample import autocast_for
    device = cfg["device"]
    model = LM(ModelConfig.from_dict(cfg)).to(device).eval()
    data = {(t, n): make_samples(t, n, cfg["eval_samples"], split="test", progress=False)
            for t in cfg["eval_tasks"].split(",") for n in cfg["eval_lengths"].split(",")}
    seconds, outputs = {}, {}
    for batch in (1, cfg["batch_size"]):
        t0 = time.perf_counter()
        outputs[batch] = [answer_accuracy(model, records, task, device, batch_size=batch,
                                          autocast=autocast_for(device))["outputs"]
                          for (task, _), records in data.items()]
        seconds[batch] = time.perf_counter() - t0
    same, b = outputs[1] == outputs[cfg["batch_size"]], cfg["batch_size"]
    where = ", ".join(f"{task} {length}" for task, length in data)
    print(f"{cfg['memory']}: {sum(map(len, data.values()))} prompts ({where}), batch 1: "
          f"{seconds[1]:.1f} s, batch {b}: {seconds[b]:.1f} s, {seconds[1] / seconds[b]:.1f}x "
          f"faster, answers identical: {same}")
    return seconds, same


def main(cfg):
    device = torch.device(cfg["device"])
    cuda = device.type == "cuda"
    torch.manual_seed(cfg["seed"])
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model = LM(ModelConfig.from_dict(cfg)).to(device)
    if cuda and cfg["compile"]:
        model.compile_blocks()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=cuda and cfg["fused_adamw"])
    use_bf16 = cuda and cfg["bf16"]
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16)
    B, L = cfg["batch_size"], cfg["n_segments"] * cfg["segment_len"]
    data = torch.randint(0, 50257, (B, L + 1), device=device)
    x, y = data[:, :-1], data[:, 1:]

    def step():
        with autocast:
            _, loss, _ = model.forward_long(x, targets=y, bptt=cfg["bptt"],
                                            return_logits=cfg["return_logits"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    print(f"{cfg['memory']}: {model.num_params() / 1e6:.2f}M parameters "
          f"({model.num_params(include_memory=False) / 1e6:.2f}M without memory), "
          f"{B} x {cfg['n_segments']} segments x {cfg['segment_len']} tokens, device {device}"
          f"{' ' + torch.cuda.get_device_name(device) if cuda else ''}, "
          f"{'bf16' if use_bf16 else 'fp32'}, compile={cuda and cfg['compile']}")
    for _ in range(cfg["warmup_steps"]):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(cfg["steps"]):
        t0 = time.perf_counter()
        loss = step()
        loss.item()  # waits for the GPU
        times.append(time.perf_counter() - t0)
    step_time = sorted(times)[len(times) // 2]  # median: robust to the odd slow step
    tokens_per_s = B * L / step_time
    line = f"tokens/s {tokens_per_s:,.0f} | step {step_time * 1000:.1f} ms (median of {len(times)})"
    if cuda:
        line += f" | peak memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"
        peak = peak_flops(torch.cuda.get_device_name(device))
        if peak is not None:
            line += f" | MFU {model.flops_per_token() * tokens_per_s / peak * 100:.1f}%"
    else:
        # the process's peak so far: with --memory=all, the largest of the models run until now
        line += f" | peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB"
    print(line)
    return tokens_per_s


def main_all(cfg):
    """none, lm2 and rmt one after another on the same card, then LM2/vanilla and RMT/vanilla."""
    speed = {kind: main({**cfg, "memory": kind}) for kind in ("none", "lm2", "rmt")}
    print(f"LM2/vanilla {speed['lm2'] / speed['none']:.2f}x | "
          f"RMT/vanilla {speed['rmt'] / speed['none']:.2f}x (tokens/s)")
    return speed


def run():
    settings = configure(defaults)
    if settings["what"] == "eval":
        return bench_eval(settings)
    return main_all(settings) if settings["memory"] == "all" else main(settings)


if __name__ == "__main__":
    run_cli("bench.py", run)
