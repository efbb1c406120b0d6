"""bAbI v1.2 records and a reader for the official `qaN_*_{train,test}.txt` files.

File format: one line per statement, `ID text`; a question line is `ID question<TAB>answer<TAB>ids`
where ids are the supporting statements' IDs; a story restarts when ID goes back to 1.
Every question becomes one Record holding the statements before it (earlier questions removed),
as in BABILong.
"""
from dataclasses import dataclass
from pathlib import Path

TASKS = [f"qa{i}" for i in range(1, 11)]


def check_task(task):
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")
    return task


@dataclass(frozen=True)
class Record:
    story: tuple        # statements before the question, earlier questions removed
    question: str       # with bAbI spacing: "Where is Mary? " (qa4 has no trailing space)
    answer: str         # qa8 joins several objects with commas: "football,apple"
    supporting: tuple   # 0-based indices into story of the facts that determine the answer


def read_babi(path):
    """All question records of one bAbI file, in file order."""
    path = Path(path)
    records, story = [], []
    index_of_id, last_id = {}, 0   # statement ID -> index in story (questions map to None)
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue

            def bad(problem):
                return ValueError(f"{path}:{lineno}: malformed bAbI line ({problem}): {line!r}")

            line_id, _, text = line.partition(" ")
            if not line_id.isdigit() or not text:
                raise bad("expected 'ID text'")
            line_id = int(line_id)
            if line_id == 1:
                story, index_of_id = [], {}
            elif line_id != last_id + 1:
                raise bad(f"ID {line_id} does not follow ID {last_id}")
            last_id = line_id
            if "\t" not in text:
                index_of_id[line_id] = len(story)
                story.append(text)
                continue
            fields = text.split("\t")
            if len(fields) != 3 or not fields[1]:
                raise bad("a question needs 'question<TAB>answer<TAB>supporting ids'")
            question, answer, ids = fields
            try:
                supporting = tuple(index_of_id[int(i)] for i in ids.split())
            except (ValueError, KeyError):
                supporting = ()
            if not supporting or None in supporting:
                raise bad(f"supporting ids {ids!r} must name earlier statements")
            index_of_id[line_id] = None
            records.append(Record(tuple(story), question, answer, supporting))
    return records


def find_babi_file(babi_dir, task, split):
    """The `qaN_*_{split}.txt` file for a task in babi_dir, or in its en-10k/ or en/ folder
    (the layout of the official tasks_1-20_v1-2 tarball; en-10k has no qa3 train file here)."""
    check_task(task)
    babi_dir = Path(babi_dir)
    for folder in (babi_dir, babi_dir / "en-10k", babi_dir / "en"):
        matches = sorted(folder.glob(f"{task}_*_{split}.txt"))
        if matches:
            return matches[0]
    raise FileNotFoundError(
        f"no bAbI file {task}_*_{split}.txt in {babi_dir} (nor in its en-10k/ or en/ folders)")


def load_babi(babi_dir, task, split):
    return read_babi(find_babi_file(babi_dir, task, split))
