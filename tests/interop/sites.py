"""The interop topology and the traffic checks every interop test uses.

    dc-host ──────── cpe ──────── wan ──────── gw ──────── vpc-host
    192.168.10.2   192.0.2.1   (router, opt.  198.51.100.1   10.1.0.2
    192.168.20.2   (customer)   masquerade)   (Strait, or a  10.2.0.2
    (on lo)                                   strongSwan)    (on lo)

The data center has two networks (192.168.10.0/24, 192.168.20.0/24), the VPC two (10.1.0.0/24,
10.2.0.0/24), so protected-data-flow tests can use two local and two remote CIDRs. Nothing routes
out of the namespaces: the only links are the veth pairs created here. The gateways reach their
hosts over transfer nets (192.168.255.0/30, 10.255.0.0/30) outside the protected networks: with
kernel-libipsec, charon fails to install its routes when it owns an address inside only some of
several local selectors ("error installing route with policy").
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from helpers.netns import Topology, wait_until

XFER = Path(__file__).resolve().parent / "xfer.py"

CPE_IP, GW_IP = "192.0.2.1", "198.51.100.1"
WAN_CPE_SIDE, WAN_GW_SIDE = "192.0.2.254", "198.51.100.254"
DC_NETS = ["192.168.10.0/24", "192.168.20.0/24"]
VPC_NETS = ["10.1.0.0/24", "10.2.0.0/24"]
DC_HOSTS = ["192.168.10.2", "192.168.20.2"]
VPC_HOSTS = ["10.1.0.2", "10.2.0.2"]


@dataclass
class Sites:
    """The namespaces of one interop topology."""

    topo: Topology
    dc: str
    cpe: str
    wan: str
    gw: str
    vpc: str
    wan_gw_if: str  # the wan router's interface towards gw
    gw_wan_if: str  # gw's interface towards the wan
    cpe_wan_if: str  # cpe's interface towards the wan
    wan_cpe_if: str  # the wan router's interface towards cpe


def build(topo: Topology) -> Sites:
    """Creates the five namespaces, their links, addresses and plain routes."""
    dc, cpe, wan, gw, vpc = (topo.ns(n) for n in ("dc", "cpe", "wan", "gw", "vpc"))
    topo.link(dc, "192.168.255.2/30", cpe, "192.168.255.1/30")
    cpe_if, wan_cpe_if = topo.link(cpe, f"{CPE_IP}/24", wan, f"{WAN_CPE_SIDE}/24")
    wan_if, gw_if = topo.link(wan, f"{WAN_GW_SIDE}/24", gw, f"{GW_IP}/24")
    topo.link(gw, "10.255.0.1/30", vpc, "10.255.0.2/30")
    for ns, hosts, nets, via in ((dc, DC_HOSTS, DC_NETS, "192.168.255.1"), (vpc, VPC_HOSTS, VPC_NETS, "10.255.0.1")):
        topo.run(ns, " && ".join([f"ip addr add {h}/32 dev lo" for h in hosts] + [f"ip route add default via {via}"]))
    topo.run(cpe, "ip addr add 192.168.10.1/32 dev lo && ip addr add 192.168.20.1/32 dev lo")
    topo.run(gw, "ip addr add 10.1.0.1/32 dev lo && ip addr add 10.2.0.1/32 dev lo")
    topo.run(cpe, " && ".join([f"ip route add 198.51.100.0/24 via {WAN_CPE_SIDE}"]
                              + [f"ip route add {n} via 192.168.255.2" for n in DC_NETS]))
    topo.run(gw, " && ".join([f"ip route add 192.0.2.0/24 via {WAN_GW_SIDE}"]
                             + [f"ip route add {n} via 10.255.0.2" for n in VPC_NETS]))
    return Sites(topo, dc, cpe, wan, gw, vpc, wan_if, gw_if, cpe_if, wan_cpe_if)


# A second customer site for multi-tunnel tests: cpe2 (203.0.113.1) with dc2-host 192.168.30.2.
CPE2_IP, WAN_CPE2_SIDE = "203.0.113.1", "203.0.113.254"
DC2_NET, DC2_HOST = "192.168.30.0/24", "192.168.30.2"


def add_second_site(s: Sites) -> tuple[str, str]:
    """Adds cpe2 and dc2-host beside the first site; returns their namespaces (cpe2, dc2)."""
    topo = s.topo
    cpe2, dc2 = topo.ns("cpe2"), topo.ns("dc2")
    topo.link(dc2, "192.168.254.2/30", cpe2, "192.168.254.1/30")
    topo.link(cpe2, f"{CPE2_IP}/24", s.wan, f"{WAN_CPE2_SIDE}/24")
    topo.run(dc2, f"ip addr add {DC2_HOST}/32 dev lo && ip route add default via 192.168.254.1")
    topo.run(cpe2, f"ip addr add 192.168.30.1/32 dev lo && ip route add {DC2_NET} via 192.168.254.2 && "
                   f"ip route add 198.51.100.0/24 via {WAN_CPE2_SIDE}")
    topo.run(s.gw, f"ip route add 203.0.113.0/24 via {WAN_GW_SIDE}")
    return cpe2, dc2


def masquerade(s: Sites, towards: str = "gw") -> None:
    """Turns the wan router into a NAT: traffic leaving towards `towards` ("gw" or "cpe") gets the
    wan's address on that side, so the other side sits behind the NAT."""
    oif = s.wan_gw_if if towards == "gw" else s.wan_cpe_if
    s.topo.run(s.wan, "nft add table ip nat && "
               "nft 'add chain ip nat post { type nat hook postrouting priority 100 ; }' && "
               f"nft add rule ip nat post oifname {oif} masquerade")


