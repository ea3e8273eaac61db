"""Fixtures of the end-to-end suite: one topology and one `strait serve` per module, reset after every test."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from bgp_sites import BgpSite  # noqa: E402
from e2e_sites import Site  # noqa: E402
from helpers.netns import Topology  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test item, so fixtures can tell whether the test failed."""
    outcome = yield
    setattr(item, f"rep_{call.when}", outcome.get_result())


@pytest.fixture(scope="module")
def module_site(strait, tmp_path_factory):
    """The e2e topology with serve running, torn down (processes and namespaces) after the module."""
    topo = Topology(tag="e2e")
    try:
        yield Site(topo, strait, tmp_path_factory.mktemp("e2e"))
    finally:
        topo.close()


@pytest.fixture
def site(module_site, request):
    """The module's site for one test; afterwards its connections and charons are gone and links are up.
    A failed test prints the end of serve's log."""
    yield module_site
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(f"\n---- strait serve log (end) ----\n{module_site.server.log_tail(8000)}")
    module_site.reset()


@pytest.fixture
def make_site(topo, strait, tmp_path, request):
    """Builds a BgpSite whose CPEs face the given gateway addresses (connections on a VPN gateway, or with
    `transit` on a transit router); prints serve's log if the test fails."""
    sites = []

    def make(zones: list[str], auth_key: str | None = None, transit: bool = False) -> BgpSite:
        sites.append(BgpSite(topo, strait, tmp_path, zones, auth_key, transit))
        return sites[-1]

    yield make
    rep = getattr(request.node, "rep_call", None)
    if sites and rep is not None and rep.failed:
        print(f"\n---- strait serve log (end) ----\n{sites[0].server.log_tail(12000)}")
