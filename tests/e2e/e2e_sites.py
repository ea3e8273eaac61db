"""The end-to-end topology: `strait serve` (API and tunnels) in namespace gw, driven through the SDK,
against strongSwan peers loaded with the configuration DownloadVpnConnectionConfig returns.

    vpc-host ─────── gw ─────────────────── cpe1 ───────── dc-host
    10.0.1.2    10.0.1.1  203.0.113.1 ── 203.0.113.11   192.168.251.1/.2   192.168.10.2 (on lo)
                (strait   203.0.113.2 ── 203.0.113.12   192.168.252.1/.2
                 serve)                    cpe2 ──────────┘
                                      (each CPE: 192.168.10.1 on lo)
                   └── API veth to the root namespace (198.51.100.128/25, see api_harness)

Zone A's address 203.0.113.1 (the gateway's InternetIp: tunnel 1, the master) faces cpe1 and zone B's
203.0.113.2 (DisasterRecoveryInternetIp: tunnel 2, the slave) faces cpe2, each on a point-to-point
veth, so cutting one link takes down exactly one tunnel. The data-center host hangs off both CPEs and
answers through the CPE a packet came from (conntrack marks select the return route), as a customer
network with two VPN devices would: which tunnel carries the traffic is Strait's choice alone.
Nothing routes out of the namespaces.
"""

from __future__ import annotations

import itertools
import re
import signal
from dataclasses import dataclass
from pathlib import Path

from api_builders import dual, make_gateway, single, tunnels
from api_harness import ZONE_IPS, Api, ApiServer
from helpers.netns import Topology, wait_until
from helpers.strongswan import Charon
from interop.sites import ping, transfer
from test_api_download import download_device

# Short timers so dead peers and reconnects show within seconds (serve's [gateway.timing]).
TIMING = {"dpd_interval_secs": 2, "dpd_timeout_secs": 8, "retransmit_base_ms": 500, "reconnect_min_ms": 500,
          "reconnect_max_ms": 3000}
VPC_NET, VPC_GW, VPC_HOST = "10.0.1.0/24", "10.0.1.1", "10.0.1.2"
DC_NET, DC_HOST, DC_CPE = "192.168.10.0/24", "192.168.10.2", "192.168.10.1"
CPE_IPS = ["203.0.113.11", "203.0.113.12"]
UP = "ipsec_sa_established"
_charon_runs = itertools.count(1)


@dataclass
class Cpe:
    """One customer device: its namespace, address, the gateway address it faces and the link between them."""

    ns: str
    ip: str
    zone_ip: str
    gw_if: str  # gw's end of the link to this CPE
    customer_gateway_id: str = ""
    charon: Charon | None = None


