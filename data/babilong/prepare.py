"""Write BABILong data in the official layout: OUT/qaN/{len}.json, each a JSON array of
{"input", "question", "target"} objects (the layout of the HF dataset RMT-team/babilong).

    python data/babilong/prepare.py --tasks qa1,qa2 --lengths 0k,1k --split test --n 100 --out DIR
        [--babi_dir DIR] [--haystack FILES... | --haystack pg19] [--seed S]
    python data/babilong/prepare.py --download --tasks qa1 --lengths 4k --out DIR

Without --babi_dir the stories come from the built-in generator; with it, from the real bAbI
`qaN_*_{split}.txt` files there. Without --haystack the background is the built-in text.
--download fetches the official files instead (needs internet).
"""
import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from data.babilong.babi import TASKS  # noqa: E402
from data.babilong.build import LENGTHS, make_samples  # noqa: E402
from configurator import run_cli  # noqa: E402
from data.babilong.official import download_official, write_official  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default=",".join(TASKS[:5]), help="comma-separated, qa1..qa10")
    parser.add_argument("--lengths", default=",".join(LENGTHS[:6]),
                        help=f"comma-separated length labels ({', '.join(LENGTHS)}, or larger)")
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument("--n", type=int, default=100, help="samples per task and length")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--babi_dir", default=None, help="folder with real bAbI qaN_*_{split}.txt")
    parser.add_argument("--haystack", nargs="+", default=None,
                        help="plain-text files for the background, or 'pg19'")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--download", action="store_true",
                        help="download the official RMT-team/babilong files instead")
    args = parser.parse_args(argv)
    if args.n < 1:
        raise ValueError(f"--n={args.n}: must be at least 1 (samples per task and length)")
    tasks, lengths = args.tasks.split(","), args.lengths.split(",")
    haystack = args.haystack
    if haystack == ["pg19"]:
        haystack = "pg19"

    if args.download:
        for path in download_official(args.out, tasks, lengths):
            print(path)
        return
    for task in tasks:
        for length in lengths:
            start = time.time()
            records = make_samples(task, length, args.n, split=args.split, seed=args.seed,
                                   babi_dir=args.babi_dir, haystack=haystack)
            path = write_official(records, args.out, task, length)
            print(f"{path}: {len(records)} samples in {time.time() - start:.1f}s")


if __name__ == "__main__":
    # bad input or no network: one line and exit status 2, not a traceback
    run_cli("prepare.py", main, (ValueError, OSError))
