"""BGP through the gateway: `strait serve` in namespace gw runs BGP-enabled connections, created through
the SDK, to strongSwan CPEs (loaded with the downloaded configuration) that run FRR bgpd or BIRD 2 over
the tunnel, as an on-premises router with a tunnel interface would.

    vpc-host ──── gw ──────────────── cpeN ─────────── dc-host
    10.0.1.2   10.0.1.1   203.0.113.1 ── 203.0.113.1N   192.168.25N.1/.2    192.168.0.2, 192.168.1.2,
               (strait    (zone A, or zone B's             (one link per      192.168.2.2 (on lo)
                serve)     203.0.113.2 for a slave)         CPE)
               strait0: LocalBgpIp      ipsec0: the other host of the tunnel's /30 (the BGP speaker's address)

Every CPE has its own point-to-point link to gw, so cutting one link takes down exactly one CPE. The
connections protect 0.0.0.0/0 both ways (destination routing): what crosses a tunnel is decided by
routes alone, on gw by the prefixes BGP learned, on the CPE by routes into strongSwan's TUN `ipsec0`.
The data-center host answers every flow through the CPE its last packet came from (conntrack marks
select the return route), so which tunnel carries a flow is Strait's choice alone. Nothing routes out
of the namespaces.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from api_builders import make_gateway, single
from api_harness import ZONE_IPS, Api, ApiServer
from helpers.netns import Topology, wait_until
from helpers.strongswan import Charon
from test_api_download import download_device
from transit_builders import attach, make_transit_router

HOLD = 6  # the BGP hold time serve is configured with (seconds)
# Short timers so failures show within seconds; DPD slower than the BGP hold time, so BGP is what detects a cut.
TIMING = {"dpd_interval_secs": 2, "dpd_timeout_secs": 10, "retransmit_base_ms": 500, "reconnect_min_ms": 500,
          "reconnect_max_ms": 3000, "bgp_hold_secs": HOLD}
LOCAL_ASN, CPE_ASN = 65531, 65530
VPC_NET, VPC_GW, VPC_HOST = "10.0.0.0/16", "10.0.1.1", "10.0.1.2"
DC_NETS = ["192.168.0.0/24", "192.168.1.0/24", "192.168.2.0/24"]
DC_HOSTS = ["192.168.0.2", "192.168.1.2", "192.168.2.2"]
UP = "ipsec_sa_established"
BGPD = "/usr/lib/frr/bgpd"
FLOWS = Path(__file__).resolve().parent / "bgp_flows.py"


@dataclass
class Tunnel:
    """One tunnel's /30: Strait's LocalBgpIp and the CPE's address (the other host)."""

    cidr: str

    @property
    def local_ip(self) -> str:
        return str(ipaddress.ip_network(self.cidr)[1])

    @property
    def peer_ip(self) -> str:
        return str(ipaddress.ip_network(self.cidr)[2])

    def bgp_config(self) -> dict:
        """BgpConfig / TunnelBgpConfig for the API."""
        return {"EnableBgp": True, "LocalAsn": LOCAL_ASN, "TunnelCidr": self.cidr, "LocalBgpIp": self.local_ip}


