"""Strait (`strait tunnel`, gw side) against strongSwan 5.9 with kernel-libipsec (cpe side).

Issue #2's acceptance list: the proposal matrix both ways, both routing modes, failures reported
with their reason, rekeying under a 100 ms ping, DPD, and NAT through a masquerade.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pytest

from helpers.netns import wait_until
from helpers.strongswan import Charon, Conn
from interop.sites import (CPE2_IP, CPE_IP, DC2_HOST, DC2_NET, DC_HOSTS, DC_NETS, GW_IP, VPC_HOSTS, VPC_NETS,
                           WAN_CPE_SIDE, WAN_GW_SIDE, add_second_site, check_traffic, masquerade, ping)
from interop.strait import StraitTunnel, TunnelSpec

PSK = "fddsFF123"
# Short retransmissions and reconnects so failures show within seconds.
FAST = {"RetransmitBaseMs": 500, "RetransmitTries": 3, "ReconnectMinMs": 500, "ReconnectMaxMs": 3000}


@dataclass(frozen=True)
class Proposal:
    """One row of the matrix: Strait's API values and the matching strongSwan proposals."""

    name: str
    ike: tuple[str, str, str]  # IkeEncAlg, IkeAuthAlg, IkePfs
    ipsec: tuple[str, str, str]  # IpsecEncAlg, IpsecAuthAlg, IpsecPfs
    ss_ike: str
    ss_esp: str


MATRIX = [
    Proposal("defaults", ("aes", "sha1", "group2"), ("aes", "sha1", "group2"),
             "aes128-sha1-modp1024", "aes128-sha1-modp1024"),
    Proposal("group14", ("aes", "sha1", "group14"), ("aes", "sha1", "group14"),
             "aes128-sha1-modp2048", "aes128-sha1-modp2048"),
    Proposal("aes256-sha256-nopfs", ("aes256", "sha256", "group14"), ("aes256", "sha256", "disabled"),
             "aes256-sha256-modp2048", "aes256-sha256"),
    Proposal("3des-md5-group5", ("3des", "md5", "group5"), ("3des", "md5", "group5"),
             "3des-md5-modp1536", "3des-md5-modp1536"),
    Proposal("aes192-sha512-group1", ("aes192", "sha512", "group1"), ("aes192", "sha512", "group1"),
             "aes192-sha512-modp768", "aes192-sha512-modp768"),
    Proposal("aes128gcm16-ecp256", ("aes128gcm16", "sha256", "group19"), ("aes128gcm16", "sha256", "group19"),
             "aes128gcm16-prfsha256-ecp256", "aes128gcm16-ecp256"),
]


def strait_spec(p: Proposal = MATRIX[0], **kw) -> TunnelSpec:
    """Strait's side of the tunnel: VPC networks local, data-center networks remote."""
    (ie, ia, ig), (pe, pa, pg) = p.ike, p.ipsec
    base = dict(id="tun-1", local_ip=GW_IP, peer_ip=CPE_IP, psk=PSK, local_subnet=VPC_NETS,
                remote_subnet=DC_NETS, ike_enc=ie, ike_auth=ia, ike_dh=ig, ipsec_enc=pe, ipsec_auth=pa,
                ipsec_pfs=pg, test=dict(FAST))
    return TunnelSpec(**{**base, **kw})


def cpe_conn(p: Proposal = MATRIX[0], **kw) -> Conn:
    """strongSwan's side: data-center networks local, VPC networks remote."""
    return Conn(**{**dict(name="dc", local_addr=CPE_IP, remote_addr=GW_IP, psk=PSK, local_ts=DC_NETS,
                          remote_ts=VPC_NETS, proposals=p.ss_ike, esp_proposals=p.ss_esp), **kw})


def start(sites, tmp, strait, spec: TunnelSpec, conn: Conn) -> tuple[StraitTunnel, Charon]:
    """Starts strongSwan on cpe (config loaded, routes into ipsec0) and Strait on gw."""
    cpe = Charon(sites.topo, sites.cpe, tmp / "cpe").start()
    cpe.load(conn)
    cpe.route(conn.remote_ts)
    gw = StraitTunnel(sites.topo, sites.gw, tmp / "gw", strait, spec).start()
    return gw, cpe


