"""Shared test set-up: tests that read ../shared/data are marked needs_path(PATH). Where the
folder is missing they are skipped on a developer's machine, but fail under CI (CI=true), where
the data is always laid out and a skip would hide a broken path."""
import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_path(path): the test reads this file or folder")


def pytest_runtest_setup(item):
    for marker in item.iter_markers("needs_path"):
        path = Path(marker.args[0])
        if not path.exists():
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                pytest.fail(f"{path} is missing: CI must run the tests that read it")
            pytest.skip(f"needs {path}")
