"""The `slow` marker `make test-fast` leaves out covers what starts processes, a browser or a deployment."""

from pathlib import Path
from typing import Any, cast

import pytest

from tests.bench import test_bench_smoke
from tests.conftest import SLOW_FOLDERS, pytest_collection_modifyitems
from tools import processes

TESTS = processes.REPO_ROOT / "tests"


class CollectedTest:
    """As much of a pytest item as the marking hook reads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.markers: list[str] = []

    def add_marker(self, marker: Any) -> None:
        self.markers.append(marker.name)


def test_every_test_of_a_slow_folder_is_marked_slow_and_no_other() -> None:
    folders = sorted(path.name for path in TESTS.iterdir() if path.is_dir() and (path / "__init__.py").exists())
    assert set(folders) >= SLOW_FOLDERS  # the Lambda harness, the browser and the stress tests
    collected = [CollectedTest(TESTS / folder / "test_anything.py") for folder in folders]

    pytest_collection_modifyitems(cast(list[pytest.Item], collected))

    assert {test.path.parent.name for test in collected if "slow" in test.markers} == SLOW_FOLDERS


def test_the_bench_smoke_run_is_slow_and_the_bench_unit_tests_are_not() -> None:
    def markers(test: Any) -> set[str]:
        return {mark.name for mark in getattr(test, "pytestmark", [])}

    assert "slow" in markers(test_bench_smoke.test_the_bench_measures_a_service_process_and_writes_its_results)
    assert "slow" not in markers(test_bench_smoke.test_percentile_interpolates_between_ranks)
