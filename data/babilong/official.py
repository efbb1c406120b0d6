"""Official-format BABILong data: `DIR/qaN/{len}.json`, each a JSON array of
{"input", "question", "target"} objects, the layout of the HF dataset RMT-team/babilong.
Also reads the parquet files of RMT-team/babilong-1k-samples (`DIR/{len}/qaN-*.parquet`) and
downloads the official JSON files for users with internet.
"""
import json
import os
import urllib.request
from pathlib import Path

from data.babilong.babi import check_task

FIELDS = ("input", "question", "target")
OFFICIAL_URL = ("https://huggingface.co/datasets/RMT-team/babilong/resolve/main/data/"
                "{task}/{length}.json")


def official_path(data_dir, task, length):
    return Path(data_dir) / check_task(task) / f"{length}.json"


def check_records(records, source):
    """Records must be a list of objects with string fields input, question and target."""
    if not isinstance(records, list):
        raise ValueError(f"{source}: expected a JSON array of records, "
                         f"got {type(records).__name__}")
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise ValueError(f"{source}: record {i} is not an object")
        for field in FIELDS:
            if not isinstance(record.get(field), str):
                problem = "is missing" if field not in record else "is not a string"
                raise ValueError(f"{source}: record {i}: field {field!r} {problem}")
    return [{field: record[field] for field in FIELDS} for record in records]


def write_official(records, data_dir, task, length):
    """Write DIR/qaN/{len}.json atomically (a temp file, then os.replace)."""
    path = official_path(data_dir, task, length)
    records = check_records(records, f"records for {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(records, f, ensure_ascii=False)
    os.replace(tmp, path)
    return path


def load_official(data_dir, task, length):
    """Records of DIR/qaN/{len}.json, or else of DIR/{len}/qaN-*.parquet."""
    path = official_path(data_dir, task, length)
    if path.is_file():
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from e
        return check_records(records, path)
    parquet_files = sorted((Path(data_dir) / length).glob(f"{task}-*.parquet"))
    if not parquet_files:
        raise FileNotFoundError(f"no BABILong data for {task} {length}: neither {path} nor "
                                f"{Path(data_dir) / length / (task + '-*.parquet')} exists")
    try:
        import pyarrow.parquet
    except ImportError:
        raise ImportError(f"reading {parquet_files[0]} needs pyarrow (pip install pyarrow), or "
                          f"use the JSON layout {path}") from None
    records = []
    for file in parquet_files:
        records += check_records(pyarrow.parquet.read_table(file).to_pylist(), file)
    return records


def download_official(dest_dir, tasks, lengths, url=OFFICIAL_URL, timeout=60):
    """Fetch the official RMT-team/babilong files into DEST/qaN/{len}.json (skips existing)."""
    paths = []
    for task in tasks:
        for length in lengths:
            path = official_path(dest_dir, task, length)
            if not path.is_file():
                source = url.format(task=task, length=length)
                try:
                    with urllib.request.urlopen(source, timeout=timeout) as response:
                        records = json.loads(response.read().decode("utf-8"))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{source}: not valid JSON ({e})") from e
                except OSError as e:
                    raise ConnectionError(
                        f"could not download {source} ({e}). This needs internet; offline, "
                        f"build the data with prepare.py or put the official file at {path}"
                    ) from e
                write_official(check_records(records, source), dest_dir, task, length)
            paths.append(path)
    return paths
