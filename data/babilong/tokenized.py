"""BABILong samples as training data, tokenized once into memory-mapped arrays (nanoGPT style).

Prompt formats, the one place training, eval and sampling share (train.py's `prompt_format`,
stored in the checkpoint):
    "qlast"  BABILong's standard:            {input}\nQuestion: {q}\nAnswer:
    "qboth"  the question before and after:  Question: {q}\n{input}\nQuestion: {q}\nAnswer:
(q without bAbI's trailing space). A training sample is format_prompt(...) + format_answer(target)
+ EOT, then, for dense supervision, the story's further questions (record["more"]) each as
format_followup(q) + format_answer(a) + EOT; questions asked inside the input (record["inline"])
take the same form where they are asked. The loss mask is true only on the answer tokens and
their end-of-text tokens, as in BABILong fine-tuning; at eval time the model continues
format_prompt(...) (one question) and compare_answers scores what it writes.

Files for a prefix P: P.tokens.bin (uint16, all samples concatenated), P.mask.bin (uint8, 1 on
loss positions) and P.index.npy (int64 offsets, n+1: sample i is tokens[off[i]:off[i+1]]).
"""
import contextlib
import multiprocessing
import os
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from tqdm import tqdm

from data.babilong.build import make_samples, parse_length
from tokenizer import EOT, encode

SUFFIXES = ("tokens.bin", "mask.bin", "index.npy")


PROMPT_FORMATS = ("qlast", "qboth")


def check_prompt_format(prompt_format):
    if prompt_format not in PROMPT_FORMATS:
        raise ValueError(f"prompt_format={prompt_format!r}: expected one of {PROMPT_FORMATS}")
    return prompt_format


def format_prompt(input, question, prompt_format="qlast"):
    question = f"Question: {question.strip()}"
    if check_prompt_format(prompt_format) == "qboth":
        return f"{question}\n{input}\n{question}\nAnswer:"
    return f"{input}\n{question}\nAnswer:"


def trained_prompt_format(checkpoint):
    """The prompt format a train.py checkpoint was trained with (older ones: qlast)."""
    return check_prompt_format((checkpoint.get("config") or {}).get("prompt_format", "qlast"))


def format_followup(question):
    """A further question after an answer's end-of-text (dense supervision)."""
    return f"\nQuestion: {question.strip()}\nAnswer:"


def format_answer(target):
    return " " + target


def encode_sample(record, prompt_format="qlast"):
    """(ids, mask) of one record: prompt + answer + EOT (+ further question, answer, EOT for each
    of record["more"]), mask true on every answer and its EOT. record["inline"] ([offset,
    question, answer], offsets into record["input"] in order) asks questions inside the input:
    format_followup(question) + answer + EOT at each offset, the input going on after it."""
    prompt = format_prompt(record["input"], record["question"], prompt_format)
    start = prompt.index(record["input"])
    pieces, cut = [], 0
    for offset, question, target in record.get("inline", ()):
        pieces.append((prompt[cut:start + offset] + format_followup(question), target))
        cut = start + offset
    pieces.append((prompt[cut:], record["target"]))
    pieces += [(format_followup(question), target) for question, target in record.get("more", ())]
    ids, mask = [], []
    for prompt, target in pieces:
        prompt, answer = encode(prompt), encode(format_answer(target)) + [EOT]
        ids += prompt + answer
        mask += [False] * len(prompt) + [True] * len(answer)
    return np.array(ids, dtype=np.uint16), np.array(mask, dtype=bool)


def write_tokenized(records, prefix, prompt_format="qlast", progress=True):
    """Tokenize records into prefix.{tokens.bin, mask.bin, index.npy}, each written atomically
    (the index last, so a complete index means complete data)."""
    paths = {suffix: Path(f"{prefix}.{suffix}") for suffix in SUFFIXES}
    paths["index.npy"].parent.mkdir(parents=True, exist_ok=True)
    # names of this process alone: two runs building the same files never write into one file
    tmp = {suffix: path.with_name(f"{path.name}.{os.getpid()}.tmp") for suffix, path in paths.items()}
    offsets = [0]
    with open(tmp["tokens.bin"], "wb") as tokens, open(tmp["mask.bin"], "wb") as mask:
        for record in tqdm(records, desc=f"tokenizing {Path(prefix).name}", disable=not progress,
                           leave=False):
            ids, loss = encode_sample(record, prompt_format)
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
    stories = "gen2" if babi_dir is None else "babi"  # gen2: the generator with bAbI's LOOKBACK
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


@contextlib.contextmanager
def build_lock(prefix):
    """An exclusive lock on prefix.lock while the files are checked and built (POSIX; elsewhere
    the per-process temporary names and atomic renames still keep every file whole)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    with open(f"{prefix}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def training_data_prefix(out_dir, task, length, n, split, seed, babi_dir=None, haystack=None,
                         prompt_format="qlast", more_questions=0, max_facts=0, inline_questions=0):
    """Where prepare_training_data keeps the files of one task and length: OUT/{task}_{length}_
    {split}_n{n}_seed{seed}_{prompt_format}_q{more_questions}[_f{max_facts}][_i{inline}]_{src}
    """
    name = (f"{task}_{length}_{split}_n{n}_seed{seed}_{check_prompt_format(prompt_format)}"
            f"_q{more_questions}{f'_f{max_facts}' if max_facts else ''}"
            f"{f'_i{inline_questions}' if inline_questions else ''}"
            f"_{source_tag(babi_dir, haystack)}")
    return str(Path(out_dir) / name)


def prepare_training_data(out_dir, tasks, lengths, n, split, seed, babi_dir=None, haystack=None,
                          progress=True, prompt_format="qlast", more_questions=0, max_facts=0,
                          inline_questions=0):
    """Build (only if missing) one tokenized file set per task and length.
    Returns {(task, length): prefix} (training_data_prefix)."""
    prefixes = {}
    for task in tasks:
        for length in lengths:
            prefix = training_data_prefix(out_dir, task, length, n, split, seed, babi_dir, haystack,
                                          prompt_format, more_questions, max_facts,
                                          inline_questions)
            with build_lock(prefix):  # runs sharing out_dir: one builds, the others wait for it
                if not Path(f"{prefix}.index.npy").is_file():
                    records = make_samples(task, length, n, split=split, seed=seed,
                                           babi_dir=babi_dir, haystack=haystack, progress=progress,
                                           more_questions=more_questions, max_facts=max_facts,
                                           inline_questions=inline_questions)
                    write_tokenized(records, prefix, prompt_format, progress=progress)
            prefixes[(task, length)] = prefix
    return prefixes


PARALLEL_BUILD_TOKENS = 5_000_000  # below this many tokens to build, starting processes costs more


def build_training_data(jobs, progress=True):
    """prepare_training_data(**job) for every job; in parallel, one process per job, when there
    are cores for it and enough to build (the samples' tokens, estimated from their lengths)."""
    tokens = sum(job["n"] * (parse_length(job["lengths"][0]) + 100) for job in jobs)
    workers = min(len(jobs), os.cpu_count() or 1) if tokens > PARALLEL_BUILD_TOKENS else 1
    if workers < 2:
        for job in jobs:
            prepare_training_data(**job, progress=progress)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a process that holds torch threads
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(prepare_training_data, **job, progress=False) for job in jobs]
        for future in tqdm(as_completed(futures), total=len(futures), desc="data",
                           disable=not progress):
            future.result()