class Frr:
    """FRR bgpd (no zebra) speaking to Strait from the CPE's tunnel address, originating the DC prefixes."""

    name = "frr"
    #: More neighbor settings (`{peer}` is Strait's address), for subclasses.
    neighbor_extra = ""

    def __init__(self, topo: Topology, ns: str, workdir: Path, tunnel: Tunnel, password: str | None = None):
        if not Path(BGPD).exists():
            pytest.skip("FRR is not installed (scripts/install-deps.sh installs it)")
        self.topo, self.ns, self.dir, self.tunnel = topo, ns, workdir, tunnel
        workdir.mkdir(parents=True, exist_ok=True)
        nets = "".join(f"  network {n}\n" for n in DC_NETS)
        peer = tunnel.local_ip
        pw = f" neighbor {peer} password {password}\n" if password else ""
        # As the seed's router configuration: eBGP multihop to Strait's tunnel address, the DC networks announced.
        (workdir / "bgpd.conf").write_text(
            f"hostname {ns}\nrouter bgp {CPE_ASN}\n bgp router-id {tunnel.peer_ip}\n no bgp ebgp-requires-policy\n"
            f" no bgp network import-check\n neighbor {peer} remote-as {LOCAL_ASN}\n"
            f" neighbor {peer} ebgp-multihop 255\n neighbor {peer} timers 2 {HOLD}\n"
            f" neighbor {peer} timers connect 1\n{pw}{self.neighbor_extra.format(peer=peer)}"
            f" address-family ipv4 unicast\n{nets} exit-address-family\n")
        pidfile = workdir / "bgpd.pid"
        topo.pidfiles.append(pidfile)
        self.proc = topo.spawn(ns, f"{BGPD} -Z -S -P 0 -l {tunnel.peer_ip} -f {workdir}/bgpd.conf -i {pidfile} "
                                   f"--vty_socket {workdir} --log stdout", log=workdir / "bgpd.log")
        wait_until(lambda: (workdir / "bgpd.vty").exists(), 10, what="bgpd vty socket")

    def vtysh(self, cmd: str) -> str:
        """The output of one vtysh command against this bgpd."""
        return self.topo.run(self.ns, f"vtysh --vty_socket {self.dir} -c '{cmd}'", check=False).stdout

    def routes(self) -> set[str]:
        """Prefixes in bgpd's table learned from Strait."""
        try:
            table = json.loads(self.vtysh("show ip bgp json")).get("routes", {})
        except json.JSONDecodeError:
            return set()
        return {p for p, paths in table.items()
                if any(h.get("ip") == self.tunnel.local_ip for path in paths for h in path.get("nexthops", []))}

    def table(self) -> str:
        """`show ip bgp`, for the test's output."""
        return self.vtysh("show ip bgp")


class Bird:
    """BIRD 2 speaking to Strait over the CPE's tunnel interface, exporting the DC prefixes."""

    name = "bird"

    def __init__(self, topo: Topology, ns: str, workdir: Path, tunnel: Tunnel, password: str | None = None):
        if not shutil.which("bird"):
            pytest.skip("BIRD 2 is not installed (scripts/install-deps.sh installs it)")
        self.topo, self.ns, self.sock = topo, ns, workdir / "bird.ctl"
        workdir.mkdir(parents=True, exist_ok=True)
        statics = "".join(f"  route {n} blackhole;\n" for n in DC_NETS)
        pw = f'  password "{password}";\n' if password else ""
        # Strait's address is on the tunnel interface's /30, a directly connected neighbour.
        (workdir / "bird.conf").write_text(
            f"router id {tunnel.peer_ip};\nprotocol device {{}}\nprotocol direct {{ ipv4; }}\n"
            f"protocol static dc_nets {{\n  ipv4;\n{statics}}}\n"
            f"protocol bgp strait {{\n  local {tunnel.peer_ip} as {CPE_ASN};\n"
            f"  neighbor {tunnel.local_ip} as {LOCAL_ASN};\n  hold time {HOLD};\n  keepalive time 2;\n"
            f"  connect retry time 1;\n{pw}  ipv4 {{ import all; export where source = RTS_STATIC; }};\n}}\n")
        pidfile = workdir / "bird.pid"
        topo.pidfiles.append(pidfile)
        self.proc = topo.spawn(ns, f"bird -f -c {workdir}/bird.conf -s {self.sock} -P {pidfile}",
                               log=workdir / "bird.log")
        wait_until(lambda: self.sock.exists(), 10, what="bird control socket")

    def routes(self) -> set[str]:
        """Prefixes BIRD learned through its session with Strait."""
        r = self.topo.run(self.ns, f"birdc -s {self.sock} show route protocol strait", check=False)
        return {line.split()[0] for line in r.stdout.splitlines() if line[:1].isdigit()}

    def table(self) -> str:
        """The routes BIRD learned from Strait, for the test's output."""
        return self.topo.run(self.ns, f"birdc -s {self.sock} show route protocol strait", check=False).stdout


