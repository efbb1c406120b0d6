"""The GPT-2 tokenizer (tiktoken "gpt2"), shared by data preparation, training, sampling and eval.

On first use tiktoken downloads two GPT-2 BPE files (vocab.bpe and encoder.json, about 1.5 MB)
into its cache. Offline, point TIKTOKEN_CACHE_DIR at a folder holding them; when the variable is
unset and a `../shared/tiktoken_cache` folder sits beside this repository, that folder is used.
"""
import functools
import os
from pathlib import Path

EOT = 50256  # <|endoftext|>, GPT-2's only special token

_SHARED_CACHE = Path(__file__).resolve().parent.parent / "shared" / "tiktoken_cache"


@functools.lru_cache(maxsize=None)
def get_encoding():
    if "TIKTOKEN_CACHE_DIR" not in os.environ and _SHARED_CACHE.is_dir():
        os.environ["TIKTOKEN_CACHE_DIR"] = str(_SHARED_CACHE)
    import tiktoken
    try:
        return tiktoken.get_encoding("gpt2")
    except Exception as e:  # network errors surface as many different exception types
        raise RuntimeError(
            "could not load the GPT-2 tokenizer: tiktoken needs to download its BPE files once "
            "(internet), or TIKTOKEN_CACHE_DIR must name a folder that already holds them "
            f"(currently {os.environ.get('TIKTOKEN_CACHE_DIR')!r}). Cause: {e}") from e


def encode(text):
    """Plain-text encoding: special-token strings such as '<|endoftext|>' are ordinary text."""
    return get_encoding().encode_ordinary(text)


def decode(ids):
    return get_encoding().decode(list(ids))
