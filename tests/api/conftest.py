"""Fixtures for the management API suite: one `strait serve` per test module, in its own namespace."""

import itertools

import pytest

from api_harness import ApiServer
from helpers.netns import Topology

_tenants = itertools.count(1)


@pytest.fixture(scope="module")
def server(strait, request):
    """A running `strait serve` (fresh data dir), stopped and its namespace deleted after the module."""
    topo = Topology(tag="api")
    srv = None
    try:
        srv = ApiServer(topo, strait)
        srv.start()
        yield srv
    finally:
        topo.close()
        if srv is not None:
            srv.cleanup()


@pytest.fixture(scope="module")
def api(server):
    """The admin tenant's SDK client."""
    return server.admin()


@pytest.fixture
def tenant(server):
    """A brand-new tenant (no resources yet), made with `strait account create`."""
    return server.create_account(f"tenant{next(_tenants)}")
