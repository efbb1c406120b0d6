"""A rule-based bAbI solver, written independently of the generator, answers every generated
record, every real bAbI v1.2 train record and every built BABILong sample from the facts alone.
It also checks that the generator's knowledge tracker reproduces the real answers and supporting
facts, so generated records follow bAbI's conventions."""
import re
from pathlib import Path

import pytest

from data.babilong.babi import TASKS, load_babi
from data.babilong.build import make_samples
from data.babilong.knowledge import Tracker
from data.babilong.world import LOOKBACK, PLACES, generate, statement_table

BABI_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "babi"
needs_babi = pytest.mark.needs_path(BABI_DIR)

NAME = r"([A-Z][a-z]+)"
STATEMENTS = [(re.compile(pattern), kind) for pattern, kind in [
    (rf"{NAME} (?:moved|went|journeyed|travelled|went back) to the (\w+)\.", "at"),
    (rf"{NAME} is in the (\w+)\.", "at"),
    (rf"{NAME} is (?:not|no longer) in the (\w+)\.", "absent"),
    (rf"{NAME} is either in the (\w+) or the (\w+)\.", "either"),
    (rf"{NAME} (?:got|took|picked up|grabbed) the (\w+)(?: there)?\.", "get"),
    (rf"{NAME} (?:dropped|discarded|put down|left) the (\w+)(?: there)?\.", "drop"),
    (rf"{NAME} (?:gave|handed|passed) the (\w+) to {NAME}\.", "give"),
    (r"The (\w+) is (north|south|east|west) of the (\w+)\.", "rel"),
]]
NUMBERS = ["none", "one", "two", "three"]
# qa5 questions: (pattern, which (giver, object, receiver) fields it names, field answered)
GIVE_QUESTIONS = [(r"What did (\w+) give to (\w+)\?", (0, 2), 1),
                  (r"Who did (\w+) give the (\w+) to\?", (0, 1), 2),
                  (r"Who gave the (\w+) to (\w+)\?", (1, 2), 0),
                  (r"Who gave the (\w+)\?", (1,), 0),
                  (r"Who received the (\w+)\?", (1,), 2)]
FLIP = {"north": "south", "south": "north", "east": "west", "west": "east"}


class Scene:
    """The state of a bAbI story as its sentences describe it."""

    def __init__(self, sentences):
        self.where, self.holder, self.lies, self.trail = {}, {}, {}, {}
        self.first_got, self.gives, self.beside = {}, [], {}
        for sentence in sentences:
            kind, args = next((kind, m.groups()) for pattern, kind in STATEMENTS
                              if (m := pattern.fullmatch(sentence)))
            getattr(self, kind)(*args)

    def place_of(self, person):
        kind, place = self.where.get(person, (None, None))
        return place if kind == "at" else None

    def visit(self, obj, place):
        if place and self.trail.setdefault(obj, [])[-1:] != [place]:
            self.trail[obj].append(place)

    def at(self, person, place):
        self.where[person] = ("at", place)
        for obj in [o for o, h in self.holder.items() if h == person]:
            self.visit(obj, place)

    def absent(self, person, place):
        self.where[person] = ("absent", place)

    def either(self, person, first, second):
        self.where[person] = ("either", (first, second))

    def get(self, person, obj):
        self.holder[obj] = person
        self.first_got.setdefault(person, []).append(obj)
        self.visit(obj, self.place_of(person))

    def drop(self, person, obj):
        del self.holder[obj]
        self.lies[obj] = self.place_of(person)

    def give(self, giver, obj, receiver):
        self.holder[obj] = receiver
        self.first_got.setdefault(receiver, []).append(obj)
        self.gives.append((giver, obj, receiver))

    def rel(self, a, direction, b):  # "a is direction of b"
        self.beside[(direction, b)] = a
        self.beside[(FLIP[direction], a)] = b

    def carrying(self, person):
        seen = dict.fromkeys(self.first_got.get(person, []))
        return [obj for obj in seen if self.holder.get(obj) == person]


def known(answer, question):
    if not answer:
        raise KeyError(f"the story does not answer {question!r}")
    return answer


