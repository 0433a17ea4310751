"""Fixtures for the chart's tests: helm, found or built once per machine."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from devcluster.assets import find_helm
from tests.chart.chart import Helm


@pytest.fixture(scope="session")
def helm() -> Iterator[Helm]:
    runner = Helm.at(find_helm())
    yield runner
    shutil.rmtree(runner.home, ignore_errors=True)
