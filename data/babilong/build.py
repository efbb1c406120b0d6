"""BABILong samples: bAbI facts hidden, in order, inside background text of an exact length.

The official rules: a length label "Nk" is a budget of N*1000 - 300 GPT-2 tokens of facts plus
background (300 are left for the prompt); "0k" is the facts alone. Background sentences are
taken in reading order from a random place in the haystack until the budget is met, and the
last one is cut at token level so the input (facts and sentences joined with spaces) is exactly
the budget. Facts go, in order, into slots between background sentences drawn with replacement
and sorted. Records with more than budget // 8 facts are dropped (and, so the budget can be
met, the rare ones whose facts alone exceed it).

Seeds: stories depend on (split, task, seed), so one seed asks the same questions at every
length (as far as the fact-count filter allows); background and fact slots depend on (split,
task, length, seed). Train and test
always differ: other stories (bAbI train vs test file, or other generator seeds) and other
background text.
"""
import random
import re
from decimal import Decimal

from tqdm import tqdm

from data.babilong.babi import check_task, load_babi
from data.babilong.haystack import load_haystack
from data.babilong.world import iter_records, story_questions
from tokenizer import decode, encode, get_encoding

LENGTHS = ["0k", "1k", "2k", "4k", "8k", "16k", "32k", "64k", "128k"]
PROMPT_RESERVE = 300   # tokens the official budget leaves for instructions and question
TOKENS_PER_FACT = 8   # the filter keeps records with at most budget // 8 facts


def parse_length(label):
    """Token budget of a length label: 0 for "0k", N*1000 - 300 for "Nk" (also "256k", "1M").
    Fractions name the short haystacks a curriculum can step through: "0.5k" is 200 tokens."""
    text = str(label).strip().lower()
    scale = {"k": 1000, "m": 1000_000}.get(text[-1:])
    if scale is None or not re.fullmatch(r"\d+(\.\d+)?", text[:-1]):
        raise ValueError(f"bad length label {label!r}: expected e.g. 0k, 0.5k, 1k, 16k, 128k or 1M")
    tokens = Decimal(text[:-1]) * scale
    if tokens != int(tokens):
        raise ValueError(f"length {label!r} is not a whole number of tokens")
    if 0 < tokens <= PROMPT_RESERVE:
        raise ValueError(f"length {label!r} leaves no room: it must exceed {PROMPT_RESERVE} tokens")
    return max(int(tokens) - PROMPT_RESERVE, 0)


def seed_for(*parts):
    return random.Random("/".join(map(str, parts))).getrandbits(32)


def fits(record, budget):
    """The official fact-count filter, plus room for the facts themselves."""
    if budget == 0:
        return True
    return (len(record.story) <= budget // TOKENS_PER_FACT
            and len(encode(" ".join(record.story))) <= budget)


def hide_facts(facts, haystack, budget, rng):
    """facts (in order) between background sentences, exactly `budget` tokens in all."""
    n = len(haystack.sentences)
    need = budget - len(encode(" ".join(facts)))
    if need <= 0:
        return " ".join(facts)
    if haystack.total_tokens < need:
        raise ValueError(f"haystack too short for {budget} tokens: {haystack.name} has only "
                         f"{haystack.total_tokens} usable tokens")
    for _ in range(10):  # a retry uses another place in the haystack
        start, chosen, total = rng.randrange(n), [], 0
        while total < need:  # reading on past the end wraps around to the first book
            chosen.append((start + len(chosen)) % n)
            total += int(haystack.lengths[chosen[-1]])
        slots = sorted(rng.choices(range(len(chosen) + 1), k=len(facts)))
        background = [haystack.sentences[i] for i in chosen]
        last_tokens = encode(" " + background[-1])
        keep = len(last_tokens) - (total - need)
        # Joining can merge or split a token at the seams, so measure and adjust the cut.
        for _ in range(4):
            if not 0 < keep <= len(last_tokens):
                break
            background[-1] = decode(last_tokens[:keep]).strip()
            text = interleave(facts, slots, background)
            error = budget - len(encode(text))
            if error == 0:
                return text
            keep += error
    raise ValueError(f"could not meet a budget of {budget} tokens exactly with {haystack.name}")


def interleave(facts, slots, background):
    """Facts whose slot is i go just before background sentence i (slot len() = at the end)."""
    pieces, fact = [], 0
    for i in range(len(background) + 1):
        while fact < len(facts) and slots[fact] == i:
            pieces.append(facts[fact])
            fact += 1
        if i < len(background):
            pieces.append(background[i])
    return " ".join(piece for piece in pieces if piece)


