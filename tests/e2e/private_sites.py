"""A private line encrypted by a private VPN gateway (seed 004), with the plain private path kept as the
fallback: `strait serve` in namespace gw terminates the tunnel on its zone's *private* address, a
strongSwan CPE (loaded with the downloaded configuration) running FRR speaks BGP with it through the
tunnel, and both sides also have static routes over the private line with a worse metric.

    vpc-host ──── gw ──────────── private line ──────────── cpe ───────────── dc-host
    10.0.1.2   10.0.1.1   10.255.0.1/30 ──────── 10.255.0.2/30   192.168.0.1/24   192.168.0.2/24
               (strait    (zone-a's private_gateway_ips;        ipsec0: 169.254.10.2/30
                serve)     InternetIp of the private gateway)   (bgpd's address)   
               strait0: 169.254.10.1 (LocalBgpIp)

Routes to the far side, on each side:
    gw:  192.168.0.0/24 dev strait0           (learned over BGP, installed by Strait, metric 0)
         192.168.0.0/24 via 10.255.0.2        metric 100 (static, the plain private path)
    cpe: 10.0.0.0/16 via 169.254.10.1 ipsec0  (learned over BGP: FRR distance 20, installed by zebra)
         10.0.0.0/16 via 10.255.0.1           (floating static in FRR, distance 250: zebra installs it
                                               only while no BGP route is there; the plain private path)
so the encrypted path wins while BGP runs over the tunnel and the plain one takes over when the session
dies and the learned routes leave. Counters in gw's forward hook tell which path each ping took: echo
requests from strait0 (decrypted by Strait) or from the line (plain), echo replies into strait0 or onto
the line. Nothing routes out of the namespaces.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from api_builders import make_gateway, single
from api_harness import ApiServer
from bgp_sites import CPE_ASN, LOCAL_ASN, UP, Tunnel
from helpers.netns import Topology, wait_until
from helpers.strongswan import Charon
from test_api_download import download_device

HOLD = 3  # BGP hold time on both sides (seconds); keepalives every second
# DPD slower than the hold time, so BGP is what notices a dead tunnel (as with the cloud's private gateways).
TIMING = {"dpd_interval_secs": 2, "dpd_timeout_secs": 10, "retransmit_base_ms": 500, "reconnect_min_ms": 500,
          "reconnect_max_ms": 2000, "bgp_hold_secs": HOLD}
VPC_NET, VPC_GW, VPC_HOST = "10.0.0.0/16", "10.0.1.1", "10.0.1.2"
DC_NET, DC_CPE, DC_HOST = "192.168.0.0/24", "192.168.0.1", "192.168.0.2"
GW_LINE, CPE_LINE = "10.255.0.1", "10.255.0.2"  # the private line; GW_LINE is zone-a's private address
PLAIN_METRIC = 100  # gw's static route over the line
STATIC_DISTANCE = 250  # the CPE's floating static route over the line (FRR administrative distance)
COUNTERS = ("req_tunnel", "req_plain", "rep_tunnel", "rep_plain")


@dataclass
class Paths:
    """Packets gw forwarded so far: echo requests that came out of the tunnel / off the line, and echo
    replies that went into the tunnel / onto the line."""

    req_tunnel: int
    req_plain: int
    rep_tunnel: int
    rep_plain: int

    def minus(self, other: "Paths") -> "Paths":
        """The packets counted since `other`."""
        return Paths(*(getattr(self, c) - getattr(other, c) for c in COUNTERS))


class PrivateSite:
    """The namespaces, `strait serve` (zone-a with private address 10.255.0.1) with its admin SDK client,
    one private VPN gateway and one customer gateway on the CPE's line address (ASN 65530)."""

    def __init__(self, topo: Topology, strait: Path, workdir: Path):
        if not Path("/usr/lib/frr/zebra").exists():
            pytest.skip("FRR is not installed (scripts/install-deps.sh installs it)")
        self.topo, self.workdir = topo, workdir
        self.server = ApiServer(topo, strait, workdir=workdir / "serve", gateway={"timing": TIMING}, ns_name="gw",
                                private_ips={"zone-a": GW_LINE})
        self.gw, self.vpc, self.cpe, self.dc = self.server.ns, topo.ns("vpc"), topo.ns("cpe"), topo.ns("dc")
        topo.link(self.gw, f"{VPC_GW}/24", self.vpc, f"{VPC_HOST}/24")
        topo.run(self.vpc, f"ip route add default via {VPC_GW}")
        self.gw_line, self.cpe_line = topo.link(self.gw, f"{GW_LINE}/30", self.cpe, f"{CPE_LINE}/30")
        topo.link(self.cpe, f"{DC_CPE}/24", self.dc, f"{DC_HOST}/24")
        topo.run(self.dc, f"ip route add default via {DC_CPE}")
        # The plain private path, as the line's static routes (worse metric than the tunnel's), and no
        # reverse-path filter to drop a reply that comes back the other way while the paths switch.
        # The CPE's is a floating static route in FRR (start_cpe).
        topo.run(self.gw, f"ip route add {DC_NET} via {CPE_LINE} metric {PLAIN_METRIC}")
        for ns in (self.gw, self.cpe):
            topo.run(ns, "sysctl -qw net.ipv4.conf.all.rp_filter=0 && sysctl -qw net.ipv4.conf.default.rp_filter=0")
        self._count_paths()
        self.server.start()
        self.api = self.server.admin()
        self.gateway = make_gateway(self.api, NetworkType="private", Name="private-line")
        self.customer_gateway = self.api("CreateCustomerGateway", IpAddress=CPE_LINE, Asn=CPE_ASN,
                                         Name="dc-line")["CustomerGatewayId"]
        self.charon: Charon | None = None
        self.frr_dir: Path | None = None

    def _count_paths(self) -> None:
        """Named counters in gw's forward hook for the four (direction, path) pairs of ICMP echo."""
        nft = self.workdir / "paths.nft"
        nft.write_text(
            "table ip paths {\n" + "".join(f"  counter {c} {{}}\n" for c in COUNTERS) +
            "  chain watch {\n    type filter hook forward priority 0;\n"
            f'    iifname "strait0" icmp type echo-request counter name req_tunnel\n'
            f'    iifname "{self.gw_line}" icmp type echo-request counter name req_plain\n'
            f'    oifname "strait0" icmp type echo-reply counter name rep_tunnel\n'
            f'    oifname "{self.gw_line}" icmp type echo-reply counter name rep_plain\n  }}\n}}\n')
        self.topo.run(self.gw, f"nft -f {nft}")

    def paths(self) -> Paths:
        """gw's path counters now."""
        out = json.loads(self.topo.run(self.gw, "nft -j list counters table ip paths").stdout)
        got = {o["counter"]["name"]: o["counter"]["packets"] for o in out["nftables"] if "counter" in o}
        return Paths(*(got[c] for c in COUNTERS))

    # -- the connection and the peer -----------------------------------------------------------------
    def create_connection(self, tunnel: Tunnel | None) -> str:
        """A single-tunnel connection over the private gateway, as seed 004 makes it: IKEv2, destination
        routing (0.0.0.0/0 both ways), effective immediately, DPD on, BGP on `tunnel` if given. NAT
        traversal is on because strongSwan's userspace ESP (kernel-libipsec) only speaks ESP-in-UDP."""
        bgp = {"BgpConfig": tunnel.bgp_config()} if tunnel else {}
        return self.api("CreateVpnConnection", **single(
            self.gateway, self.customer_gateway, Name="encrypted private line", LocalSubnet="0.0.0.0/0",
            RemoteSubnet="0.0.0.0/0", EffectImmediately=True, EnableNatTraversal=True, EnableDpd=True,
            IkeConfig={"IkeVersion": "ikev2"}, **bgp))["VpnConnectionId"]

    def start_charon(self, vco: str) -> None:
        """Starts charon on the CPE with the connection's downloaded swanctl.conf."""
        config = download_device(self.api, vco, "strongswan")["DeviceConfig"]
        self.charon = Charon(self.topo, self.cpe, self.workdir / "charon").start()
        self.charon.load_file(config)
        # With 0.0.0.0/0 selectors kernel-libipsec routes everything into ipsec0 (table 220); the main
        # table decides for the VPC and the data center, where the tunnel's and the line's routes are.
        self.topo.run(self.cpe, f"ip rule add priority 100 to {VPC_NET} lookup main"
                                " && ip rule add priority 101 to 192.168.0.0/16 lookup main")

    def start_frr(self, tunnel: Tunnel) -> None:
        """Starts FRR (zebra, staticd, bgpd) on the CPE speaking BGP to Strait over the tunnel, with the
        floating static route over the line."""
        self.topo.run(self.cpe, f"ip addr add {tunnel.peer_ip}/30 dev ipsec0")
        # zebra drops to the frr user, which cannot reach pytest's private tmp dirs: its files live in a
        # directory of its own, removed by close().
        d = self.frr_dir = Path(tempfile.mkdtemp(prefix="strait-frr-"))
        shutil.chown(d, "frr", "frr")
        d.chmod(0o755)
        (d / "zebra.conf").write_text(f"hostname {self.cpe}\n")
        # The plain private path: a floating static route (distance 250), which zebra installs only while
        # no route learned over BGP (distance 20) is there.
        (d / "staticd.conf").write_text(f"hostname {self.cpe}\nip route {VPC_NET} {GW_LINE} {STATIC_DISTANCE}\n")
        # As a router on the data-center side: eBGP to Strait's tunnel address, the DC network announced,
        # the VPC learned and installed into the kernel by zebra (proto bgp, metric 20).
        (d / "bgpd.conf").write_text(
            f"hostname {self.cpe}\nrouter bgp {CPE_ASN}\n bgp router-id {tunnel.peer_ip}\n"
            f" no bgp ebgp-requires-policy\n no bgp network import-check\n"
            f" neighbor {tunnel.local_ip} remote-as {LOCAL_ASN}\n neighbor {tunnel.local_ip} timers 1 {HOLD}\n"
            f" neighbor {tunnel.local_ip} timers connect 1\n"
            f" address-family ipv4 unicast\n  network {DC_NET}\n exit-address-family\n")
        zserv = d / "zserv.api"
        for daemon, args in (("zebra", f"-z {zserv}"), ("staticd", f"-z {zserv}"),
                             ("bgpd", f"-S -l {tunnel.peer_ip} -z {zserv}")):
            pidfile = d / f"{daemon}.pid"
            self.topo.pidfiles.append(pidfile)
            self.topo.spawn(self.cpe, f"/usr/lib/frr/{daemon} {args} -P 0 -f {d}/{daemon}.conf -i {pidfile} "
                                      f"--vty_socket {d} --log stdout", log=self.workdir / f"{daemon}.log")
            wait_until((d / f"{daemon}.vty").exists, 10, what=f"{daemon} vty socket")

    def close(self) -> None:
        """Removes FRR's directory (the topology stops the daemons)."""
        if self.frr_dir is not None:
            shutil.rmtree(self.frr_dir, ignore_errors=True)

    def describe(self, vco: str) -> dict:
        """DescribeVpnConnection's body."""
        return self.api("DescribeVpnConnection", VpnConnectionId=vco)

    def wait_up(self, vco: str, bgp: bool = True, timeout: float = 40) -> None:
        """Waits until the IPsec SA is up and (with `bgp`) the BGP session reports success."""
        wait_until(lambda: self.describe(vco).get("Status") == UP, timeout, what=f"{vco} {UP}")
        if bgp:
            wait_until(lambda: self.describe(vco).get("VpnBgpConfig", {}).get("Status") == "success", timeout,
                       what=f"{vco} BGP status success")

    # -- routes ----------------------------------------------------------------------------------------
    def routes(self, ns: str, prefix: str) -> list[str]:
        """The main table's routes for exactly `prefix` in `ns`."""
        return [r for r in self.topo.run(ns, f"ip -4 route show exact {prefix}").stdout.splitlines() if r.strip()]

    def route_to(self, ns: str, addr: str) -> str:
        """`ip route get addr` in `ns`: the path the kernel picks now."""
        return self.topo.run(ns, f"ip -4 route get {addr}").stdout.strip()

    def encrypted(self) -> bool:
        """Both sides route the far side into the tunnel."""
        return "dev strait0" in self.route_to(self.gw, DC_HOST) and "dev ipsec0" in self.route_to(self.cpe, VPC_HOST)

    def plain(self) -> bool:
        """Both sides route the far side over the line."""
        return (f"dev {self.gw_line}" in self.route_to(self.gw, DC_HOST)
                and f"dev {self.cpe_line}" in self.route_to(self.cpe, VPC_HOST))

    def cut_tunnel(self, cut: bool) -> None:
        """Drops (or stops dropping) IKE and ESP-in-UDP (UDP 500 and 4500) on the CPE's end of the line, both
        ways: the tunnel dies while the line still carries plain traffic."""
        if cut:
            nft = self.workdir / "cut.nft"
            nft.write_text("table ip cut {\n" + "".join(
                f"  chain {hook} {{\n    type filter hook {hook} priority 0;\n"
                f'    {side} "{self.cpe_line}" udp dport {{ 500, 4500 }} drop\n  }}\n'
                for hook, side in (("input", "iifname"), ("output", "oifname"))) + "}\n")
            self.topo.run(self.cpe, f"nft -f {nft}")
        else:
            self.topo.run(self.cpe, "nft delete table ip cut")

def sample_until(site: PrivateSite, pred, timeout: float) -> float:
    """Samples gw's path counters every 50 ms until `pred(first, now)` holds and returns the time it first
    held; raises after `timeout` seconds."""
    start = time.monotonic()
    first = now = site.paths()
    while time.monotonic() - start < timeout:
        now = site.paths()
        if pred(first, now):
            return time.monotonic()
        time.sleep(0.05)
    raise TimeoutError(f"path counters did not change as expected within {timeout}s: from {first} to {now}")
