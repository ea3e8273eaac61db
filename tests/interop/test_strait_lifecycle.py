"""Strait against strongSwan over time: rekeying under traffic, and dead peer detection."""

from __future__ import annotations

import re
import time

import pytest

from helpers.netns import wait_until
from interop.sites import CPE_IP, DC_HOSTS, VPC_HOSTS, check_traffic, ping, ping_through_rekeys
from interop.test_strait import assert_up, cpe_conn, start, strait_spec


@pytest.mark.parametrize("driver", ["strait", "strongswan"])
def test_rekeys_under_a_100ms_ping_lose_at_most_one_packet_each(sites, tmp_path, strait, driver):
    """In 60 s the CHILD_SA is rekeyed twice and the IKE SA once, by Strait (30 s CHILD_SA and 45 s
    IKE SA lifetimes) or by strongSwan (rekey times 27 s and 40 s, Strait's lifetimes long)."""
    if driver == "strait":
        spec, conn = strait_spec(ipsec_lifetime=30, ike_lifetime=45), cpe_conn()
    else:
        spec, conn = strait_spec(), cpe_conn(child_rekey=27, ike_rekey=40, rand_time=0)
    gw, cpe = start(sites, tmp_path, strait, spec, conn)
    assert_up(gw, cpe)
    lost, child_rekeys, ike_rekeys, out = ping_through_rekeys(sites, gw, 600)
    assert child_rekeys >= 2 and ike_rekeys >= 1, gw.tunnel()
    assert lost <= child_rekeys + ike_rekeys, f"lost {lost}: {out}"
    # Both sides settled on one IKE SA with one CHILD_SA pair, and it is the one Strait uses.
    sas = [sa for sa in cpe.sas() if sa.state == "ESTABLISHED"]
    assert len(sas) == 1 and len(sas[0].children) == 1, sas
    assert_up(gw, cpe)


def test_dpd_deletes_a_dead_peer_in_time_and_recovers(sites, tmp_path, strait):
    interval, timeout = 2, 8
    spec = strait_spec(enable_dpd=True, test={"DpdIntervalSecs": interval, "DpdTimeoutSecs": timeout,
                                              "RetransmitBaseMs": 500, "RetransmitTries": 3,
                                              "ReconnectMinMs": 500, "ReconnectMaxMs": 2000})
    gw, cpe = start(sites, tmp_path, strait, spec, cpe_conn())
    assert_up(gw, cpe)
    sites.topo.run(sites.wan, f"ip link set {sites.wan_gw_if} down")
    cut = time.monotonic()
    wait_until(lambda: gw.tunnel()["ipsec_state"] == "down", timeout=interval + timeout + 5,
               what="Strait deleting the SAs of the dead peer")
    assert time.monotonic() - cut <= interval + timeout + 2
    # The liveness check's retransmissions may run out before the DPD timeout: either says why.
    reason = re.compile("dead peer|peer not responding")
    assert reason.search(gw.tunnel()["last_error"])
    assert [line for line in gw.log_lines("tunnel=tun-1", "IKE SA deleted") if reason.search(line)]

    sites.topo.run(sites.wan, f"ip link set {sites.wan_gw_if} up")
    gw.wait_established(timeout=30)
    check_traffic(sites, tmp_path, bulk=False)
    assert ping(sites.topo, sites.dc, DC_HOSTS[1], VPC_HOSTS[1])


def test_rekey_collision_settles_on_one_child_sa(sites, tmp_path, strait):
    """Both sides rekey the CHILD_SA together: strongSwan at 26 s, Strait at 27 s (no jitter), and
    the customer's IKE requests are held back from 25.5 s to 27.7 s (its responses and all ESP pass),
    so each side's CREATE_CHILD_SA is out before it sees the other's: a collision (RFC 7296 §2.8.1).
    The sides must end with one IKE SA and one CHILD_SA pair, losing at most one packet of a 100 ms
    ping."""
    spec = strait_spec(ipsec_lifetime=30, test={"RekeyJitterMs": 0, "RetransmitBaseMs": 500})
    gw, cpe = start(sites, tmp_path, strait, spec, cpe_conn(child_rekey=26, rand_time=0))
    assert_up(gw, cpe)
    up = time.monotonic()
    pinger = sites.topo.spawn(sites.dc, f"ping -q -i 0.1 -c 330 -W 1 -I {DC_HOSTS[0]} {VPC_HOSTS[0]}",
                              log=tmp_path / "ping.out")
    # Drop UDP 4500 datagrams from the customer that start with the non-ESP marker (IKE, not ESP)
    # and have the IKE header's Response flag (0x20 of octet 19 after the marker) clear.
    hold = (f"nft add table ip hold && nft 'add chain ip hold f {{ type filter hook forward priority 0 ; }}' && "
            f"nft add rule ip hold f ip saddr {CPE_IP} udp dport 4500 @th,64,32 0 @th,250,1 0 drop")
    time.sleep(max(0.0, up + 25.5 - time.monotonic()))
    sites.topo.run(sites.wan, hold)
    time.sleep(max(0.0, up + 27.7 - time.monotonic()))
    sites.topo.run(sites.wan, "nft delete table ip hold")
    pinger.wait(timeout=60)
    out = (tmp_path / "ping.out").read_text()
    sent, received = map(int, re.search(r"(\d+) packets transmitted, (\d+) received", out).groups())
    assert "collision" in cpe.log_text(), "the rekeys did not collide"
    sas = [sa for sa in cpe.sas() if sa.state == "ESTABLISHED"]
    assert sent - received <= 1, out
    assert len(sas) == 1 and len(sas[0].children) == 1, sas
    assert_up(gw, cpe)
    check_traffic(sites, tmp_path, bulk=False)
