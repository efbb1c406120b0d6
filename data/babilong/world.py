"""A bAbI-style world simulation that writes stories and questions for tasks qa1-qa10.

Each story has a hidden true state (where every actor is, where every object lies or who holds
it) that keeps it consistent: people move, pick up objects where they are, put them down, and
hand them to someone in the same place. Every event is narrated as one sentence in the exact
surface forms of bAbI v1.2. A Tracker (knowledge.py) follows only what was narrated; after
every two statements a question is asked, and only one the narration answers and whose last
supporting statement is among the latest LOOKBACK (five questions per story, one for qa4, as in
bAbI). Seeded and reproducible.

Events are tuples: ("move", actor, place), ("get", actor, obj), ("drop", actor, obj),
("give", actor, obj, receiver), ("rel", place, direction, place), ("is", actor, place),
("not", actor, place), ("either", actor, place, place).
"""
import functools
import itertools
import random

from data.babilong.babi import TASKS, Record, check_task
from data.babilong.knowledge import OPPOSITE, Tracker

ACTORS = {**dict.fromkeys(TASKS, ("John", "Mary", "Sandra", "Daniel")),
          "qa5": ("Bill", "Fred", "Jeff", "Mary"), "qa10": ("Bill", "Fred", "Julie", "Mary")}
PLACES = {**dict.fromkeys(TASKS, ("bathroom", "bedroom", "garden", "hallway", "kitchen", "office")),
          "qa10": ("bedroom", "cinema", "kitchen", "office", "park", "school")}
OBJECTS = ("apple", "football", "milk")

MOVE_VERBS = ("moved", "went", "journeyed", "travelled", "went back")
GET_VERBS = ("got", "took", "picked up", "grabbed")
DROP_VERBS = ("dropped", "discarded", "put down", "left")
GIVE_VERBS = ("gave", "handed", "passed")

# Which events each task narrates, and how often (bAbI's rough proportions).
KINDS = {"qa1": ("move",), "qa4": ("rel",), "qa9": ("move", "is", "not"),
         "qa10": ("move", "is", "either"),
         **dict.fromkeys(("qa2", "qa3", "qa6", "qa8"), ("move", "get", "drop")),
         **dict.fromkeys(("qa5", "qa7"), ("move", "get", "drop", "give"))}
WEIGHTS = {"move": 2, "get": 1, "drop": 1, "give": 4, "is": 1, "not": 1, "either": 1}
# Share of get/drop sentences ending in " there" (qa3 mixes both forms for gets, other tasks
# always say it; drops say it about one time in five).
GET_THERE = {"qa3": 0.2}
DROP_THERE = 0.2
STATEMENTS_PER_QUESTION = 2
# In all of bAbI v1.2's training files (qa1-qa20), a question's most recent supporting statement
# is one of the last five of its story; earlier ones may lie further back (qa2, qa3, qa7, qa8).
LOOKBACK = 5
MAX_STORY_STATEMENTS = 400  # give up on a story that never becomes askable


def sentence_forms(event, task):
    """Every bAbI sentence that narrates `event` in `task`, with its relative frequency."""
    kind, subject, *args = event
    if kind == "move":
        return [(f"{subject} {verb} to the {args[0]}.", 1) for verb in MOVE_VERBS]
    if kind in ("get", "drop"):
        verbs = GET_VERBS if kind == "get" else DROP_VERBS
        there = GET_THERE.get(task, 1.0) if kind == "get" else DROP_THERE
        forms = [(f"{subject} {verb} the {args[0]} there.", there) for verb in verbs]
        forms += [(f"{subject} {verb} the {args[0]}.", 1 - there) for verb in verbs]
        return [(sentence, weight) for sentence, weight in forms if weight > 0]
    if kind == "give":
        return [(f"{subject} {verb} the {args[0]} to {args[1]}.", 1) for verb in GIVE_VERBS]
    if kind == "rel":
        return [(f"The {subject} is {args[0]} of the {args[1]}.", 1)]
    if kind == "is":
        return [(f"{subject} is in the {args[0]}.", 1)]
    if kind == "not":
        return [(f"{subject} is not in the {args[0]}.", 1),
                (f"{subject} is no longer in the {args[0]}.", 1)]
    if kind == "either":
        return [(f"{subject} is either in the {args[0]} or the {args[1]}.", 1)]
    raise ValueError(f"unknown event kind {kind!r} in {event!r}")


def all_events(task):
    """Every event a bAbI story of the task may narrate (used to read sentences back into
    events). Real qa10 files also say "X is either in the park or the park."; the generator
    never does, but the pair is listed so that such files can be read."""
    actors, places = ACTORS[check_task(task)], PLACES[task]
    pairs = [(a, b) for a, b in itertools.product(places, places) if a != b]
    events = {
        "move": [("move", a, p) for a in actors for p in places],
        "is": [("is", a, p) for a in actors for p in places],
        "not": [("not", a, p) for a in actors for p in places],
        "either": [("either", a, p, q) for a in actors for p in places for q in places],
        "get": [("get", a, o) for a in actors for o in OBJECTS],
        "drop": [("drop", a, o) for a in actors for o in OBJECTS],
        "give": [("give", a, o, b) for a in actors for o in OBJECTS for b in actors if a != b],
        "rel": [("rel", p, d, q) for p, q in pairs for d in OPPOSITE],
    }
    return [event for kind in KINDS[task] for event in events[kind]]