def further_questions(record, task, k, rng):
    """Up to k other (question, answer) pairs that the record's story determines at its end (the
    asked question itself left out), drawn at random: dense supervision."""
    asked = record.question.strip()
    pool = [(q, a) for q, a in story_questions(task, record.story) if q.strip() != asked]
    return [list(pair) for pair in rng.sample(pool, min(k, len(pool)))]


def questions_in_story(record, text, task, k, rng):
    """Up to k [offset, question, answer] to ask inside the text (catbAbI's dense supervision, in
    the stream): after k of the story's statements drawn at random, a question the story so far
    determines, one that statement did not answer where there is one. offset: the character just
    after that statement in text."""
    ends, pos = [], 0
    for fact in record.story:  # in order; background text never holds a statement's words
        pos = text.index(fact, pos) + len(fact)
        ends.append(pos)
    asks = []
    for i in sorted(rng.sample(range(len(ends)), min(k, len(ends)))):
        pool = story_questions(task, record.story[:i + 1])
        if not pool:
            continue
        # rather one whose answer the statement just read left as it was: one the memory carries
        carried = [pair for pair in pool if pair in story_questions(task, record.story[:i])]
        asks.append([ends[i], *rng.choice(carried or pool)])
    return asks


def make_samples(task, length, n, split="train", seed=0, babi_dir=None, haystack=None,
                 progress=True, more_questions=0, max_facts=0, inline_questions=0):
    """n BABILong records {"input", "question", "target"} for one task and length.

    Stories come from the real bAbI `qaN_*_{split}.txt` in babi_dir (a seeded sample of its
    records, with repeats only if n exceeds them), else from the generator.
    haystack: None (built-in text), a list of text files, or "pg19".
    more_questions=k adds "more": up to k further [question, answer] pairs about the same story
    (dense training supervision; the sample itself is the same as with k=0).
    inline_questions=k adds "inline": up to k [offset, question, answer] asked inside the input,
    each after one of its statements (questions_in_story; the input itself stays the same).
    max_facts=k keeps only stories of at most k statements (a story-size curriculum's early stages).
    """
    check_task(task)
    budget = parse_length(length)
    keep = lambda r: fits(r, budget) and (not max_facts or len(r.story) <= max_facts)
    if babi_dir is not None:
        pool = [r for r in load_babi(babi_dir, task, split) if keep(r)]
        if not pool:
            raise ValueError(f"no {task} {split} record in {babi_dir} fits length {length}"
                             + (f" with at most {max_facts} statements" if max_facts else ""))
        rng = random.Random(seed_for(split, task, seed))
        picks = rng.choices(pool, k=n) if n > len(pool) else rng.sample(pool, n)
    else:
        stream = iter_records(task, seed_for(split, task, seed))
        picks = []
        for tried, record in enumerate(stream if n > 0 else (), 1):
            if keep(record):
                picks.append(record)
                if len(picks) == n:
                    break
            elif tried > 10_000 * (len(picks) + 1):  # fewer than 1 in 10,000 fit: give up early
                raise ValueError(f"{task} {length}: only {len(picks)} of {tried} generated stories "
                                 f"fit" + (f" in {max_facts} statements" if max_facts else "")
                                 + f", and {n} are needed")
    background = load_haystack(haystack, split, budget) if budget else None
    rng = random.Random(seed_for(split, task, length, seed))
    get_encoding()  # load the tokenizer before the progress bar starts
    samples = []
    for record in tqdm(picks, desc=f"{task} {length} {split}", disable=not progress,
                       leave=False):
        facts = list(record.story)
        text = hide_facts(facts, background, budget, rng) if budget else " ".join(facts)
        samples.append({"input": text, "question": record.question, "target": record.answer})
    if more_questions:  # its own generator, so the samples above do not depend on it
        rng = random.Random(seed_for(split, task, length, seed, "more"))
        for sample, record in zip(samples, picks):
            sample["more"] = further_questions(record, task, more_questions, rng)
    if inline_questions:
        rng = random.Random(seed_for(split, task, length, seed, "inline"))
        for sample, record in zip(samples, picks):
            sample["inline"] = questions_in_story(record, sample["input"], task, inline_questions,
                                                  rng)
    return samples