def ping(topo: Topology, ns: str, src: str, dst: str, count: int = 3, timeout: float = 20) -> bool:
    """Whether `dst` answers a ping from `src` within `timeout` (retries while the tunnel comes up)."""
    def once() -> bool:
        return topo.run(ns, f"ping -c 1 -W 1 -I {src} {dst}", check=False).returncode == 0
    wait_until(once, timeout=timeout, interval=0.5, what=f"ping {src} -> {dst}")
    r = topo.run(ns, f"ping -c {count} -i 0.2 -W 2 -I {src} {dst}", check=False)
    return r.returncode == 0


def ping_through_rekeys(s: Sites, gw, count: int) -> tuple[int, int, int, str]:
    """Pings dc -> vpc every 100 ms `count` times while the tunnel rekeys; returns
    (lost packets, CHILD_SA rekeys, IKE SA rekeys, ping's output) as Strait's status counted them."""
    first = gw.tunnel()
    r = s.topo.run(s.dc, f"ping -q -i 0.1 -c {count} -W 1 -I {DC_HOSTS[0]} {VPC_HOSTS[0]}",
                   check=False, timeout=count / 10 + 25)
    sent, received = map(int, re.search(r"(\d+) packets transmitted, (\d+) received", r.stdout).groups())
    st = gw.tunnel()
    return (sent - received, st["child_sas_installed"] - first["child_sas_installed"],
            st["ike_sas_established"] - first["ike_sas_established"], r.stdout)


def transfer(topo: Topology, src_ns: str, src_ip: str, dst_ns: str, dst_ip: str, tmp: Path,
             size: int = 10 * 1024 * 1024, port: int = 5001) -> None:
    """Sends `size` random bytes over TCP from src_ip in src_ns to dst_ip in dst_ns and asserts they arrive intact."""
    payload = tmp / f"payload-{port}"
    data = os.urandom(size)
    payload.write_bytes(data)
    want = f"{size} {hashlib.sha256(data).hexdigest()}"
    out = tmp / f"recv-{port}.out"
    out.unlink(missing_ok=True)
    receiver = topo.spawn(dst_ns, f"{sys.executable} {XFER} recv {port}", log=out)
    wait_until(lambda: f":{port} " in topo.run(dst_ns, "ss -ltn").stdout, timeout=10, what="receiver listening")
    topo.run(src_ns, f"{sys.executable} {XFER} send {src_ip} {dst_ip} {port} {payload}", timeout=120)
    receiver.wait(timeout=60)
    got = out.read_text().strip()
    assert got == want, f"transfer {src_ns} -> {dst_ip}: sent {want}, received {got!r}"


def check_traffic(s: Sites, tmp: Path, pairs: list[tuple[str, str]] | None = None, bulk: bool = True) -> None:
    """Pings both ways between each (dc host, vpc host) pair, then moves 10 MB each way (first pair)."""
    pairs = pairs or [(DC_HOSTS[0], VPC_HOSTS[0])]
    for dc_ip, vpc_ip in pairs:
        assert ping(s.topo, s.dc, dc_ip, vpc_ip), f"ping {dc_ip} -> {vpc_ip}"
        assert ping(s.topo, s.vpc, vpc_ip, dc_ip), f"ping {vpc_ip} -> {dc_ip}"
    if bulk:
        dc_ip, vpc_ip = pairs[0]
        transfer(s.topo, s.dc, dc_ip, s.vpc, vpc_ip, tmp, port=5001)
        transfer(s.topo, s.vpc, vpc_ip, s.dc, dc_ip, tmp, port=5002)
