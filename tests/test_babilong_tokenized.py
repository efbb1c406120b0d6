"""The training format: prompt layout, loss mask, memory-mapped files and their errors."""
import numpy as np
import pytest

from data.babilong.build import make_samples
from data.babilong.tokenized import (TokenizedSamples, build_training_data, encode_sample,
                                     format_answer, format_prompt, prepare_training_data,
                                     source_tag, write_tokenized)
from tokenizer import EOT, decode

RECORD = {"input": "Mary went to the office. <|endoftext|> is plain text here.",
          "question": "Where is Mary? ", "target": "office"}


def test_prompt_layout_and_mask():
    assert format_prompt("Facts.", "Where is Mary? ") == "Facts.\nQuestion: Where is Mary?\nAnswer:"
    assert format_answer("office") == " office"
    ids, mask = encode_sample(RECORD)
    assert ids[-1] == EOT and list(ids).count(EOT) == 1
    prompt = format_prompt(RECORD["input"], RECORD["question"])
    assert decode(ids[:-1]) == prompt + " office"
    assert decode(ids[~mask]) == prompt and decode(ids[mask][:-1]) == " office"
    assert mask[-1] and mask.sum() == len(ids) - len(ids[~mask])


def test_write_and_read_back(tmp_path):
    records = make_samples("qa1", "1k", 4, split="test", progress=False) + [RECORD]
    write_tokenized(records, tmp_path / "part", progress=False)
    ds = TokenizedSamples(tmp_path / "part")
    assert len(ds) == 5 and not list(tmp_path.glob("*.tmp"))
    for i, record in enumerate(records):
        ids, mask = ds[i]
        expected_ids, expected_mask = encode_sample(record)
        assert ids.dtype == np.int64 and mask.dtype == bool
        assert np.array_equal(ids, expected_ids) and np.array_equal(mask, expected_mask)
        assert ds.lengths[i] == len(ids)
    assert np.array_equal(ds[-1][0], ds[4][0])
    with pytest.raises(IndexError):
        ds[5]


def test_empty_and_broken_files(tmp_path):
    write_tokenized([], tmp_path / "empty", progress=False)
    assert len(TokenizedSamples(tmp_path / "empty")) == 0
    with pytest.raises(FileNotFoundError, match=r"nothing\.tokens\.bin"):
        TokenizedSamples(tmp_path / "nothing")
    write_tokenized([RECORD], tmp_path / "cut", progress=False)
    tokens = tmp_path / "cut.tokens.bin"
    tokens.write_bytes(tokens.read_bytes()[:-2])
    with pytest.raises(ValueError, match=r"cut\.tokens\.bin"):
        TokenizedSamples(tmp_path / "cut")


def test_prepare_training_data_builds_only_missing_files(tmp_path, monkeypatch):
    args = dict(out_dir=tmp_path, tasks=["qa1", "qa6"], lengths=["0k", "1k"], n=3,
                split="train", seed=0, progress=False)
    prefixes = prepare_training_data(**args)
    assert set(prefixes) == {(t, n) for t in ("qa1", "qa6") for n in ("0k", "1k")}
    assert all(len(TokenizedSamples(p)) == 3 for p in prefixes.values())

    def no_rebuild(*args, **kwargs):
        raise AssertionError("existing data was rebuilt")
    monkeypatch.setattr("data.babilong.tokenized.make_samples", no_rebuild)
    assert prepare_training_data(**args) == prefixes


def test_parallel_build_writes_the_same_files_as_one_process(tmp_path, monkeypatch):
    jobs = [dict(out_dir=tmp_path / way, tasks=[task], lengths=[length], n=4, split="train",
                 seed=0, prompt_format="qboth", max_facts=facts)
            for way in ("serial", "parallel") for task, length, facts in
            (("qa1", "0k", 2), ("qa1", "0k", 0), ("qa2", "1k", 0))]
    build_training_data(jobs[:3])  # 4 samples: under the threshold, built here one by one
    monkeypatch.setattr("data.babilong.tokenized.PARALLEL_BUILD_TOKENS", 0)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    build_training_data(jobs[3:], progress=False)  # two worker processes
    serial, parallel = (sorted(p.name for p in (tmp_path / way).glob("*.bin"))
                        for way in ("serial", "parallel"))
    assert len(serial) == 6 and serial == parallel
    for name in serial:
        assert (tmp_path / "serial" / name).read_bytes() == (tmp_path / "parallel" / name).read_bytes()


