"""BGP through the gateway end to end (issue #6): connections created through the SDK, strongSwan CPEs
loaded with the downloaded configuration, FRR or BIRD 2 on the CPEs speaking eBGP to Strait through the
tunnels, traffic between a VPC host and a data-center host steered by the learned routes."""

from __future__ import annotations

import json
import time

import pytest

from api_harness import ZONE_IPS
from bgp_sites import DC_HOSTS, DC_NETS, HOLD, VPC_HOST, VPC_NET, BgpSite, Bird, Frr, Tunnel
from helpers.netns import wait_until
from test_api_download import download_device

ZONE_A, ZONE_B = ZONE_IPS["zone-a"], ZONE_IPS["zone-b"]


@pytest.fixture
def make_site(topo, strait, tmp_path, request):
    """Builds a BgpSite whose CPEs face the given gateway addresses; prints serve's log if the test fails."""
    sites = []

    def make(zones: list[str]) -> BgpSite:
        sites.append(BgpSite(topo, strait, tmp_path, zones))
        return sites[-1]

    yield make
    rep = getattr(request.node, "rep_call", None)
    if sites and rep is not None and rep.failed:
        print(f"\n---- strait serve log (end) ----\n{sites[0].server.log_tail(12000)}")


def strongswan_config(site: BgpSite, vco: str) -> str:
    return download_device(site.api, vco, "strongswan")["DeviceConfig"]


@pytest.mark.parametrize("speaker", [Frr, Bird], ids=["frr", "bird"])
def test_on_premises_speaker_through_the_tunnel(make_site, speaker):
    site = make_site([ZONE_A])
    cpe, tunnel = site.cpes[0], Tunnel("169.254.10.0/30")
    t0 = time.monotonic()
    vco = site.create_single(cpe, tunnel)
    site.start_cpe(cpe, strongswan_config(site, vco), tunnel, speaker)
    site.wait_up(vco)
    established = time.monotonic() - t0
    # The DC prefixes are routed into serve's TUN device, and the VPC network is in the peer's table.
    routes = wait_until(lambda: (r := site.kernel_routes()) and set(DC_NETS) <= set(r) and r, 15,
                        what=f"{DC_NETS} routed into strait0")
    wait_until(lambda: cpe.speaker.routes() == {VPC_NET}, 15, what=f"{VPC_NET} in the {speaker.name} table")
    print(f"\n{speaker.name}: IPsec SA and BGP Established {established:.1f} s after CreateVpnConnection")
    print("serve's kernel routes into strait0:\n  " + "\n  ".join(routes.values()))
    print(f"{speaker.name}'s table:\n{cpe.speaker.table()}")
    body = site.describe(vco)
    assert body["VpnBgpConfig"]["Status"] == "success", body["VpnBgpConfig"]
    assert str(body["VpnBgpConfig"]["PeerAsn"]) == "65530", body["VpnBgpConfig"]
    # Traffic from the VPC host reaches the data-center host behind the CPE, for every learned prefix.
    for host in DC_HOSTS:
        r = site.topo.run(site.vpc, f"ping -c 3 -i 0.2 -W 2 {host}", check=False)
        assert r.returncode == 0, f"ping {VPC_HOST} -> {host}:\n{r.stdout}"
        print(f"ping {host}: {r.stdout.strip().splitlines()[-1]}")
