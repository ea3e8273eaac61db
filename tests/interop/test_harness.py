"""strongSwan <-> strongSwan through the interop topology: proves the harness itself (namespaces,
charon per namespace, swanctl parsing, routing, traffic checks) before Strait takes the gw side."""

import pytest

from helpers.strongswan import Charon, Conn
from interop.sites import (CPE_IP, DC_HOSTS, DC_NETS, GW_IP, VPC_HOSTS, VPC_NETS, WAN_GW_SIDE, check_traffic,
                           masquerade)


@pytest.mark.parametrize("ike,esp", [
    ("aes128-sha1-modp1024", "aes128-sha1-modp1024"),
    ("aes128gcm16-prfsha256-ecp256", "aes128gcm16-ecp256"),
])
def test_strongswan_pair_two_by_two_networks(sites, tmp_path, ike, esp):
    cpe = Charon(sites.topo, sites.cpe, tmp_path / "cpe").start()
    gw = Charon(sites.topo, sites.gw, tmp_path / "gw").start()
    cpe.load(Conn("dc", CPE_IP, GW_IP, "fddsFF123", DC_NETS, VPC_NETS, ike, esp))
    gw.load(Conn("vpc", GW_IP, CPE_IP, "fddsFF123", VPC_NETS, DC_NETS, ike, esp))
    cpe.route(VPC_NETS)
    gw.route(DC_NETS)

    assert "successfully" in cpe.initiate("dc").stdout
    [child] = gw.wait_child("vpc")
    assert child.local_ts == VPC_NETS and child.remote_ts == DC_NETS and child.spi_in and child.spi_out
    [peer] = cpe.installed_children("dc")
    assert (peer.spi_in, peer.spi_out) == (child.spi_out, child.spi_in)

    check_traffic(sites, tmp_path, pairs=list(zip(DC_HOSTS, VPC_HOSTS)))


def test_strongswan_wrong_psk_builds_no_child(sites, tmp_path):
    cpe = Charon(sites.topo, sites.cpe, tmp_path / "cpe").start()
    gw = Charon(sites.topo, sites.gw, tmp_path / "gw").start()
    cpe.load(Conn("dc", CPE_IP, GW_IP, "right-key", DC_NETS, VPC_NETS))
    gw.load(Conn("vpc", GW_IP, CPE_IP, "wrong-key", VPC_NETS, DC_NETS))
    assert "successfully" not in cpe.initiate("dc", timeout=10).stdout
    assert gw.installed_children() == [] and cpe.installed_children() == []
    assert "AUTHENTICATION_FAILED" in cpe.log_text()


def test_strongswan_pair_through_masquerade(sites, tmp_path):
    masquerade(sites)
    cpe = Charon(sites.topo, sites.cpe, tmp_path / "cpe").start()
    gw = Charon(sites.topo, sites.gw, tmp_path / "gw").start()
    cpe.load(Conn("dc", CPE_IP, GW_IP, "fddsFF123", DC_NETS, VPC_NETS))
    # The gateway sees the customer at the NAT's address; the IKE identity stays the private one.
    gw.load(Conn("vpc", GW_IP, WAN_GW_SIDE, "fddsFF123", VPC_NETS, DC_NETS, remote_id=CPE_IP))
    cpe.route(VPC_NETS)
    gw.route(DC_NETS)
    assert "successfully" in cpe.initiate("dc").stdout
    [sa] = [sa for sa in gw.sas() if sa.state == "ESTABLISHED"]
    assert sa.remote.startswith(f"{WAN_GW_SIDE}[")
    check_traffic(sites, tmp_path, bulk=False)
