"""What a reader knows after each statement of a bAbI story, and the questions it can answer.

The Tracker sees only narrated events (see world.py for their tuples), never the hidden state,
so a question it offers is determined by the story. Answers and supporting facts follow bAbI
v1.2's conventions, checked against the real files in the tests: e.g. qa2 cites the object's
last event and then the move that places it; qa3 the object's last event, the move that brought
it to the asked place and the move before; qa7 every object event of the person in story order;
qa8 the same events grouped by object, objects in the order first acquired.
"""
from collections import defaultdict

NUMBER_WORDS = ("none", "one", "two", "three")
OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}


class Tracker:
    def __init__(self, task, places):
        self.task, self.places = task, places  # places: those a yes/no question may name
        self.n_statements = 0
        self.whereabouts = {}                 # actor -> ("at"|"not"|"either", places, statement)
        self.holder = {}                      # object -> actor holding it
        self.last_object_event = {}           # object -> statement
        self.put_down_at = {}                 # object -> (place, move statement) or None
        self.history = defaultdict(list)      # object -> [(place, statement that put it there)]
        self.object_events = defaultdict(list)  # actor -> [(statement, object)]
        self.gives = []                       # (giver, object, receiver, statement)
        self.relations = []                   # (place, direction, place, statement)

    def known_place(self, actor):
        """(place, statement that says so) when the story pins the actor down, else None."""
        kind, places, statement = self.whereabouts.get(actor, (None, (), None))
        return (places[0], statement) if kind == "at" else None

    def _object_reaches(self, obj, place_and_statement):
        history = self.history[obj]
        if place_and_statement and (not history or history[-1][0] != place_and_statement[0]):
            history.append(place_and_statement)

    def apply(self, event):
        i, (kind, subject, *args) = self.n_statements, event
        self.n_statements += 1
        if kind in ("move", "is"):
            self.whereabouts[subject] = ("at", (args[0],), i)
            for obj, holder in self.holder.items():
                if holder == subject:
                    self._object_reaches(obj, (args[0], i))
        elif kind in ("not", "either"):
            self.whereabouts[subject] = (kind, tuple(args), i)
        elif kind == "rel":
            self.relations.append((subject, args[0], args[1], i))
        else:  # get, drop, give
            obj = args[0]
            self.last_object_event[obj] = i
            self.object_events[subject].append((i, obj))
            if kind == "get":
                self.holder[obj] = subject
                self._object_reaches(obj, self.known_place(subject))
            elif kind == "drop":
                del self.holder[obj]
                self.put_down_at[obj] = self.known_place(subject)
            else:
                self.holder[obj] = args[1]
                self.object_events[args[1]].append((i, obj))
                self.gives.append((subject, obj, args[1], i))

    def questions(self):
        """Every (question, answer, supporting statements) the story so far determines."""
        return list(getattr(self, "_questions_" + self.task)())

    def _questions_qa1(self):
        for actor in self.whereabouts:
            if self.known_place(actor):
                place, statement = self.known_place(actor)
                yield f"Where is {actor}? ", place, [statement]

    def _questions_qa2(self):
        for obj, statement in self.last_object_event.items():
            holder = self.holder.get(obj)
            located = self.known_place(holder) if holder else self.put_down_at[obj]
            if located:
                yield f"Where is the {obj}? ", located[0], [statement, located[1]]

    def _questions_qa3(self):
        for obj, history in self.history.items():
            last_visit = {place: k for k, (place, _) in enumerate(history)}
            for place, k in last_visit.items():
                if k > 0:
                    before, moved_before = history[k - 1]
                    support = [self.last_object_event[obj], history[k][1], moved_before]
                    yield f"Where was the {obj} before the {place}? ", before, support

    def _questions_qa4(self):
        for a, direction, b, statement in self.relations:
            opposite = OPPOSITE[direction]
            for question, answer in ((f"What is {direction} of the {b}?", a),
                                     (f"What is the {a} {direction} of?", b),
                                     (f"What is {opposite} of the {a}?", b),
                                     (f"What is the {b} {opposite} of?", a)):
                yield question, answer, [statement]

    def _questions_qa5(self):
        # Each question is about the latest give it matches, as in bAbI.
        latest = {}
        for giver, obj, receiver, statement in self.gives:
            for question, answer in ((f"What did {giver} give to {receiver}? ", obj),
                                     (f"Who did {giver} give the {obj} to? ", receiver),
                                     (f"Who gave the {obj} to {receiver}? ", giver),
                                     (f"Who gave the {obj}? ", giver),
                                     (f"Who received the {obj}? ", receiver)):
                latest[question] = (answer, statement)
        for question, (answer, statement) in latest.items():
            yield question, answer, [statement]

    def _yes_no_maybe(self):
        for actor, (kind, places, statement) in self.whereabouts.items():
            asked = places if kind == "not" else self.places
            for place in asked:
                if kind == "at":
                    answer = "yes" if place == places[0] else "no"
                else:
                    answer = "maybe" if kind == "either" and place in places else "no"
                yield f"Is {actor} in the {place}? ", answer, [statement]

    _questions_qa6 = _questions_qa9 = _questions_qa10 = _yes_no_maybe

    def carrying(self, actor):
        """Objects the actor holds, in the order the actor first acquired them."""
        first_seen = {}
        for statement, obj in self.object_events[actor]:
            first_seen.setdefault(obj, statement)
        return [obj for obj in first_seen if self.holder.get(obj) == actor]

    def _questions_qa7(self):
        for actor, events in self.object_events.items():
            if events:
                count = NUMBER_WORDS[len(self.carrying(actor))]
                yield (f"How many objects is {actor} carrying? ", count,
                       [statement for statement, _ in events])

    def _questions_qa8(self):
        for actor, events in self.object_events.items():
            if events:
                order = list(dict.fromkeys(obj for _, obj in events))
                support = [s for obj in order for s, o in events if o == obj]
                answer = ",".join(self.carrying(actor)) or "nothing"
                yield f"What is {actor} carrying? ", answer, support
