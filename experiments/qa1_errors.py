"""What a checkpoint gets wrong on qa1 at 0k: greedy answers (as eval_babilong.py scores them) to
generated test stories, broken down by how often the asked person is mentioned and how many
statements came after their last one, and each wrong answer classified.

    python experiments/qa1_errors.py out/cpu_lm2 --n=300
    python experiments/qa1_errors.py out/cpu_lm2 --lengths=1k,2k,4k --n=100
    python experiments/qa1_errors.py --in_window=1024 --lengths=1k,2k,4k

The second form needs no model: how many generated test samples at each length have the asked
person's last move inside the last `in_window` tokens of the prompt (less the answer's room),
which is what a vanilla model with that window can answer at best.

With --lengths (and a model), each length's answers are broken down instead by how many segments
before the last one the asked person's last move lies: a memory model that scores only where it
lies in the last segment answers from its attention, not from its memory (for the vanilla model
"segments back" is 0 inside its window and 1 outside); the wrong answers are classified as at 0k.

A model that binds person to place is right whatever the breakdown; one that answers with the
most recent place is right only where the asked person made the last move ("0 back"), and its
wrong answers name another person's place (experiments/README.md: *Convolution width*).
"""
import argparse
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from checkpoint import load_model  # noqa: E402
from data.babilong.metric import compare_answers  # noqa: E402
from data.babilong.tokenized import format_prompt, trained_prompt_format  # noqa: E402
from eval_babilong import MAX_NEW_TOKENS, answer_accuracy, load_records  # noqa: E402
from experiments.recipe_probe import asked_person, statements, statements_back  # noqa: E402
from tokenizer import encode  # noqa: E402


def tokens_around_last_move(record, prompt_format="qlast"):
    """(prompt tokens before the asked person's last move, tokens from it to the end)."""
    name = asked_person(record)
    prompt = format_prompt(record["input"], record["question"], prompt_format)
    last_move = [m.start() for m in re.finditer(rf"\b{name} [a-z ]+ to the \w+", prompt)][-1]
    return len(encode(prompt[:last_move])), len(encode(prompt[last_move:]))


def answerable_in_window(record, window):
    """Does the asked person's last move lie in the prompt's last window - MAX_NEW_TOKENS tokens
    (the vanilla model's crop, eval_babilong.encode_prompt)?"""
    return tokens_around_last_move(record)[1] <= window - MAX_NEW_TOKENS


def segments_back(record, config, prompt_format):
    """How many segments before the prompt's last one the asked person's last move starts (a
    memory model reads the prompt in segment_len pieces from its first token); the vanilla model:
    0 inside its window, 1 outside."""
    if config.memory == "none":
        return int(not answerable_in_window(record, config.segment_len))
    before, after = tokens_around_last_move(record, prompt_format)
    return (before + after - 1) // config.segment_len - before // config.segment_len


def long_breakdown(model, records, length, prompt_format, batch_size):
    """Prints the accuracy at one length by segments back (0, 1, 2-3, 4+) of the asked person's
    last move; returns the wrong answers' kinds (error_kind)."""
    result = answer_accuracy(model, records, "qa1", "cpu", batch_size=batch_size,
                             prompt_format=prompt_format)
    cells, errors = defaultdict(lambda: [0, 0]), Counter()
    for record, output in zip(records, result["outputs"]):
        back = segments_back(record, model.config, prompt_format)
        cell = cells["0" if back == 0 else "1" if back == 1 else "2-3" if back < 4 else "4+"]
        right = compare_answers(record["target"], output, record["question"], "qa1", "official")
        cell[0] += right
        cell[1] += 1
        if not right:
            errors[error_kind(record, output)] += 1
    print(f"| {length} | {100 * result['official']:.0f}% | " + " | ".join(
        f"{cells[k][0]}/{cells[k][1]}" for k in ("0", "1", "2-3", "4+")) + " |")
    return errors


def error_kind(record, output):
    """Which place a wrong answer names: an earlier one of the asked person, the last statement's
    (another person's, since the answer is wrong), another earlier one, or none of the story's."""
    facts, name = statements(record), asked_person(record)
    said = output.split()[0].strip(".").lower() if output.split() else ""
    if said in [f[-1] for f in facts if f[0] == name]:
        return "an earlier place of the asked person"
    if said == facts[-1][-1]:
        return "the last statement's place (another person)"
    if said in [f[-1] for f in facts]:
        return "an earlier place of another person"
    return "no place of the story"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("ckpt", nargs="?", help="a checkpoint file or an out_dir")
    p.add_argument("--n", type=int, default=300, help="generated test stories (default 300)")
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--in_window", type=int, default=0, help="count answerable samples instead")
    p.add_argument("--lengths", default="", help="long lengths (1k,2k,4k): the segment breakdown")
    a = p.parse_args(argv)
    if a.in_window:
        for length in (a.lengths or "1k,2k,4k").split(","):
            records = load_records("qa1", length, max_samples=a.n)
            inside = sum(answerable_in_window(r, a.in_window) for r in records)
            print(f"qa1 {length}: the asked person's last move is in the last {a.in_window} "
                  f"tokens in {inside} of {len(records)} samples")
        return
    if a.ckpt is None:
        p.error("give a checkpoint, or --in_window")
    model, checkpoint = load_model(a.ckpt)
    prompt_format = trained_prompt_format(checkpoint)
    if a.lengths:
        print(f"{a.ckpt} ({prompt_format}, memory={model.config.memory}, "
              f"segment_len={model.config.segment_len}): right / samples by segments back")
        print("| length | accuracy | 0 back | 1 | 2-3 | 4+ |\n|---|---|---|---|---|---|")
        errors = {length: long_breakdown(model, load_records("qa1", length, max_samples=a.n),
                                         length, prompt_format, a.batch_size)
                  for length in a.lengths.split(",")}
        for length, kinds in errors.items():
            print(f"wrong answers at {length}: "
                  + ", ".join(f"{k}: {v}" for k, v in kinds.most_common()))
        return
    records = load_records("qa1", "0k", max_samples=a.n)
    result = answer_accuracy(model, records, "qa1", "cpu", batch_size=a.batch_size,
                             prompt_format=prompt_format)
    cells, errors = defaultdict(lambda: [0, 0]), Counter()
    for record, output in zip(records, result["outputs"]):
        right = compare_answers(record["target"], output, record["question"], "qa1", "official")
        mentions = sum(f[0] == asked_person(record) for f in statements(record))
        back = statements_back(record)
        cell = cells[("0 back" if back == 0 else ">0 back", min(mentions, 3))]
        cell[0] += right
        cell[1] += 1
        if not right:
            errors[error_kind(record, output)] += 1
    print(f"{a.ckpt} ({prompt_format}): qa1 0k {100 * result['official']:.1f}% of {a.n}")
    print("| asked person's last move | mentioned once | twice | 3+ times |\n|---|---|---|---|")
    for back in ("0 back", ">0 back"):
        row = [cells[(back, m)] for m in (1, 2, 3)]
        print(f"| {back} | " + " | ".join(f"{r}/{n}" for r, n in row) + " |")
    print("wrong answers: " + ", ".join(f"{k}: {v}" for k, v in errors.most_common()))


if __name__ == "__main__":
    main()
