"""Golden cases for compare_answers in its official (BABILong, quirks included) and fixed modes."""
import pytest

from data.babilong.metric import TASK_LABELS, compare_answers

BOTH = ("official", "fixed")


@pytest.mark.parametrize("mode", BOTH)
@pytest.mark.parametrize("target, output, question, task, correct", [
    ("bathroom", "bathroom", "Where is Mary? ", "qa1", True),
    ("bathroom", " The Bathroom. Then the kitchen.", "Where is Mary? ", "qa1", True),
    ("bathroom", "kitchen", "Where is Mary? ", "qa1", False),
    ("bathroom", "bathroom or kitchen", "Where is Mary? ", "qa1", False),
    ("bathroom", "", "Where is Mary? ", "qa1", False),
    # labels named in the question never count
    ("office", "The office is north of the kitchen.", "What is north of the kitchen?", "qa4", True),
    ("Jeff", "Jeff gave the apple to Fred", "Who gave the apple to Fred? ", "qa5", True),
    ("Jeff", "Fred", "Who gave the apple to Fred? ", "qa5", False),
    ("yes", "yes", "Is John in the kitchen? ", "qa6", True),
    ("one", "one", "How many objects is Mary carrying? ", "qa7", True),
    ("one", "none", "How many objects is Mary carrying? ", "qa7", False),
    ("two", "two objects", "How many objects is Mary carrying? ", "qa7", True),
    # qa8: lists in any order, and nothing more
    ("football,apple", "apple,football", "What is Mary carrying? ", "qa8", True),
    ("football,apple", "apple and football", "What is Mary carrying? ", "qa8", True),
    ("football,apple", "apple", "What is Mary carrying? ", "qa8", False),
    ("football,apple", "apple, football, milk", "What is Mary carrying? ", "qa8", False),
    ("nothing", "nothing", "What is Mary carrying? ", "qa8", True),
    ("maybe", "maybe", "Is Bill in the park? ", "qa10", True),
    ("no", "yes", "Is Bill in the park? ", "qa10", False),
])
def test_golden_cases(target, output, question, task, correct, mode):
    assert compare_answers(target, output, question, task, mode=mode) is correct


def test_official_quirks_and_their_fixes():
    q = "How many objects is Mary carrying? "
    # "one" is a substring of "none": officially "none" can never be right
    assert not compare_answers("none", "none", q, "qa7")
    assert compare_answers("none", "none", q, "qa7", mode="fixed")
    # "no" hides in "not" and "know"
    assert compare_answers("no", "I do not know", "Is John in the kitchen? ", "qa6")
    assert not compare_answers("no", "I do not know", "Is John in the kitchen? ", "qa6",
                               mode="fixed")


def test_labels_and_errors():
    assert set(TASK_LABELS) == {f"qa{i}" for i in range(1, 11)}
    assert TASK_LABELS["qa7"] == ["none", "one", "three", "two"]
    with pytest.raises(ValueError, match="qa11"):
        compare_answers("yes", "yes", "", "qa11")
    with pytest.raises(ValueError, match="strict"):
        compare_answers("yes", "yes", "", "qa6", mode="strict")
