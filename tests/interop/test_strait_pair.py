"""Strait on both gateways: without a NAT the ESP goes raw (IP protocol 50), not over UDP 4500."""

import pytest

from interop.sites import CPE_IP, DC_HOSTS, DC_NETS, GW_IP, VPC_HOSTS, VPC_NETS, check_traffic
from interop.strait import StraitTunnel, TunnelSpec


@pytest.mark.parametrize("nat_t", [True, False], ids=["nat-t-on", "nat-t-off"])
def test_strait_pair_raw_esp(sites, tmp_path, strait, nat_t):
    fast = {"RetransmitBaseMs": 500, "RetransmitTries": 3, "ReconnectMinMs": 500, "ReconnectMaxMs": 3000}
    gw = StraitTunnel(sites.topo, sites.gw, tmp_path / "gw", strait,
                      TunnelSpec("vpc", GW_IP, CPE_IP, "pair-psk", VPC_NETS, DC_NETS, enable_nat_traversal=nat_t,
                                 effect_immediately=False, test=fast)).start()
    cpe = StraitTunnel(sites.topo, sites.cpe, tmp_path / "cpe", strait,
                       TunnelSpec("dc", CPE_IP, GW_IP, "pair-psk", DC_NETS, VPC_NETS, enable_nat_traversal=nat_t,
                                  test=fast)).start()
    up = cpe.wait_established()
    assert gw.wait_established()["spi_in"] == up["spi_out"]
    assert up["udp_encap"] is False and gw.tunnel()["udp_encap"] is False
    check_traffic(sites, tmp_path, pairs=list(zip(DC_HOSTS, VPC_HOSTS)))