@dataclass
class Cpe:
    """One customer device: namespace, public address, the gateway address it faces, its links."""

    n: int
    ns: str
    ip: str
    zone_ip: str
    gw_if: str  # gw's end of the link to this CPE
    customer_gateway_id: str = ""
    charon: Charon | None = None
    speaker: Frr | Bird | None = None


class TransitRouter:
    """A CEN instance with one transit router, the VPC `vpc` attached to it, and the connections attached
    through `api`'s CBN 2017-09-12 client."""

    def __init__(self, api: Api, vpc: str):
        self.api = api
        self.cen, self.id, self.route_table = make_transit_router(api)
        self.vpc_attachment = api.cbn("CreateTransitRouterVpcAttachment", CenId=self.cen, TransitRouterId=self.id,
                                      VpcId=vpc)["TransitRouterAttachmentId"]
        #: Attachment id of each attached connection.
        self.attachments: dict[str, str] = {}

    def attach(self, vco: str, zone: str, owner: Api | None = None) -> str:
        """Attaches connection `vco` in `zone` with the default options (all three on), after its owner, if
        another tenant, granted the CEN instance the connection; returns the attachment."""
        cross = {}
        if owner is not None:
            owner.cbn("GrantInstanceToTransitRouter", InstanceType="VPN", InstanceId=vco, CenId=self.cen,
                      CenOwnerId=int(self.api.account_id))
            cross = {"VpnOwnerId": int(owner.account_id)}
        self.attachments[vco] = attach(self.api, self.cen, self.id, vco, Zone=[{"ZoneId": zone}], **cross)
        return self.attachments[vco]

    def next_hops(self) -> dict[str, set[str]]:
        """The route table: each destination with its next hops' resource ids (connections, VPCs)."""
        body = self.api.cbn("ListTransitRouterRouteEntries", TransitRouterRouteTableId=self.route_table,
                            MaxResults=100)
        out: dict[str, set[str]] = {}
        for e in body.get("TransitRouterRouteEntries") or []:
            hop = e.get("TransitRouterRouteEntryNextHopResourceId") or e.get("TransitRouterRouteEntryNextHopId", "")
            out.setdefault(e["TransitRouterRouteEntryDestinationCidrBlock"], set()).add(hop)
        return out

    def option(self, vco: str, name: str, on: bool) -> None:
        """Switches one option of `vco`'s attachment: "propagation", "association" or "publish"."""
        a = self.attachments[vco]
        table = {"TransitRouterAttachmentId": a, "TransitRouterRouteTableId": self.route_table}
        if name == "propagation":
            self.api.cbn(f"{'Enable' if on else 'Disable'}TransitRouterRouteTablePropagation", **table)
        elif name == "association":
            self.api.cbn("AssociateTransitRouterAttachmentWithRouteTable" if on
                         else "DissociateTransitRouterAttachmentFromRouteTable", **table)
        else:
            self.api.cbn("UpdateTransitRouterVpnAttachmentAttribute", TransitRouterAttachmentId=a,
                         AutoPublishRouteEnabled=on)


_SA_IN = re.compile(r"^\s+in\s+[0-9a-f]{8}.*?(\d+) bytes,\s+(\d+) packets", re.M)


