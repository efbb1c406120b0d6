"""Scoring a generated answer against a BABILong target.

mode="official" reproduces BABILong's `compare_answers` exactly: lower-case the output, keep the
text before the first ".", find which of the task's labels occur in it as substrings, drop the
labels that occur in the question, and score correct iff the target is the only label left
(qa8: iff the labels left are exactly the comma-separated targets). Its quirks are kept: for
qa7 the label "one" is a substring of "none", so the answer "none" can never score; "no" is
found inside "not" or "know"; the official cut at "Question" never fires (the text is already
lower-cased).

mode="fixed" is the same rule with labels matched as whole words, so "none" is not "one".
"""
import re

from data.babilong.babi import check_task

HOUSE = ["bathroom", "bedroom", "garden", "hallway", "kitchen", "office"]
TASK_LABELS = {
    "qa1": HOUSE, "qa2": HOUSE, "qa3": HOUSE, "qa4": HOUSE,
    "qa5": ["Bill", "Fred", "Jeff", "Mary", "apple", "football", "milk"],
    "qa6": ["no", "yes"],
    "qa7": ["none", "one", "three", "two"],
    "qa8": ["apple", "football", "milk", "nothing"],
    "qa9": ["no", "yes"],
    "qa10": ["maybe", "no", "yes"],
}
MODES = ("official", "fixed")


def first_sentence(output):
    """BABILong's output clean-up: lower case, first sentence, no echoed prompt parts."""
    output = output.lower().split(".")[0]
    for marker in ("<context>", "<example>", "Question"):  # "Question" is a no-op, as upstream
        output = output.split(marker)[0]
    return output


def labels_in(text, labels, mode):
    if mode == "official":
        return {label for label in labels if label in text}
    return {label for label in labels if re.search(rf"\b{re.escape(label)}\b", text)}


def compare_answers(target, output, question, task, mode="official"):
    """True iff `output` answers a question of `task` whose answer is `target`."""
    check_task(task)
    if mode not in MODES:
        raise ValueError(f"unknown metric mode {mode!r}: expected one of {MODES}")
    labels = {label.lower() for label in TASK_LABELS[task]}
    target = target.lower()
    found = labels_in(first_sentence(output), labels, mode)
    found -= labels_in(question.lower(), labels, mode)  # a label in the question is not an answer
    if "," in target and len(target) > 3:  # qa8 lists several objects
        return found == set(target.split(","))
    return found == {target}
