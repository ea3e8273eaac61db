"""Shared pytest set-up: the suite needs root (namespaces) and the release binary."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers.netns import Topology, strait_bin  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        raise pytest.UsageError("the Strait test suite needs root (network namespaces)")


@pytest.fixture
def topo(request):
    """A fresh namespace topology, torn down after the test even when it fails."""
    t = Topology(tag=request.node.name[:3])
    try:
        yield t
    finally:
        t.close()


@pytest.fixture(scope="session")
def strait():
    """Path of the release strait binary."""
    return strait_bin()