def test_file_names_tell_sources_apart():
    tags = {source_tag(None, None), source_tag(None, "pg19"), source_tag("babi", None),
            source_tag(None, ["a.txt"]), source_tag(None, ["b.txt"])}
    assert len(tags) == 5 and source_tag(None, None) == "gen2-builtin"


def test_question_before_and_after_the_input():
    assert format_prompt("Facts.", "Where is Mary? ", "qboth") == \
        "Question: Where is Mary?\nFacts.\nQuestion: Where is Mary?\nAnswer:"
    assert format_prompt("Facts.", "Where is Mary? ", "qlast") == format_prompt("Facts.", "Where is Mary? ")
    with pytest.raises(ValueError, match="prompt_format='qfirst'"):
        format_prompt("Facts.", "Where is Mary? ", "qfirst")


@pytest.mark.parametrize("prompt_format", ["qlast", "qboth"])
def test_further_questions_mask_exactly_their_answers(prompt_format):
    record = {**RECORD, "more": [["Where is John? ", "garden"], ["Where is Sandra? ", "hallway"]]}
    ids, mask = encode_sample(record, prompt_format)
    prompt = format_prompt(RECORD["input"], RECORD["question"], prompt_format)
    assert decode(ids) == (prompt + " office<|endoftext|>\nQuestion: Where is John?\nAnswer: garden"
                           "<|endoftext|>\nQuestion: Where is Sandra?\nAnswer: hallway<|endoftext|>")
    assert decode(ids[mask]) == " office<|endoftext|> garden<|endoftext|> hallway<|endoftext|>"
    first, _ = encode_sample(RECORD, prompt_format)  # the eval prompt + first answer is a prefix
    assert np.array_equal(ids[:len(first)], first)


def test_dense_questions_come_from_the_same_story():
    plain = make_samples("qa1", "0k", 20, split="train", progress=False)
    dense = make_samples("qa1", "0k", 20, split="train", progress=False, more_questions=3)
    assert [{k: r[k] for k in plain[0]} for r in dense] == plain  # the samples are unchanged
    for record in dense:
        assert len(record["more"]) <= 3
        for question, answer in record["more"]:
            actor = question.split()[2].rstrip("?")
            moves = [s for s in record["input"].split(". ") if s.startswith(actor + " ")]
            assert question != record["question"] and moves[-1].rstrip(".").endswith(" " + answer)
    assert sum(len(r["more"]) for r in dense) > 20


@pytest.mark.parametrize("prompt_format", ["qlast", "qboth"])
def test_questions_inside_the_input_mask_exactly_their_answers(prompt_format):
    story = "Mary went to the office. John went to the garden. Mary moved to the hallway."
    record = {"input": story, "question": "Where is Mary? ", "target": "hallway",
              "inline": [[24, "Where is Mary? ", "office"], [49, "Where is Mary? ", "office"]]}
    ids, mask = encode_sample(record, prompt_format)
    asked = ("Mary went to the office.\nQuestion: Where is Mary?\nAnswer: office<|endoftext|>"
             " John went to the garden.\nQuestion: Where is Mary?\nAnswer: office<|endoftext|>"
             " Mary moved to the hallway.")
    prompt = format_prompt(asked, "Where is Mary? ", prompt_format)
    assert decode(ids) == prompt + " hallway<|endoftext|>"
    assert decode(ids[mask]) == " office<|endoftext|> office<|endoftext|> hallway<|endoftext|>"