def assert_up(gw: StraitTunnel, cpe: Charon, timeout: float = 30) -> None:
    """Both sides have the tunnel up, with the same SPIs."""
    st = gw.wait_established(timeout=timeout)
    [child] = cpe.wait_child(timeout=timeout)
    assert child.spi_in and (child.spi_in, child.spi_out) == (st["spi_out"], st["spi_in"]), (child, st)


@pytest.mark.parametrize("initiator", ["strait", "strongswan"])
@pytest.mark.parametrize("p", MATRIX, ids=[p.name for p in MATRIX])
def test_proposals_two_by_two_networks(sites, tmp_path, strait, p, initiator):
    strait_first = initiator == "strait"
    gw, cpe = start(sites, tmp_path, strait, strait_spec(p, effect_immediately=strait_first), cpe_conn(p))
    if not strait_first:
        assert "successfully" in cpe.initiate("dc").stdout, cpe.log_text()[-3000:]
    assert_up(gw, cpe)
    [child] = cpe.installed_children()
    assert child.local_ts == DC_NETS and child.remote_ts == VPC_NETS
    check_traffic(sites, tmp_path, pairs=list(zip(DC_HOSTS, VPC_HOSTS)))


@pytest.mark.parametrize("initiator", ["strait", "strongswan"])
def test_destination_routing(sites, tmp_path, strait, initiator):
    """Strait's selectors are 0.0.0.0/0 both ways; routes send the data-center networks into the tunnel."""
    strait_first = initiator == "strait"
    spec = strait_spec(local_subnet=["0.0.0.0/0"], remote_subnet=["0.0.0.0/0"], routes=DC_NETS,
                       effect_immediately=strait_first)
    gw, cpe = start(sites, tmp_path, strait, spec, cpe_conn())
    if not strait_first:
        assert "successfully" in cpe.initiate("dc").stdout
    assert_up(gw, cpe)
    check_traffic(sites, tmp_path, pairs=list(zip(DC_HOSTS, VPC_HOSTS)))


def test_traffic_triggers_negotiation(sites, tmp_path, strait):
    """EffectImmediately=false: nothing is negotiated until a packet heads for the remote networks."""
    gw, cpe = start(sites, tmp_path, strait, strait_spec(effect_immediately=False), cpe_conn())
    time.sleep(2)
    assert gw.tunnel()["ike_state"] == "idle" and cpe.sas() == []
    assert ping(sites.topo, sites.vpc, VPC_HOSTS[0], DC_HOSTS[0], timeout=20)
    assert gw.tunnel()["ipsec_state"] == "established"


@pytest.mark.parametrize("initiator", ["strait", "strongswan"])
def test_wrong_psk_is_reported_as_authentication_failure(sites, tmp_path, strait, initiator):
    strait_first = initiator == "strait"
    gw, cpe = start(sites, tmp_path, strait, strait_spec(effect_immediately=strait_first),
                    cpe_conn(psk="not-the-same-key"))
    if not strait_first:
        cpe.initiate("dc", timeout=10)
    wait_until(lambda: "authentication failed" in (gw.tunnel().get("last_error") or ""), timeout=20,
               what="authentication failure in Strait's status")
    assert gw.tunnel()["ipsec_state"] == "down" and cpe.installed_children() == []
    assert gw.log_lines("tunnel=tun-1", "authentication failed"), "the log names the tunnel and the reason"


def test_proposal_mismatch_is_reported(sites, tmp_path, strait):
    gw, cpe = start(sites, tmp_path, strait, strait_spec(MATRIX[2]), cpe_conn(MATRIX[0]))
    wait_until(lambda: "no proposal chosen" in (gw.tunnel().get("last_error") or ""), timeout=20,
               what="'no proposal chosen' in Strait's status")
    assert cpe.installed_children() == []
    assert gw.log_lines("tunnel=tun-1", "no proposal chosen")


