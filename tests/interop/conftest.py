"""Fixtures of the interop suite: the five-namespace topology of `sites.py`."""

import pytest

from interop import sites as site_mod


@pytest.fixture
def sites(topo):
    """The dc-host / cpe / wan / gw / vpc-host topology, torn down with `topo`."""
    return site_mod.build(topo)
