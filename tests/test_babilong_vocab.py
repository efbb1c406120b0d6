"""The generator speaks exactly bAbI v1.2's language, task by task: its sentence and question
templates, names, places, objects and answers all occur in the real files, and every real
template occurs in generated data."""
import re
from pathlib import Path

import pytest

from data.babilong.babi import TASKS, load_babi
from data.babilong.world import generate

BABI_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "babi"
pytestmark = pytest.mark.needs_path(BABI_DIR)

NAMES = r"\b(Mary|John|Sandra|Daniel|Bill|Fred|Jeff|Julie)\b"
PLACES = r"\b(bathroom|bedroom|garden|hallway|kitchen|office|cinema|park|school)\b"
OBJECTS = r"\b(apple|football|milk)\b"


def vocabulary(records):
    """Templates (names -> P, places -> L, objects -> O), the words in each slot, answers."""
    lines = {s for r in records for s in r.story} | {r.question for r in records}
    template = lambda line: re.sub(OBJECTS, "O", re.sub(PLACES, "L", re.sub(NAMES, "P", line)))
    return {"templates": {template(line) for line in lines},
            "names": {w for line in lines for w in re.findall(NAMES, line)},
            "places": {w for line in lines for w in re.findall(PLACES, line)},
            "objects": {w for line in lines for w in re.findall(OBJECTS, line)},
            "answers": {r.answer for r in records}}


@pytest.mark.parametrize("task", TASKS)
def test_generated_vocabulary_matches_real_files(task):
    real = vocabulary(load_babi(BABI_DIR, task, "train"))
    generated = vocabulary(generate(task, 600, seed=11))
    for kind in generated:
        assert generated[kind] <= real[kind], (kind, generated[kind] - real[kind])
    assert generated["templates"] == real["templates"]
    for kind in ("names", "places", "objects"):
        assert generated[kind] == real[kind], kind
