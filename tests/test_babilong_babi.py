"""The bAbI reader (records, clear errors for malformed files) and the generator's basics."""
from pathlib import Path

import pytest

from data.babilong.babi import Record, find_babi_file, read_babi
from data.babilong.world import generate

BABI_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "babi"

STORY = ("1 Mary moved to the bathroom.\n2 John went to the hallway.\n"
         "3 Where is Mary? \tbathroom\t1\n4 Mary went back to the garden.\n"
         "5 Where is Mary? \tgarden\t4\n1 Sandra journeyed to the office.\n"
         "2 Where is Sandra? \toffice\t1\n")


def test_reader_makes_one_record_per_question(tmp_path):
    path = tmp_path / "qa1_single-supporting-fact_test.txt"
    path.write_text(STORY)
    assert read_babi(path) == [
        Record(("Mary moved to the bathroom.", "John went to the hallway."),
               "Where is Mary? ", "bathroom", (0,)),
        Record(("Mary moved to the bathroom.", "John went to the hallway.",
                "Mary went back to the garden."), "Where is Mary? ", "garden", (2,)),
        Record(("Sandra journeyed to the office.",), "Where is Sandra? ", "office", (0,))]
    assert find_babi_file(tmp_path, "qa1", "test") == path


@pytest.mark.parametrize("line, problem", [
    ("Mary moved to the office.", "expected 'ID text'"),
    ("3 Where is Mary? \tbathroom", "question needs"),
    ("3 Where is Mary? \tbathroom\t7", "supporting ids"),
    ("3 Where is Mary? \tbathroom\tone", "supporting ids"),
    ("5 Mary moved to the office.", "does not follow"),
])
def test_malformed_lines_name_file_and_line(tmp_path, line, problem):
    path = tmp_path / "qa1_x_train.txt"
    path.write_text("1 Mary moved to the bathroom.\n2 John went to the hallway.\n" + line + "\n")
    with pytest.raises(ValueError, match=rf"qa1_x_train\.txt:3: malformed bAbI line \(.*{problem}"):
        read_babi(path)


def test_find_babi_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"qa2_\*_test\.txt"):
        find_babi_file(tmp_path, "qa2", "test")
    with pytest.raises(ValueError, match="unknown task 'qa21'"):
        find_babi_file(tmp_path, "qa21", "test")


@pytest.mark.needs_path(BABI_DIR)
def test_find_babi_file_in_the_tarball_layout():
    # en-10k lacks qa3, so the en/ file is found
    assert find_babi_file(BABI_DIR, "qa3", "train").parent.name == "en"
    assert find_babi_file(BABI_DIR, "qa1", "train").parent.name == "en-10k"


def test_generator_is_seeded():
    assert generate("qa5", 40, seed=0) == generate("qa5", 40, seed=0)
    assert generate("qa5", 40, seed=0) != generate("qa5", 40, seed=1)
    for record in generate("qa8", 40):
        assert all(0 <= i < len(record.story) for i in record.supporting)
