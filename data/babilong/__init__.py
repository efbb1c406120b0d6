"""BABILong for lm2: bAbI stories (generated or read from the real files) hidden in long
background text, official-format files, tokenized training data and the official metric.

Modules: babi (records and reader), world + knowledge (story generator), textgen + haystack
(background text), build (samples), official (JSON/parquet files, download), tokenized
(training format), metric (scoring), prepare (command line).
"""
from data.babilong.babi import TASKS, Record, find_babi_file, load_babi, read_babi
from data.babilong.build import LENGTHS, make_samples, parse_length
from data.babilong.metric import TASK_LABELS, compare_answers
from data.babilong.official import download_official, load_official, write_official
from data.babilong.tokenized import (TokenizedSamples, encode_sample, format_answer,
                                     format_prompt, prepare_training_data, write_tokenized)
from data.babilong.world import generate
