"""The research tools' reading of qa1 stories (experiments/): which statements a sample holds,
what a wrong answer names, and which segment the answer's fact lies in."""
from types import SimpleNamespace

from data.babilong.build import make_samples
from experiments.memory_gates import statement_segments
from experiments.qa1_errors import error_kind, segments_back, tokens_around_last_move
from experiments.recipe_probe import statements

STORY = {"input": "Mary went to the kitchen. Mary moved to the office. Sandra went to the hallway. "
                  "John went to the garden.",
         "question": "Where is Mary?", "target": "office"}


def test_statements_are_the_story_whether_hidden_in_text_or_not():
    """The same stories at 0k and hidden at 1k; in the fifth, a statement follows the background
    sentence cut to meet the budget ("... The ferry Daniel journeyed to the garden.")."""
    bare = make_samples("qa1", "0k", 5, split="test", progress=False)
    hidden = make_samples("qa1", "1k", 5, split="test", progress=False)
    assert [r["question"] for r in bare] == [r["question"] for r in hidden]
    assert [statements(r) for r in hidden] == [statements(r) for r in bare]
    assert statements(bare[4])[-2] == ["Daniel", "journeyed", "to", "the", "garden"]
    assert "The ferry Daniel journeyed" in hidden[4]["input"]


def test_wrong_answers_are_classified_by_the_place_they_name():
    assert error_kind(STORY, "kitchen") == "an earlier place of the asked person"
    assert error_kind(STORY, "garden") == "the last statement's place (another person)"
    assert error_kind(STORY, "hallway.") == "an earlier place of another person"
    assert error_kind(STORY, "bedroom") == "no place of the story"
    assert error_kind(STORY, "") == "no place of the story"


def test_segments_back_counts_segments_between_the_fact_and_the_prompts_end():
    # "Mary moved to the office" starts after 7 prompt tokens; from it to "Answer:" are 28 more
    assert tokens_around_last_move(STORY, "qlast") == (7, 28)
    assert tokens_around_last_move(STORY, "qboth") == (14, 28)   # the question comes first too
    lm2 = lambda segment_len: SimpleNamespace(memory="lm2", segment_len=segment_len)
    assert segments_back(STORY, lm2(35), "qlast") == 0    # one segment holds the whole prompt
    assert segments_back(STORY, lm2(28), "qlast") == 1    # tokens 0-27, then 28-34
    assert segments_back(STORY, lm2(7), "qlast") == 3     # the fact opens the 2nd of 5 segments
    assert segments_back(STORY, lm2(14), "qboth") == 1    # 42 tokens: the fact opens the 2nd of 3
    vanilla = lambda window: SimpleNamespace(memory="none", segment_len=window)
    assert segments_back(STORY, vanilla(1024), "qlast") == 0
    assert segments_back(STORY, vanilla(28), "qlast") == 1   # no room left for the answer


def test_statement_segments_name_every_segment_a_statement_touches():
    """memory_gates.py splits segments into those holding a statement and haystack alone. Here
    the statement is tokens 16-21 (" Mary" ... "."), after 4 x 4 tokens of haystack: a segment
    boundary inside it puts it in both segments."""
    prompt = "The ferry sailed. " * 4 + "Mary went to the kitchen. The end."
    assert statement_segments(prompt, 8) == {2}
    assert statement_segments(prompt, 16) == {1}
    assert statement_segments(prompt, 17) == {0, 1}
    assert statement_segments(prompt, 4) == {4, 5}
    assert statement_segments(STORY["input"], 1000) == {0}
    assert statement_segments("The ferry sailed.", 4) == set()