class Site:
    """The namespaces, the running `strait serve`, its admin SDK client and the module's shared resources
    (one VPN gateway, one customer gateway per CPE)."""

    def __init__(self, topo: Topology, strait: Path, workdir: Path):
        self.topo, self.workdir = topo, workdir
        self.server = ApiServer(topo, strait, workdir=workdir / "serve", gateway={"timing": TIMING}, ns_name="gw")
        self.gw = self.server.ns
        self.vpc, self.dc = topo.ns("vpc"), topo.ns("dc")
        topo.link(self.gw, f"{VPC_GW}/24", self.vpc, f"{VPC_HOST}/24")
        topo.run(self.vpc, f"ip route add default via {VPC_GW}")
        topo.run(self.dc, f"ip addr add {DC_HOST}/32 dev lo")
        self.cpes: list[Cpe] = []
        dc_ifs = []
        for n, (zone_ip, ip) in enumerate(zip(ZONE_IPS.values(), CPE_IPS), start=1):
            cpe = topo.ns(f"cpe{n}")
            gw_if, _ = topo.link(self.gw, f"{zone_ip} peer {ip}", cpe, f"{ip} peer {zone_ip}")
            dc_if, _ = topo.link(self.dc, f"192.168.25{n}.2/30", cpe, f"192.168.25{n}.1/30")
            # The CPE owns an address of the DC network, as a LAN-facing device does (kernel-libipsec
            # refuses a policy when it has no local address inside the local traffic selector).
            topo.run(cpe, f"ip addr add {DC_CPE}/32 dev lo && ip route add {DC_NET} via 192.168.25{n}.2")
            dc_ifs.append(dc_if)
            self.cpes.append(Cpe(cpe, ip, zone_ip, gw_if))
        self._answer_through_the_arriving_cpe(dc_ifs)
        self.server.start()
        self.api: Api = self.server.admin()
        self.gateway = make_gateway(self.api, Name="e2e")
        gw = self.api("DescribeVpnGateway", VpnGatewayId=self.gateway)
        assert (gw["InternetIp"], gw["DisasterRecoveryInternetIp"]) == tuple(ZONE_IPS.values()), gw
        for cpe in self.cpes:
            cpe.customer_gateway_id = self.api("CreateCustomerGateway", IpAddress=cpe.ip,
                                               Name=f"dc-{cpe.ip}")["CustomerGatewayId"]

    def _answer_through_the_arriving_cpe(self, dc_ifs: list[str]) -> None:
        """dc-host routes new flows through cpe1 and answers each flow through the CPE its last packet came from."""
        rules = "".join(f'    iifname "{i}" ct mark set {n}\n' for n, i in enumerate(dc_ifs, start=1))
        nft = self.workdir / "dc.nft"
        nft.write_text("table ip e2e {\n  chain pre {\n    type filter hook prerouting priority mangle;\n"
                       f"{rules}  }}\n  chain out {{\n    type route hook output priority mangle;\n"
                       "    meta mark set ct mark\n  }\n}\n")
        cmds = [f"nft -f {nft}", "sysctl -qw net.ipv4.conf.all.rp_filter=0",
                "ip route add default via 192.168.251.1"]
        for n, i in enumerate(dc_ifs, start=1):
            cmds += [f"sysctl -qw net.ipv4.conf.{i}.rp_filter=0", f"ip rule add fwmark {n} table {100 + n}",
                     f"ip route add default via 192.168.25{n}.1 table {100 + n}"]
        self.topo.run(self.dc, " && ".join(cmds))

    # -- connections through the SDK --------------------------------------------------------------
    def create_single(self, ike: dict | None = None, **fields) -> str:
        """A single-tunnel connection to cpe1: API defaults but for the subnets, EffectImmediately=true and
        EnableNatTraversal=true.

        NAT traversal is the one default these peers cannot take: kernel-libipsec (this kernel has no
        ESP) carries ESP only inside UDP, which charon negotiates through NAT-T ("faking NAT situation to
        enforce UDP encapsulation"); with NAT-T off it refuses the CHILD_SA ("IPsec SA: only UDP
        encapsulation is supported") and answers NO_PROPOSAL_CHOSEN."""
        extra = {"IkeConfig": ike} if ike else {}
        return self.api("CreateVpnConnection", **single(
            self.gateway, self.cpes[0].customer_gateway_id, LocalSubnet=VPC_NET, RemoteSubnet=DC_NET,
            **{"EffectImmediately": True, "EnableNatTraversal": True, **extra, **fields}))["VpnConnectionId"]

    def create_dual(self, t1: dict | None = None, t2: dict | None = None, **fields) -> str:
        """A dual-tunnel connection: master to cpe1, slave to cpe2."""
        body = dual(self.gateway, self.cpes[0].customer_gateway_id, self.cpes[1].customer_gateway_id,
                    t1=t1, t2=t2, **fields)
        return self.api("CreateVpnConnection", **{**body, "LocalSubnet": VPC_NET, "RemoteSubnet": DC_NET})[
            "VpnConnectionId"]

    def strongswan_config(self, vco: str) -> str:
        """The connection's strongSwan swanctl.conf as DownloadVpnConnectionConfig (DeviceType=strongswan) gives it."""
        return download_device(self.api, vco, "strongswan")["DeviceConfig"]

    def describe(self, vco: str) -> dict:
        """DescribeVpnConnection's body."""
        return self.api("DescribeVpnConnection", VpnConnectionId=vco)

    def statuses(self, vco: str) -> list[str]:
        """The connection's Status, then each tunnel's Status (master first) when it lists tunnels."""
        body = self.describe(vco)
        return [body.get("Status", "")] + [t.get("Status", "") for t in tunnels(body)]

    def wait_status(self, vco: str, want: str = UP, timeout: float = 30) -> list[str]:
        """Waits until the connection and every tunnel it lists report `want`."""
        return wait_until(lambda: (s := self.statuses(vco)) and all(x == want for x in s) and s,
                          timeout=timeout, what=f"{vco} status {want}")

    def logs(self, vco: str, tunnel_id: str | None = None) -> list[str]:
        """The connection's negotiation log lines of the last 10 minutes (first 50)."""
        extra = {"TunnelId": tunnel_id} if tunnel_id else {}
        body = self.api("DescribeVpnConnectionLogs", VpnConnectionId=vco, MinutePeriod=10, PageSize=50, **extra)
        return (body.get("Data") or {}).get("Logs") or []

    # -- the peers ----------------------------------------------------------------------------------
    def start_peer(self, n: int, config: str) -> Charon:
        """Starts a fresh charon on CPE `n` (0 or 1) and loads `config` into it as it is."""
        cpe = self.cpes[n]
        self.stop_peer(n)
        cpe.charon = Charon(self.topo, cpe.ns, self.workdir / f"cpe{n + 1}-{next(_charon_runs)}").start()
        cpe.charon.route([VPC_NET])
        cpe.charon.load_file(config)
        return cpe.charon

    def restart_peer(self, n: int) -> Charon:
        """Kills CPE `n`'s charon with SIGKILL (a power cut) and starts it again on the same files."""
        charon = self.cpes[n].charon
        charon.stop(signal.SIGKILL)
        charon.start()
        charon.route([VPC_NET])
        charon.swanctl("--load-all", "--file", str(charon.dir / "swanctl.conf"))
        return charon

    def stop_peer(self, n: int) -> None:
        """Stops CPE `n`'s charon, if one runs."""
        if self.cpes[n].charon is not None:
            self.cpes[n].charon.stop()
            self.cpes[n].charon = None

    # -- traffic ------------------------------------------------------------------------------------
    def pings_both_ways(self) -> None:
        """vpc-host and dc-host answer each other's pings (retrying while a tunnel comes up)."""
        assert ping(self.topo, self.vpc, VPC_HOST, DC_HOST), f"ping {VPC_HOST} -> {DC_HOST}"
        assert ping(self.topo, self.dc, DC_HOST, VPC_HOST), f"ping {DC_HOST} -> {VPC_HOST}"

    def transfers_both_ways(self, tmp: Path) -> None:
        """Moves 10 MB of random bytes each way over TCP between vpc-host and dc-host, sha256-checked."""
        transfer(self.topo, self.vpc, VPC_HOST, self.dc, DC_HOST, tmp, port=5001)
        transfer(self.topo, self.dc, DC_HOST, self.vpc, VPC_HOST, tmp, port=5002)

    def tx_packets(self, n: int) -> int:
        """Packets gw has sent on its link to CPE `n` so far."""
        return int(self.topo.run(self.gw, f"cat /sys/class/net/{self.cpes[n].gw_if}/statistics/tx_packets").stdout)

    def set_link(self, n: int, up: bool) -> None:
        """Brings gw's link to CPE `n` up or down."""
        self.topo.run(self.gw, f"ip link set {self.cpes[n].gw_if} {'up' if up else 'down'}")

    # -- between tests ------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the module's starting state: serve running, both links up, no connection, no charon."""
        if self.server.proc is None or self.server.proc.poll() is not None:
            self.server.start()
        for n in range(len(self.cpes)):
            self.set_link(n, True)
        for c in self.api("DescribeVpnConnections", PageSize=50).get("VpnConnections", {}).get("VpnConnection", []):
            self.api("DeleteVpnConnection", VpnConnectionId=c["VpnConnectionId"])
        for n in range(len(self.cpes)):
            self.stop_peer(n)


def ping_log_gaps(text: str, interval: float) -> tuple[int, float, list[int]]:
    """From `ping -i interval` output: (replies, longest outage in seconds, the answered icmp_seq numbers).

    The outage is the run of unanswered sequence numbers between two answered ones, times the interval."""
    seqs = sorted({int(m) for m in re.findall(r"icmp_seq=(\d+) ttl=", text)})
    gaps = [b - a - 1 for a, b in zip(seqs, seqs[1:])]
    return len(seqs), (max(gaps, default=0)) * interval, seqs
