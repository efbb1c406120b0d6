"""Background ("haystack") text for BABILong samples, split into sentences and tokenized once.

Sources:
- None: the built-in procedural text (textgen.py), the offline default; train and test use
  different seeds.
- a list of plain-text files: Project Gutenberg header and footer stripped, normalised and
  split into sentences. Books are kept apart by split: with several files the last fifth of
  them (at least one, by sorted file name) is the test haystack and the rest the train
  haystack; a single file gives its last fifth of sentences to test and the rest to train.
- "pg19": a few real PG19 books (the original BABILong source) downloaded once from
  deepmind/pg19 into data/babilong/cache/pg19/{split}/ (PG19's own train and test books).

As in BABILong, sentences under 10 GPT-2 tokens are skipped. Sentences that name any bAbI
person, place or object are skipped as well, so background never contradicts the facts.
"""
import functools
import re
import unicodedata
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.babilong.textgen import builtin_sentences
from data.babilong.world import ACTORS, OBJECTS, PLACES
from tokenizer import get_encoding

MIN_SENTENCE_TOKENS = 10
TASK_WORDS = sorted({w for names in ACTORS.values() for w in names}
                    | {p for places in PLACES.values() for p in places} | set(OBJECTS))
TASK_WORD_RE = re.compile(r"\b(" + "|".join(TASK_WORDS) + r")\b", re.IGNORECASE)
BUILTIN_SEEDS = {"train": 1, "test": 2}
BUILTIN_MIN_SENTENCES = 20_000   # about 480k tokens; more are made for longer samples
PG19_FILE_LIST = "https://huggingface.co/datasets/deepmind/pg19/resolve/main/data/{split}_files.txt"
PG19_BOOKS = "https://storage.googleapis.com/deepmind-gutenberg/"
PG19_CACHE = Path(__file__).resolve().parent / "cache" / "pg19"
GUTENBERG_START = re.compile(r"^\*\*\*\s*START OF (THIS|THE) PROJECT GUTENBERG.*$",
                             re.IGNORECASE | re.MULTILINE)
GUTENBERG_END = re.compile(r"^\*\*\*\s*END OF (THIS|THE) PROJECT GUTENBERG", re.IGNORECASE
                           | re.MULTILINE)
ASCII_PUNCTUATION = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                                   "\u2014": " - ", "\u2013": "-", "_": ""})
# A sentence ends at . ! or ? (maybe followed by a quote or bracket) before a space and a
# capital letter or quote; titles like "Mr." do not end one.
SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))(?<!\bMr\.)(?<!\bMrs\.)(?<!\bDr\.)"
                          r"(?<!\bSt\.)\s+(?=[\"'(\[]?[A-Z])")


@dataclass
class Haystack:
    name: str             # where the text came from, for error messages
    sentences: list       # usable background sentences, in reading order
    lengths: np.ndarray   # GPT-2 tokens of " " + sentence (how it appears after a join)

    @property
    def total_tokens(self):
        return int(self.lengths.sum())


def make_haystack(name, sentences):
    """Tokenize sentences once (batched) and keep the usable ones."""
    sentences = [s for s in sentences if not TASK_WORD_RE.search(s)]
    tokens = get_encoding().encode_ordinary_batch([" " + s for s in sentences])
    lengths = np.array([len(t) for t in tokens], dtype=np.int64)
    keep = lengths >= MIN_SENTENCE_TOKENS
    return Haystack(name, [s for s, k in zip(sentences, keep) if k], lengths[keep])


def read_text_file(path):
    """The text of a plain-text or Project Gutenberg file, boilerplate removed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"haystack file not found: {path}")
    text = path.read_text(encoding="utf-8-sig", errors="replace").replace("\r\n", "\n")
    start, end = GUTENBERG_START.search(text), GUTENBERG_END.search(text)
    return text[start.end() if start else 0:end.start() if end else len(text)]


def split_sentences(text):
    """Normalised sentences of a text: paragraphs joined, whitespace collapsed, ASCII quotes."""
    text = unicodedata.normalize("NFKC", text.translate(ASCII_PUNCTUATION))
    sentences = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(paragraph.split())
        sentences += [s.strip() for s in SENTENCE_END.split(paragraph) if s.strip()]
    return sentences


def split_of_books(paths, split):
    """The sentences of the files (or, for one file, of the part of it) that belong to a split;
    split=None takes everything."""
    paths = sorted(Path(p) for p in paths)
    if len(paths) == 1 and split is not None:
        sentences = split_sentences(read_text_file(paths[0]))
        cut = len(sentences) * 4 // 5
        return sentences[:cut] if split == "train" else sentences[cut:]
    n_test = max(1, len(paths) // 5)
    chosen = {None: paths, "train": paths[:-n_test], "test": paths[-n_test:]}[split]
    return [s for p in chosen for s in split_sentences(read_text_file(p))]


@functools.lru_cache(maxsize=8)
def file_haystack(paths, split):
    part = "all" if split is None else f"{split} part"
    return make_haystack(f"{part} of {', '.join(map(str, paths))}", split_of_books(paths, split))


@functools.lru_cache(maxsize=4)
def builtin_haystack(split, n_sentences=BUILTIN_MIN_SENTENCES):
    return make_haystack(f"built-in {split} text", builtin_sentences(BUILTIN_SEEDS[split],
                                                                     n_sentences))


def download_pg19(split, n_books=5, cache_dir=PG19_CACHE, timeout=60):
    """Paths of n_books PG19 books of a split, downloaded on first use."""
    pg19_split = "test" if split == "test" else "train"
    folder = Path(cache_dir) / pg19_split
    books = sorted(folder.glob("*.txt"))
    if len(books) >= n_books:
        return books[:n_books]
    try:
        with urllib.request.urlopen(PG19_FILE_LIST.format(split=pg19_split), timeout=timeout) as r:
            names = r.read().decode().split()[:n_books]
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            url = name if name.startswith("http") else PG19_BOOKS + name
            target = folder / Path(name).name
            with urllib.request.urlopen(url, timeout=timeout) as r:
                target.with_suffix(".part").write_bytes(r.read())
            target.with_suffix(".part").replace(target)
    except OSError as e:
        raise ConnectionError(
            f"could not download PG19 books ({e}); this needs internet. Offline, use the "
            f"built-in text (no --haystack) or pass plain-text files instead") from e
    return sorted(folder.glob("*.txt"))[:n_books]


def load_haystack(source, split, min_tokens=0):
    """The background text of a split: source None (built-in), "pg19" or a list of files."""
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}: expected 'train' or 'test'")
    if source is None:
        n_sentences = max(BUILTIN_MIN_SENTENCES, 2 * min_tokens // 20)  # ~24 tokens each
        return builtin_haystack(split, n_sentences)
    if isinstance(source, (str, Path)) and str(source) == "pg19":
        return file_haystack(tuple(download_pg19(split)), None)  # PG19 has its own splits
    if isinstance(source, (str, Path)):
        source = [source]
    return file_haystack(tuple(Path(p) for p in source), split)