class BgpSite:
    """The namespaces, `strait serve` with its admin SDK client, the connections' placement, and one customer
    gateway (ASN 65530, BGP MD5 key `auth_key` if given) per CPE. `zones[i]` is the gateway address CPE i+1
    faces. The connections are placed on one VPN gateway on vpc-local (10.0.0.0/16), or with `transit` on a
    transit router (a CEN instance's, with vpc-local attached): created with CreateVpnAttachment, then attached
    with CreateTransitRouterVpnAttachment in the zone of their CPE's gateway address."""

    def __init__(self, topo: Topology, strait: Path, workdir: Path, zones: list[str], auth_key: str | None = None,
                 transit: bool = False):
        self.auth_key = auth_key
        self.topo, self.workdir = topo, workdir
        self.server = ApiServer(topo, strait, workdir=workdir / "serve", gateway={"timing": TIMING}, ns_name="gw")
        self.gw = self.server.ns
        self.vpc, self.dc = topo.ns("vpc"), topo.ns("dc")
        topo.link(self.gw, f"{VPC_GW}/24", self.vpc, f"{VPC_HOST}/24")
        topo.run(self.vpc, f"ip route add default via {VPC_GW}")
        topo.run(self.dc, " && ".join(f"ip addr add {h}/32 dev lo" for h in DC_HOSTS))
        self.cpes: list[Cpe] = []
        dc_links = []
        for n, zone_ip in enumerate(zones, start=1):
            ip = f"203.0.113.{10 + n}"
            ns = topo.ns(f"cpe{n}")
            gw_if, _ = topo.link(self.gw, f"{zone_ip} peer {ip}", ns, f"{ip} peer {zone_ip}")
            dc_if, _ = topo.link(self.dc, f"192.168.25{n}.2/30", ns, f"192.168.25{n}.1/30")
            topo.run(ns, f"ip route add 192.168.0.0/22 via 192.168.25{n}.2")
            dc_links.append((dc_if, f"192.168.25{n}.1"))
            self.cpes.append(Cpe(n, ns, ip, zone_ip, gw_if))
        self._answer_through_the_arriving_cpe(dc_links)
        self.server.start()
        self.api = self.server.admin()
        self.gateway, self.transit = "", None
        #: The tenant owning each connection not of the admin account.
        self.owners: dict[str, Api] = {}
        if transit:
            self.transit = TransitRouter(self.api, "vpc-local")
        else:
            self.gateway = make_gateway(self.api, Name="bgp")
            gw = self.api("DescribeVpnGateway", VpnGatewayId=self.gateway)
            assert (gw["InternetIp"], gw["DisasterRecoveryInternetIp"]) == tuple(ZONE_IPS.values()), gw
        for cpe in self.cpes:
            key = {"AuthKey": auth_key} if auth_key else {}
            cpe.customer_gateway_id = self.api("CreateCustomerGateway", IpAddress=cpe.ip, Asn=CPE_ASN,
                                               Name=f"Customer-Gateway{cpe.n}", **key)["CustomerGatewayId"]

    def _answer_through_the_arriving_cpe(self, links: list[tuple[str, str]]) -> None:
        """dc-host routes new flows through the first CPE and answers each flow through the CPE its last
        packet came from."""
        marks = "".join(f'    iifname "{i}" ct mark set {n}\n' for n, (i, _) in enumerate(links, start=1))
        nft = self.workdir / "dc.nft"
        nft.write_text("table ip bgp {\n  chain pre {\n    type filter hook prerouting priority mangle;\n"
                       f"{marks}  }}\n  chain out {{\n    type route hook output priority mangle;\n"
                       "    meta mark set ct mark\n  }\n}\n")
        cmds = [f"nft -f {nft}", "sysctl -qw net.ipv4.conf.all.rp_filter=0", f"ip route add default via {links[0][1]}"]
        for n, (i, via) in enumerate(links, start=1):
            cmds += [f"sysctl -qw net.ipv4.conf.{i}.rp_filter=0", f"ip rule add fwmark {n} table {100 + n}",
                     f"ip route add default via {via} table {100 + n}"]
        self.topo.run(self.dc, " && ".join(cmds))

    # -- connections through the SDK --------------------------------------------------------------
    def _create(self, body: dict, zone_ip: str, owner: Api | None = None) -> str:
        """Creates a connection from CreateVpnConnection's `body`: on the VPN gateway, or attached to nothing and
        then to the transit router in the zone of `zone_ip` (by `owner`, another tenant, if given: it grants the
        transit router's CEN the connection first). Returns its id."""
        if self.transit is None:
            return self.api("CreateVpnConnection", **body)["VpnConnectionId"]
        body = {k: v for k, v in body.items() if k != "VpnGatewayId"}
        vco = (owner or self.api)("CreateVpnAttachment", **body)["VpnConnectionId"]
        if owner is not None:
            self.owners[vco] = owner
        zone = next(z for z, ip in ZONE_IPS.items() if ip == zone_ip)
        self.transit.attach(vco, zone, owner)
        return vco

    def create_single(self, cpe: Cpe, tunnel: Tunnel, owner: Api | None = None) -> str:
        """A single-tunnel BGP connection to `cpe` as seed 003 makes it: IKEv2, DH group14 for IKE and IPsec,
        destination routing (0.0.0.0/0 both ways), effective immediately; in `owner`'s account (with a customer
        gateway of its own), if given.
        NAT traversal is on because strongSwan's userspace ESP (kernel-libipsec) only speaks ESP-in-UDP."""
        cgw = cpe.customer_gateway_id
        if owner is not None:
            cgw = owner("CreateCustomerGateway", IpAddress=cpe.ip, Asn=CPE_ASN,
                        Name=f"Customer-Gateway{cpe.n}")["CustomerGatewayId"]
        return self._create(single(
            self.gateway, cgw, Name=f"IPsec-VPN Connection {cpe.n}",
            LocalSubnet="0.0.0.0/0", RemoteSubnet="0.0.0.0/0", EffectImmediately=True, EnableNatTraversal=True,
            IkeConfig={"IkeVersion": "ikev2", "IkePfs": "group14"}, IpsecConfig={"IpsecPfs": "group14"},
            BgpConfig=tunnel.bgp_config()), cpe.zone_ip, owner)

    def create_dual(self, master: Cpe, slave: Cpe, tunnels: tuple[Tunnel, Tunnel]) -> str:
        """A dual-tunnel connection with BGP on both tunnels (master to `master`, slave to `slave`)."""
        opts = [{"CustomerGatewayId": cpe.customer_gateway_id, "Role": role, "EnableNatTraversal": True,
                 "TunnelIkeConfig": {"IkeVersion": "ikev2", "IkePfs": "group14"},
                 "TunnelIpsecConfig": {"IpsecPfs": "group14"}, "TunnelBgpConfig": t.bgp_config()}
                for cpe, role, t in ((master, "master", tunnels[0]), (slave, "slave", tunnels[1]))]
        return self._create({"VpnGatewayId": self.gateway, "LocalSubnet": "0.0.0.0/0", "RemoteSubnet": "0.0.0.0/0",
                             "EffectImmediately": True, "EnableTunnelsBgp": True,
                             "TunnelOptionsSpecification": opts}, master.zone_ip)

    def strongswan_config(self, vco: str) -> str:
        """The connection's swanctl.conf as DownloadVpnConnectionConfig (DeviceType=strongswan) gives it."""
        return download_device(self.owners.get(vco, self.api), vco, "strongswan")["DeviceConfig"]

    def describe(self, vco: str) -> dict:
        """DescribeVpnConnection's body."""
        return self.owners.get(vco, self.api)("DescribeVpnConnection", VpnConnectionId=vco)

    def bgp_statuses(self, vco: str) -> list[str]:
        """Each tunnel's BGP status (VpnBgpConfig.Status, or every TunnelBgpConfig.BgpStatus, master first)."""
        body = self.describe(vco)
        if "VpnBgpConfig" in body:
            return [body["VpnBgpConfig"].get("Status", "")]
        ts = sorted(body["TunnelOptionsSpecification"]["TunnelOptions"], key=lambda t: t.get("Role") != "master")
        return [t["TunnelBgpConfig"].get("BgpStatus", "") for t in ts]

    def wait_up(self, vco: str, timeout: float = 40) -> None:
        """Waits until the connection has its IPsec SA and every tunnel's BGP session reports success."""
        wait_until(lambda: self.describe(vco).get("Status") == UP, timeout, what=f"{vco} {UP}")
        wait_until(lambda: all(s == "success" for s in self.bgp_statuses(vco)), timeout,
                   what=f"{vco} BGP status success")

    def bgp_routes(self) -> set[tuple[str, str, str, str]]:
        """(RouteDest, NextHop connection, NextHopTunnelId, AsPath) of every BGP route DescribeVpnRouteEntries
        lists."""
        body = self.api("DescribeVpnRouteEntries", VpnGatewayId=self.gateway, RouteEntryType="bgp", PageSize=50)
        return {(r["RouteDest"], r["NextHop"], r.get("NextHopTunnelId", ""), r.get("AsPath", ""))
                for r in (body.get("VpnRouteEntries") or {}).get("VpnRouteEntry", [])}

    def logs(self, vco: str) -> list[str]:
        """The connection's negotiation log lines of the last 10 minutes."""
        body = self.owners.get(vco, self.api)("DescribeVpnConnectionLogs", VpnConnectionId=vco, MinutePeriod=10,
                                              PageSize=50)
        return (body.get("Data") or {}).get("Logs") or []

    # -- the peers ----------------------------------------------------------------------------------
    def start_cpe(self, cpe: Cpe, config: str, tunnel: Tunnel, speaker=Frr) -> None:
        """Starts charon on `cpe` with the downloaded swanctl.conf, puts the CPE's tunnel address on
        ipsec0 (the /30 towards Strait's BGP address is then on-link there), routes the VPC into the
        tunnel, and starts the BGP speaker (signing with the customer gateway's AuthKey, if any)."""
        d = self.workdir / f"cpe{cpe.n}"
        cpe.charon = Charon(self.topo, cpe.ns, d / "charon").start()
        cpe.charon.load_file(config)
        # With 0.0.0.0/0 selectors kernel-libipsec routes everything into ipsec0 (table 220); the data
        # center stays on the LAN side.
        self.topo.run(cpe.ns, f"ip addr add {tunnel.peer_ip}/30 dev ipsec0 && ip route replace {VPC_NET} dev ipsec0"
                              " && ip rule add priority 100 to 192.168.0.0/16 lookup main")
        cpe.speaker = speaker(self.topo, cpe.ns, d / speaker.name, tunnel, self.auth_key)

    def stop_cpe(self, cpe: Cpe) -> None:
        """Kills the CPE's charon, then its BGP speaker, with SIGKILL, as a power cut: charon first, so its
        TUN device is gone before the kernel closes the speaker's TCP connection and nothing reaches Strait."""
        if cpe.charon is not None:
            cpe.charon.stop(signal.SIGKILL)
        if cpe.speaker is not None:
            self.topo.kill(cpe.speaker.proc, signal.SIGKILL)

    def set_link(self, cpe: Cpe, up: bool) -> None:
        """Brings gw's link to `cpe` up or down."""
        self.topo.run(self.gw, f"ip link set {cpe.gw_if} {'up' if up else 'down'}")

    def sa_inbound(self, cpe: Cpe) -> tuple[int, int]:
        """(bytes, packets) the CPE's CHILD_SAs received so far (strongSwan's counters)."""
        out = cpe.charon.swanctl("--list-sas").stdout
        pairs = [(int(b), int(p)) for b, p in _SA_IN.findall(out)]
        return sum(b for b, _ in pairs), sum(p for _, p in pairs)

    # -- serve's forwarding -------------------------------------------------------------------------
    def kernel_routes(self) -> dict[str, str]:
        """serve's kernel routes into its TUN device: prefix -> the route line."""
        out = self.topo.run(self.gw, "ip -4 route show dev strait0").stdout
        return {line.split()[0]: line for line in out.splitlines() if line.strip()}

    def learned_by_tunnel(self, prefixes: list[str]) -> set[str]:
        """The tunnels whose latest "BGP routes learned" line in serve's log lists exactly `prefixes`."""
        latest = {}
        for line in self.server.log.read_text(errors="replace").splitlines():
            if m := re.search(r"BGP routes learned tunnel=(\S+) prefixes=\[(.*)\]", line):
                latest[m.group(1)] = sorted(filter(None, m.group(2).split(", ")))
        return {t for t, p in latest.items() if p == sorted(prefixes)}

    def flows(self, dst: str, n: int, seconds: float, out: Path, port: int = 7000, interval: float = 0.05):
        """Starts the UDP echo server on dc-host and `n` flows from vpc-host; returns the sender's process."""
        self.topo.spawn(self.dc, f"{sys.executable} {FLOWS} echo {dst} {port}", log=self.workdir / "echo.log")
        return self.topo.spawn(self.vpc, f"{sys.executable} {FLOWS} send {dst} {port} {n} {seconds} {interval} {out}",
                               log=self.workdir / "send.log")