def solve(story, question):
    """The answer to a bAbI question, from the story alone (KeyError if undetermined)."""
    s = Scene(story)
    q = question.strip()
    if m := re.fullmatch(r"Where is the (\w+)\?", q):
        obj = m[1]
        return known(s.place_of(s.holder[obj]) if obj in s.holder else s.lies[obj], q)
    if m := re.fullmatch(r"Where is (\w+)\?", q):
        return known(s.place_of(m[1]), q)
    if m := re.fullmatch(r"Where was the (\w+) before the (\w+)\?", q):
        trail = s.trail[m[1]]
        last = max(i for i, place in enumerate(trail) if place == m[2])
        return known(last > 0 and trail[last - 1], q)
    if m := re.fullmatch(r"What is (\w+) of the (\w+)\?", q):
        return s.beside[(m[1], m[2])]
    if m := re.fullmatch(r"What is the (\w+) (\w+) of\?", q):
        return s.beside[(FLIP[m[2]], m[1])]
    for pattern, fields, answer in GIVE_QUESTIONS:  # about the latest matching give
        if m := re.fullmatch(pattern, q):
            return [g[answer] for g in s.gives if tuple(g[i] for i in fields) == m.groups()][-1]
    if m := re.fullmatch(r"Is (\w+) in the (\w+)\?", q):
        kind, place = s.where[m[1]]
        if kind == "at":
            return "yes" if place == m[2] else "no"
        if kind == "either":
            return "maybe" if m[2] in place else "no"
        return known(place == m[2] and "no", q)
    if m := re.fullmatch(r"How many objects is (\w+) carrying\?", q):
        return NUMBERS[len(s.carrying(m[1]))]
    if m := re.fullmatch(r"What is (\w+) carrying\?", q):
        return ",".join(s.carrying(m[1])) or "nothing"
    raise ValueError(f"unknown question {question!r}")


@pytest.mark.parametrize("task", TASKS)
def test_solver_answers_every_generated_record(task):
    records = generate(task, 300, seed=3)
    assert len(records) == 300
    for record in records:
        assert solve(record.story, record.question) == record.answer, record


def stale_give_question(record):
    """bAbI's known flaw in qa5: a question about an earlier give is repeated after the same
    two people exchanged another object, so its answer is an older give's object."""
    m = re.fullmatch(r"What did (\w+) give to (\w+)\? ", record.question)
    given = [Scene(record.story[:i + 1]).gives[-1] for i, s in enumerate(record.story)
             if re.search(r" (gave|handed|passed) ", s)]
    return m and record.answer in [obj for g, obj, r in given if (g, r) == m.groups()]


@needs_babi
@pytest.mark.parametrize("task", TASKS)
def test_solver_answers_real_babi_train_records(task):
    records = load_babi(BABI_DIR, task, "train")
    wrong = [r for r in records if solve(r.story, r.question) != r.answer]
    if task == "qa5":  # 20 of 10000 in en-10k
        assert len(wrong) <= len(records) // 200 and all(map(stale_give_question, wrong))
    else:
        assert wrong == []


@needs_babi
@pytest.mark.parametrize("task", TASKS)
def test_generator_reproduces_real_answers_and_supporting_facts(task):
    """Replaying a real story through the generator's tracker offers the real question with
    the real answer and supporting facts (except qa5's stale questions)."""
    table = statement_table(task)
    misses = []
    for record in load_babi(BABI_DIR, task, "train"):
        tracker = Tracker(task, PLACES[task])
        for sentence in record.story:
            tracker.apply(table[sentence])
        offered = (record.question, record.answer, list(record.supporting))
        if offered not in tracker.questions():
            misses.append(record)
    assert all(task == "qa5" and stale_give_question(r) for r in misses)


@pytest.mark.parametrize("task", TASKS)
def test_questions_look_back_as_far_as_babi_asks(task):
    """Like every real bAbI question, a generated one has its latest supporting statement among
    the story's last LOOKBACK; most look back less, as in bAbI."""
    back = [len(r.story) - 1 - max(r.supporting) for r in generate(task, 500, seed=3)]
    assert max(back) == LOOKBACK - 1 or task == "qa4"
    assert max(back) < LOOKBACK and back.count(0) > back.count(LOOKBACK - 1)


@needs_babi
def test_real_babi_questions_look_back_at_most_lookback():
    for task in TASKS:
        for r in load_babi(BABI_DIR, task, "train"):
            assert len(r.story) - 1 - max(r.supporting) < LOOKBACK, (task, r)


@pytest.mark.parametrize("task", TASKS)
def test_built_samples_keep_facts_in_order(task):
    """The facts hidden in a built sample, read back in order, answer its question."""
    facts = re.compile("|".join(map(re.escape, sorted(statement_table(task), key=len,
                                                      reverse=True))))
    for sample in make_samples(task, "1k", 10, split="test", seed=5, progress=False):
        story = facts.findall(sample["input"])
        assert story and solve(story, sample["question"]) == sample["target"]
