"""BABILong samples as training data, tokenized once into memory-mapped arrays (nanoGPT style).

Prompt format, the one place training and eval share:
    {input}
    Question: {question without bAbI's trailing space}
    Answer: {target}<|endoftext|>
i.e. format_prompt(input, question) + format_answer(target) + EOT. The loss mask is true only
on the answer tokens and the end-of-text token, as in BABILong fine-tuning; at eval time the
model continues format_prompt(...) and compare_answers scores what it writes.

Files for a prefix P: P.tokens.bin (uint16, all samples concatenated), P.mask.bin (uint8, 1 on
loss positions) and P.index.npy (int64 offsets, n+1: sample i is tokens[off[i]:off[i+1]]).
"""
import os
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

from data.babilong.build import make_samples
from tokenizer import EOT, encode

SUFFIXES = ("tokens.bin", "mask.bin", "index.npy")


def format_prompt(input, question):
    return f"{input}\nQuestion: {question.strip()}\nAnswer:"


def format_answer(target):
    return " " + target


def encode_sample(record):
    """(ids, mask) of one record: prompt + answer + EOT, mask true on answer and EOT."""
    prompt = encode(format_prompt(record["input"], record["question"]))
    answer = encode(format_answer(record["target"])) + [EOT]
    ids = np.array(prompt + answer, dtype=np.uint16)
    mask = np.zeros(len(ids), dtype=bool)
    mask[len(prompt):] = True
    return ids, mask


def write_tokenized(records, prefix, progress=True):
    """Tokenize records into prefix.{tokens.bin, mask.bin, index.npy}, each written atomically
    (the index last, so a complete index means complete data)."""
    paths = {suffix: Path(f"{prefix}.{suffix}") for suffix in SUFFIXES}
    paths["index.npy"].parent.mkdir(parents=True, exist_ok=True)
    tmp = {suffix: path.with_name(path.name + ".tmp") for suffix, path in paths.items()}
    offsets = [0]
    with open(tmp["tokens.bin"], "wb") as tokens, open(tmp["mask.bin"], "wb") as mask:
        for record in tqdm(records, desc=f"tokenizing {Path(prefix).name}", disable=not progress,
                           leave=False):
            ids, loss = encode_sample(record)
            tokens.write(ids.tobytes())
            mask.write(loss.astype(np.uint8).tobytes())
            offsets.append(offsets[-1] + len(ids))
    with open(tmp["index.npy"], "wb") as f:
        np.save(f, np.array(offsets, dtype=np.int64))
    for suffix in SUFFIXES:
        os.replace(tmp[suffix], paths[suffix])


class TokenizedSamples:
    """Memory-mapped samples written by write_tokenized: ds[i] -> (ids int64, mask bool)."""

    def __init__(self, prefix):
        paths = {suffix: Path(f"{prefix}.{suffix}") for suffix in SUFFIXES}
        for path in paths.values():
            if not path.is_file():
                raise FileNotFoundError(f"missing {path} (make it with prepare_training_data)")
        self.offsets = np.load(paths["index.npy"])
        offsets = self.offsets
        if (offsets.ndim != 1 or len(offsets) == 0 or offsets[0] != 0
                or np.any(np.diff(offsets) < 0)):
            raise ValueError(f"{paths['index.npy']}: not an index (increasing offsets from 0)")
        total = int(offsets[-1])
        for suffix, itemsize in (("tokens.bin", 2), ("mask.bin", 1)):
            size = paths[suffix].stat().st_size
            if size != total * itemsize:
                raise ValueError(f"{paths[suffix]}: {size} bytes, but {paths['index.npy']} "
                                 f"describes {total} tokens ({total * itemsize} bytes)")
        mmap = lambda path, dtype: (np.memmap(path, dtype=dtype, mode="r") if total
                                    else np.zeros(0, dtype=dtype))
        self.tokens = mmap(paths["tokens.bin"], np.uint16)
        self.mask = mmap(paths["mask.bin"], np.uint8)

    def __len__(self):
        return len(self.offsets) - 1

    def __getitem__(self, i):
        i = range(len(self))[i]  # IndexError out of range, negative indices allowed
        start, end = self.offsets[i], self.offsets[i + 1]
        return self.tokens[start:end].astype(np.int64), self.mask[start:end].astype(bool)

    @property
    def lengths(self):
        return np.diff(self.offsets)


def source_tag(babi_dir, haystack):
    """A short file-name tag for where stories and background come from."""
    stories = "gen" if babi_dir is None else "babi"
    if haystack is None or str(haystack) == "pg19":
        text = "builtin" if haystack is None else "pg19"
        paths = []
    else:
        text = "files"
        paths = [haystack] if isinstance(haystack, (str, Path)) else list(haystack)
    if babi_dir is None and not paths:
        return f"{stories}-{text}"
    where = repr([str(Path(p).resolve()) for p in [babi_dir or "", *paths]])
    return f"{stories}-{text}-{zlib.crc32(where.encode()):08x}"


def prepare_training_data(out_dir, tasks, lengths, n, split, seed, babi_dir=None, haystack=None,
                          progress=True):
    """Build (only if missing) one tokenized file set per task and length.

    Returns {(task, length): prefix}, prefix = OUT/{task}_{length}_{split}_n{n}_seed{seed}_{src}.
    """
    prefixes = {}
    for task in tasks:
        for length in lengths:
            name = f"{task}_{length}_{split}_n{n}_seed{seed}_{source_tag(babi_dir, haystack)}"
            prefix = str(Path(out_dir) / name)
            if not Path(f"{prefix}.index.npy").is_file():
                records = make_samples(task, length, n, split=split, seed=seed,
                                       babi_dir=babi_dir, haystack=haystack, progress=progress)
                write_tokenized(records, prefix, progress=progress)
            prefixes[(task, length)] = prefix
    return prefixes
