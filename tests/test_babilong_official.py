"""Official-format files: writer and loader round-trip, clear errors, parquet fallback, the
offline failure of the downloader, and prepare.py end to end."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from data.babilong.build import make_samples
from data.babilong.official import download_official, load_official, write_official
from data.babilong.prepare import main as prepare_main

REPO = Path(__file__).resolve().parents[1]
UNREACHABLE = "http://127.0.0.1:9/{task}/{length}.json"  # the discard port: refused at once


def test_write_and_load_round_trip(tmp_path):
    records = make_samples("qa2", "1k", 5, split="test", progress=False)
    path = write_official(records, tmp_path, "qa2", "1k")
    assert path == tmp_path / "qa2" / "1k.json" and not list(tmp_path.rglob("*.tmp"))
    assert json.loads(path.read_text()) == records
    assert load_official(tmp_path, "qa2", "1k") == records


def test_bad_files_name_the_file_and_the_problem(tmp_path):
    path = tmp_path / "qa1" / "0k.json"
    path.parent.mkdir()
    path.write_text(json.dumps([{"input": "x", "question": "y"}]))
    with pytest.raises(ValueError, match=r"0k\.json.*record 0.*'target' is missing"):
        load_official(tmp_path, "qa1", "0k")
    path.write_text(json.dumps({"input": "x"}))
    with pytest.raises(ValueError, match="JSON array"):
        load_official(tmp_path, "qa1", "0k")
    path.write_text("[{")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_official(tmp_path, "qa1", "0k")
    with pytest.raises(FileNotFoundError, match=r"qa1.*2k"):
        load_official(tmp_path, "qa1", "2k")
    with pytest.raises(ValueError, match="unknown task"):
        load_official(tmp_path, "qa0", "0k")
    with pytest.raises(ValueError, match="'question' is not a string"):
        write_official([{"input": "x", "question": 3, "target": "y"}], tmp_path, "qa1", "0k")


def test_parquet_layout_needs_pyarrow(tmp_path, monkeypatch):
    (tmp_path / "1k").mkdir()
    (tmp_path / "1k" / "qa1-00000-of-00001.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` fail
    with pytest.raises(ImportError, match=r"qa1-00000-of-00001\.parquet needs pyarrow"):
        load_official(tmp_path, "qa1", "1k")


def test_parquet_layout_round_trip(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow
    records = make_samples("qa1", "0k", 3, split="test", progress=False)
    (tmp_path / "0k").mkdir()
    pq.write_table(pyarrow.Table.from_pylist(records), tmp_path / "0k" / "qa1-00000.parquet")
    assert load_official(tmp_path, "qa1", "0k") == records


def test_download_fails_clearly_offline_and_skips_existing_files(tmp_path):
    with pytest.raises(ConnectionError, match="needs internet"):
        download_official(tmp_path, ["qa1"], ["1k"], url=UNREACHABLE, timeout=5)
    write_official([], tmp_path, "qa1", "1k")
    assert download_official(tmp_path, ["qa1"], ["1k"], url=UNREACHABLE) == [
        tmp_path / "qa1" / "1k.json"]


def test_prepare_writes_the_official_layout(tmp_path, capsys):
    prepare_main(["--tasks", "qa1,qa4", "--lengths", "0k,1k", "--n", "6", "--out", str(tmp_path)])
    for task in ("qa1", "qa4"):
        for length in ("0k", "1k"):
            assert len(load_official(tmp_path, task, length)) == 6
    assert "qa4/1k.json: 6 samples" in capsys.readouterr().out


def test_prepare_runs_as_a_script_and_reports_bad_input(tmp_path):
    run = lambda *args: subprocess.run([sys.executable, "data/babilong/prepare.py", *args,
                                        "--out", str(tmp_path)], cwd=REPO, capture_output=True,
                                       text=True)
    done = run("--tasks", "qa6", "--lengths", "0k", "--n", "3")
    assert done.returncode == 0 and len(load_official(tmp_path, "qa6", "0k")) == 3
    failed = run("--tasks", "qa21", "--lengths", "0k")
    assert failed.returncode == 2 and "prepare.py: unknown task 'qa21'" in failed.stderr