def test_nat_masquerade_uses_udp_4500(sites, tmp_path, strait):
    """The customer sits behind a masquerading router: Strait knows it by the NAT's address."""
    masquerade(sites)
    # Count Strait's NAT keepalives (RFC 3948: UDP 4500, one 0xFF octet) as they cross the router.
    sites.topo.run(sites.wan, "nft add table ip ka && "
                   "nft 'add chain ip ka f { type filter hook forward priority 0 ; }' && "
                   f"nft add rule ip ka f ip saddr {GW_IP} udp sport 4500 udp length 9 @th,64,8 0xff counter")
    spec = strait_spec(peer_ip=WAN_GW_SIDE, remote_id=CPE_IP, effect_immediately=False)
    gw, cpe = start(sites, tmp_path, strait, spec, cpe_conn())
    assert "successfully" in cpe.initiate("dc").stdout, cpe.log_text()[-3000:]
    assert_up(gw, cpe)
    assert gw.tunnel()["udp_encap"] is True
    wait_until(lambda: re.search(r"counter packets [1-9]", sites.topo.run(sites.wan, "nft list table ip ka").stdout),
               timeout=5, what="a NAT keepalive from Strait")
    check_traffic(sites, tmp_path, pairs=list(zip(DC_HOSTS, VPC_HOSTS)))


def test_strait_behind_nat_initiates_over_udp_4500(sites, tmp_path, strait):
    """Strait sits behind the masquerade and initiates; the customer knows it by the NAT's address."""
    masquerade(sites, towards="cpe")
    gw, cpe = start(sites, tmp_path, strait, strait_spec(), cpe_conn(remote_addr=WAN_CPE_SIDE, remote_id=GW_IP))
    assert_up(gw, cpe)
    [sa] = [sa for sa in cpe.sas() if sa.state == "ESTABLISHED"]
    assert sa.remote.startswith(f"{WAN_CPE_SIDE}["), sa
    assert gw.tunnel()["udp_encap"] is True
    check_traffic(sites, tmp_path, pairs=list(zip(DC_HOSTS, VPC_HOSTS)))


def test_peer_delete_is_followed_by_a_new_negotiation(sites, tmp_path, strait):
    """EffectImmediately tunnels are kept up: when the customer deletes the IKE SA, Strait negotiates again."""
    gw, cpe = start(sites, tmp_path, strait, strait_spec(), cpe_conn())
    assert_up(gw, cpe)
    first = gw.tunnel()
    cpe.terminate("dc")
    wait_until(lambda: gw.tunnel()["ike_sas_established"] > first["ike_sas_established"], timeout=20,
               what="Strait re-establishing after the peer's Delete")
    assert_up(gw, cpe)
    assert gw.tunnel()["spi_in"] != first["spi_in"]
    check_traffic(sites, tmp_path, bulk=False)


def test_stopping_strait_deletes_the_sas_at_the_peer(sites, tmp_path, strait):
    gw, cpe = start(sites, tmp_path, strait, strait_spec(), cpe_conn())
    assert_up(gw, cpe)
    gw.stop()
    wait_until(lambda: cpe.sas() == [], timeout=10, what="strongSwan dropping the SAs after Strait's Delete")
    assert "received DELETE for IKE_SA" in cpe.log_text()


def test_one_strait_runs_tunnels_to_two_customers(sites, tmp_path, strait):
    cpe2_ns, dc2_ns = add_second_site(sites)
    second = strait_spec(id="tun-2", peer_ip=CPE2_IP, remote_subnet=[DC2_NET], psk="second-key")
    cpe = Charon(sites.topo, sites.cpe, tmp_path / "cpe").start()
    cpe.load(cpe_conn())
    cpe.route(VPC_NETS)
    cpe2 = Charon(sites.topo, cpe2_ns, tmp_path / "cpe2").start()
    cpe2.load(cpe_conn(local_addr=CPE2_IP, local_ts=[DC2_NET], psk="second-key"))
    cpe2.route(VPC_NETS)
    gw = StraitTunnel(sites.topo, sites.gw, tmp_path / "gw", strait, strait_spec(), second).start()
    assert_up(gw, cpe)
    gw.wait_established("tun-2")
    [child] = cpe2.wait_child()
    assert child.spi_in == gw.tunnel("tun-2")["spi_out"]
    check_traffic(sites, tmp_path, bulk=False)
    for src_ns, src, dst in ((dc2_ns, DC2_HOST, VPC_HOSTS[0]), (sites.vpc, VPC_HOSTS[1], DC2_HOST)):
        assert ping(sites.topo, src_ns, src, dst), f"ping {src} -> {dst}"