def statement_table(task):
    """{sentence: event} for every sentence the task's stories can contain."""
    return {sentence: event for event in all_events(task)
            for sentence, _ in sentence_forms(event, task)}


class HiddenWorld:
    """The true state of one story; proposes only events that keep it consistent."""

    def __init__(self, task, rng):
        self.task, self.rng = task, rng
        self.actors, self.places = ACTORS[task], PLACES[task]
        self.at = {actor: rng.choice(self.places) for actor in self.actors}
        self.lies_at = {obj: rng.choice(self.places) for obj in OBJECTS}  # objects nobody holds
        self.holder = {}
        self.planned = self._line_of_places() if task == "qa4" else []

    def _line_of_places(self):
        """qa4: three places in a row (north to south or east to west), each adjacent pair
        stated once in either direction."""
        a, b, c = self.rng.sample(self.places, 3)
        direction = self.rng.choice(("north", "east"))
        facts = [("rel", x, direction, y) if self.rng.random() < 0.5
                 else ("rel", y, OPPOSITE[direction], x) for x, y in ((a, b), (b, c))]
        self.rng.shuffle(facts)
        return facts

    def options(self, kind):
        at, places = self.at, self.places
        if kind == "move":  # meeting places count twice, so that gives have a chance
            meeting = {at[a] for a in self.actors}
            return [("move", a, p) for a in self.actors for p in places if p != at[a]
                    for _ in range(1 + (p in meeting))]
        if kind == "get":
            return [("get", a, o) for a in self.actors for o, p in self.lies_at.items()
                    if p == at[a]]
        if kind == "drop":
            return [("drop", a, o) for o, a in self.holder.items()]
        if kind == "give":
            return [("give", a, o, b) for o, a in self.holder.items() for b in self.actors
                    if b != a and at[b] == at[a]]
        if kind == "is":
            return [("is", a, p) for a in self.actors for p in places]
        if kind == "not":
            return [("not", a, p) for a in self.actors for p in places if p != at[a]]
        if kind == "either":  # the actor may have moved unseen to either place
            return [("either", a, p, q) for a in self.actors for p in places for q in places
                    if p != q]
        raise ValueError(f"unknown event kind {kind!r}")

    def next_event(self):
        if self.planned:
            return self.planned.pop(0)
        options = {kind: self.options(kind) for kind in KINDS[self.task]}
        kinds = [kind for kind in options if options[kind]]
        kind = self.rng.choices(kinds, weights=[WEIGHTS[k] for k in kinds])[0]
        event = self.rng.choice(options[kind])
        self.apply(event)
        return event

    def apply(self, event):
        kind, actor, *args = event
        if kind in ("move", "is"):
            self.at[actor] = args[0]
        elif kind == "either":
            self.at[actor] = self.rng.choice(args)
        elif kind == "get":
            del self.lies_at[args[0]]
            self.holder[args[0]] = actor
        elif kind == "drop":
            del self.holder[args[0]]
            self.lies_at[args[0]] = self.at[actor]
        elif kind == "give":
            self.holder[args[0]] = args[1]


@functools.lru_cache(maxsize=None)
def _statement_table(task):
    return statement_table(task)


def story_questions(task, story):
    """Every (question, answer) a story determines at its end, read back through the Tracker:
    the pool dense supervision draws further questions from (generated or real bAbI stories)."""
    table, tracker = _statement_table(task), Tracker(task, PLACES[task])
    for sentence in story:
        if sentence not in table:
            raise ValueError(f"{task}: not a bAbI statement of this task: {sentence!r}")
        tracker.apply(table[sentence])
    return [(question, answer) for question, answer, _ in tracker.questions()]


def pick_question(candidates, rng):
    """Choose an answer uniformly among those on offer, then a question with that answer, so
    that labels stay balanced (yes/no, counts, places) instead of following the story."""
    by_answer = {}
    for question, answer, supporting in candidates:
        by_answer.setdefault(answer, []).append((question, answer, supporting))
    return rng.choice(by_answer[rng.choice(list(by_answer))])


def story_records(task, rng):
    """The question records of one story."""
    world, tracker, story = HiddenWorld(task, rng), Tracker(task, PLACES[task]), []
    questions_left = 1 if task == "qa4" else 5
    while questions_left and len(story) < MAX_STORY_STATEMENTS:
        for _ in range(STATEMENTS_PER_QUESTION):
            event = world.next_event()
            tracker.apply(event)
            sentences, weights = zip(*sentence_forms(event, task))
            story.append(rng.choices(sentences, weights=weights)[0])
        candidates = [c for c in tracker.questions() if max(c[2]) >= len(story) - LOOKBACK]
        if candidates:
            question, answer, supporting = pick_question(candidates, rng)
            yield Record(tuple(story), question, answer, tuple(supporting))
            questions_left -= 1


def iter_records(task, seed=0):
    """An endless, reproducible stream of records for one task."""
    rng = random.Random(f"{check_task(task)}/{seed}")
    while True:
        yield from story_records(task, rng)


def generate(task, n, seed=0):
    """n question records (stories, questions, answers, supporting facts) for a task."""
    return list(itertools.islice(iter_records(task, seed), n))
