"""Strait (`strait tunnel`, gw side) against strongSwan 5.9 speaking IKEv1 (cpe side).

Issue #5's acceptance list: main and aggressive mode both ways with and without PFS over one CIDR
pair, a wrong pre-shared key reported as such, DPD, NAT through a masquerade, and phase 1 and
phase 2 rekeying under a 100 ms ping.
"""

from __future__ import annotations

import re
import time

import pytest

from helpers.netns import wait_until
from interop.sites import (CPE_IP, DC_HOSTS, DC_NETS, VPC_HOSTS, VPC_NETS, WAN_GW_SIDE, check_traffic, masquerade, ping,
                          ping_through_rekeys)
from interop.test_strait import MATRIX, Proposal, assert_up, cpe_conn, start, strait_spec

# IKEv1 negotiates one CIDR pair per quick mode.
ONE_PAIR = dict(local_subnet=[VPC_NETS[0]], remote_subnet=[DC_NETS[0]])
STRAIT_FQDN, CPE_FQDN = "vpn.strait.example", "cpe.dc.example"

CASES = [
    (MATRIX[0], {}),
    (Proposal("aes256-sha256-group14", ("aes256", "sha256", "group14"), ("aes256", "sha256", "group14"),
              "aes256-sha256-modp2048", "aes256-sha256-modp2048"), {}),
    (Proposal("aggressive-fqdn-3des-md5", ("3des", "md5", "group2"), ("3des", "md5", "group2"),
              "3des-md5-modp1024", "3des-md5-modp1024"), {"aggressive": True}),
    (Proposal("pfs-disabled", ("aes", "sha1", "group2"), ("aes", "sha1", "disabled"),
              "aes128-sha1-modp1024", "aes128-sha1"), {}),
]


def v1_spec(p: Proposal = MATRIX[0], aggressive: bool = False, **kw):
    """Strait's IKEv1 side: one VPC network local, one data-center network remote."""
    ids = dict(local_id=STRAIT_FQDN, remote_id=CPE_FQDN) if aggressive else {}
    return strait_spec(p, ike_version="ikev1", ike_mode="aggressive" if aggressive else "main",
                       **{**ONE_PAIR, **ids, **kw})


def v1_conn(p: Proposal = MATRIX[0], aggressive: bool = False, **kw):
    """strongSwan's IKEv1 side, the mirror of `v1_spec`."""
    ids = dict(local_id=CPE_FQDN, remote_id=STRAIT_FQDN, extra={"aggressive": "yes"}) if aggressive else {}
    return cpe_conn(p, version=1, local_ts=[DC_NETS[0]], remote_ts=[VPC_NETS[0]], **{**ids, **kw})


@pytest.mark.parametrize("initiator", ["strait", "strongswan"])
@pytest.mark.parametrize("p,opts", CASES, ids=[p.name for p, _ in CASES])
def test_modes_and_proposals_both_ways(sites, tmp_path, strait, p, opts, initiator):
    strait_first = initiator == "strait"
    gw, cpe = start(sites, tmp_path, strait, v1_spec(p, effect_immediately=strait_first, **opts), v1_conn(p, **opts))
    if not strait_first:
        assert "successfully" in cpe.initiate("dc").stdout, cpe.log_text()[-3000:]
    assert_up(gw, cpe)
    [sa] = [sa for sa in cpe.sas() if sa.state == "ESTABLISHED"]
    [child] = sa.children
    assert child.local_ts == [DC_NETS[0]] and child.remote_ts == [VPC_NETS[0]]
    assert ("Aggressive Mode" in cpe.log_text()) == bool(opts.get("aggressive")), "the mode strongSwan ran"
    check_traffic(sites, tmp_path)


@pytest.mark.parametrize("initiator", ["strait", "strongswan"])
def test_wrong_psk_names_the_pre_shared_key(sites, tmp_path, strait, initiator):
    strait_first = initiator == "strait"
    gw, cpe = start(sites, tmp_path, strait, v1_spec(effect_immediately=strait_first),
                    v1_conn(psk="not-the-same-key"))
    if not strait_first:
        cpe.initiate("dc", timeout=10)
    wait_until(lambda: "pre-shared key" in (gw.tunnel().get("last_error") or ""), timeout=20,
               what="a pre-shared key mismatch in Strait's status")
    assert gw.tunnel()["ipsec_state"] == "down" and cpe.installed_children() == []
    assert gw.log_lines("tunnel=tun-1", "pre-shared key"), "the log names the tunnel and the reason"


def test_dpd_deletes_a_dead_peer_in_time_and_recovers(sites, tmp_path, strait):
    interval, timeout = 2, 8
    spec = v1_spec(enable_dpd=True, test={"DpdIntervalSecs": interval, "DpdTimeoutSecs": timeout,
                                          "RetransmitBaseMs": 500, "ReconnectMinMs": 500, "ReconnectMaxMs": 2000})
    gw, cpe = start(sites, tmp_path, strait, spec, v1_conn())
    assert_up(gw, cpe)
    sites.topo.run(sites.wan, f"ip link set {sites.wan_gw_if} down")
    cut = time.monotonic()
    wait_until(lambda: gw.tunnel()["ipsec_state"] == "down", timeout=interval + timeout + 5,
               what="Strait deleting the SAs of the dead peer")
    assert time.monotonic() - cut <= interval + timeout + 2
    assert re.search("dead peer|peer not responding", gw.tunnel()["last_error"])
    sites.topo.run(sites.wan, f"ip link set {sites.wan_gw_if} up")
    gw.wait_established(timeout=30)
    check_traffic(sites, tmp_path, bulk=False)


def test_nat_masquerade_uses_udp_4500(sites, tmp_path, strait):
    """The customer sits behind a masquerading router and initiates; Strait knows it by the NAT's address."""
    masquerade(sites)
    gw, cpe = start(sites, tmp_path, strait, v1_spec(peer_ip=WAN_GW_SIDE, remote_id=CPE_IP, effect_immediately=False),
                    v1_conn())
    assert "successfully" in cpe.initiate("dc").stdout, cpe.log_text()[-3000:]
    assert_up(gw, cpe)
    assert gw.tunnel()["udp_encap"] is True
    assert "local host is behind NAT" in cpe.log_text()
    check_traffic(sites, tmp_path)


@pytest.mark.parametrize("driver", ["strait", "strongswan"])
def test_rekeys_under_a_100ms_ping_lose_at_most_one_packet_each(sites, tmp_path, strait, driver):
    """In 35 s both phases are rekeyed, by Strait (30 s lifetimes) or by strongSwan (quick mode
    after 20 s, main mode after 27 s; Strait's lifetimes long). strongSwan 5.9 is not asked to rekey
    both phases in the same second: its own jobs race then ("CHILD_SA ... not found for rekey") and
    it lets the CHILD_SA expire instead of rekeying it."""
    if driver == "strait":
        spec, conn = v1_spec(ike_lifetime=30, ipsec_lifetime=30), v1_conn()
    else:
        spec, conn = v1_spec(), v1_conn(child_rekey=20, ike_rekey=27, rand_time=0)
    gw, cpe = start(sites, tmp_path, strait, spec, conn)
    assert_up(gw, cpe)
    lost, child_rekeys, ike_rekeys, out = ping_through_rekeys(sites, gw, 350)
    assert child_rekeys >= 1 and ike_rekeys >= 1, gw.tunnel()
    assert lost <= child_rekeys + ike_rekeys, f"lost {lost}: {out}"
    assert_up(gw, cpe)
    assert ping(sites.topo, sites.vpc, VPC_HOSTS[0], DC_HOSTS[0])
