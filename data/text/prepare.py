"""Plain-text books -> GPT-2 tokens in data/text/train.bin and val.bin (uint16, nanoGPT style).

    python data/text/prepare.py ../shared/data/text/*.txt [--out_dir data/text] [--val_fraction 0.1]

Project Gutenberg headers and footers are stripped. The last val_fraction of every file is
validation text, so both splits see every author.
"""
import argparse
import os
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from data.babilong.haystack import read_text_file  # noqa: E402
from tokenizer import EOT, encode  # noqa: E402


def prepare(files, out_dir, val_fraction=0.1):
    if not files:
        raise ValueError("no text files given")
    splits = {"train": [], "val": []}
    for path in tqdm(files, desc="tokenizing"):
        ids = encode(read_text_file(path).strip()) + [EOT]
        cut = int(len(ids) * (1 - val_fraction))
        splits["train"] += ids[:cut]
        splits["val"] += ids[cut:]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, ids in splits.items():
        path = out_dir / f"{split}.bin"
        np.array(ids, dtype=np.uint16).tofile(path.with_suffix(".tmp"))
        os.replace(path.with_suffix(".tmp"), path)
        print(f"{path}: {len(ids):,} tokens")
    return {split: len(ids) for split, ids in splits.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--out_dir", default=str(Path(__file__).resolve().parent))
    parser.add_argument("--val_fraction", type=float, default=0.1)
    args = parser.parse_args()
    prepare(args.files, args.out_dir, args.val_fraction)
