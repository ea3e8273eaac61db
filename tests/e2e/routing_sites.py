"""Route weights, policy routes and health checks on the e2e site (e2e_sites.Site): two single-tunnel,
destination-routed connections (LocalSubnet = RemoteSubnet = 0.0.0.0/0) on the one VPN gateway, one to
cpe1 and one to cpe2, steered by the gateway's route entries.

Both connections run on the gateway's InternetIp 203.0.113.1 (a single-tunnel connection always does):
cpe1 faces that address on its link, and cpe2 gets a route to it over its own link to gw, so each CPE's
tunnel still crosses exactly one link. Which CPE carries the traffic of a VPC source is read from
nftables counters on each CPE: packets leaving strongSwan's ipsec0 device (decrypted ESP) per VPC
source address, so IKE, DPD and the health checks' probes are not counted. Another counter sees each
probe arrive at its CPE, so a test can drop them right after one got through.

Health checks probe from an idle VPC address (sip, which serve puts on its TUN device) to the CPE's own
address on its DC link (dip), which only that CPE has: each check tests its own tunnel.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from api_builders import single
from e2e_sites import DC_NET, VPC_HOST, Site
from helpers.netns import wait_until

SECOND_VPC_HOST = "10.0.1.3"
VPC_SOURCES = (VPC_HOST, SECOND_VPC_HOST)
# Per CPE: an idle VPC address the gateway probes from, and the CPE's address on its DC link.
PROBE_IPS = [("10.0.1.201", "192.168.251.1"), ("10.0.1.202", "192.168.252.1")]
TUN = "strait0"


def _counter(src: str) -> str:
    """The nftables counter name of a VPC source address."""
    return "from_" + src.replace(".", "_")


class Routing:
    """The e2e site prepared for two connections on InternetIp, with per-source counters on both CPEs."""

    def __init__(self, site: Site):
        self.site = site
        topo = site.topo
        # cpe2 reaches InternetIp across its own link to gw (its connection runs there too).
        topo.run(site.cpes[1].ns, f"ip route replace {site.cpes[0].zone_ip} via {site.cpes[1].zone_ip}")
        # A second VPC host for the policy route's source.
        vpc_if = topo.run(site.vpc, f"ip -o -4 addr show to {VPC_HOST}").stdout.split()[1]
        topo.run(site.vpc, f"ip addr add {SECOND_VPC_HOST}/24 dev {vpc_if}")
        counters = "".join(f"  counter {_counter(s)} {{}}\n" for s in VPC_SOURCES)
        rules = "".join(f'    iifname "ipsec0" ip saddr {s} counter name "{_counter(s)}"\n' for s in VPC_SOURCES)
        for n, cpe in enumerate(site.cpes):
            # kernel-libipsec routes each CHILD_SA's remote selector into ipsec0 in table 220 whatever
            # install_routes says; for 0.0.0.0/0 that is a default route, which would send the decrypted
            # traffic for the DC back into the tunnel. The CPE's specific routes (the DC via its LAN link,
            # the VPC into ipsec0, the gateway over its link) come first.
            topo.run(cpe.ns, "ip rule add lookup main suppress_prefixlength 0 pref 100")
            nft = site.workdir / f"routing-cpe{n + 1}.nft"
            nft.write_text(f"table ip routing {{\n{counters}  counter probes {{}}\n  chain through {{\n"
                           f"    type filter hook forward priority 0;\n{rules}  }}\n"
                           "  chain arrive {\n    type filter hook input priority -10;\n"
                           f'    ip daddr {PROBE_IPS[n][1]} icmp type echo-request counter name "probes"\n'
                           "  }\n}\n")
            topo.run(cpe.ns, f"nft -f {nft}")

    # -- API --------------------------------------------------------------------------------------
    def connect(self, n: int, health: tuple[int, int] | None = None) -> str:
        """A destination-routed single-tunnel connection to CPE `n` (0 or 1), negotiating at once; with
        `health` = (interval, retry), a revoke_route health check from PROBE_IPS[n].

        NAT traversal on: kernel-libipsec carries ESP only inside UDP (see Site.create_single)."""
        fields = {"LocalSubnet": "0.0.0.0/0", "RemoteSubnet": "0.0.0.0/0", "EffectImmediately": True,
                  "EnableNatTraversal": True, "Name": f"to-cpe{n + 1}"}
        if health:
            sip, dip = PROBE_IPS[n]
            fields["HealthCheckConfig"] = {"enable": True, "sip": sip, "dip": dip, "interval": health[0],
                                           "retry": health[1], "policy": "revoke_route"}
        body = single(self.site.gateway, self.site.cpes[n].customer_gateway_id, **fields)
        return self.site.api("CreateVpnConnection", **body)["VpnConnectionId"]

    def route(self, vco: str, weight: int, dest: str = DC_NET) -> None:
        """CreateVpnRouteEntry: `dest` via connection `vco` with `weight` (100 active, 0 standby)."""
        self.site.api("CreateVpnRouteEntry", VpnGatewayId=self.site.gateway, RouteDest=dest, NextHop=vco,
                      Weight=weight, PublishVpc=False)

    def delete_route(self, vco: str, weight: int, dest: str = DC_NET) -> None:
        """DeleteVpnRouteEntry of a route made by `route`."""
        self.site.api("DeleteVpnRouteEntry", VpnGatewayId=self.site.gateway, RouteDest=dest, NextHop=vco,
                      Weight=weight)

    def policy_route(self, vco: str, source: str, dest: str = DC_NET, priority: int = 1) -> None:
        """CreateVpnPbrRouteEntry: traffic from `source` to `dest` via `vco`, weight 100."""
        self.site.api("CreateVpnPbrRouteEntry", VpnGatewayId=self.site.gateway, RouteSource=source,
                      RouteDest=dest, NextHop=vco, Weight=100, Priority=priority, PublishVpc=False)

    def health(self, vco: str) -> str:
        """DescribeVpnConnection's VcoHealthCheck.Status ("" until the first verdict)."""
        return (self.site.describe(vco).get("VcoHealthCheck") or {}).get("Status") or ""

    # -- the peers ----------------------------------------------------------------------------------
    def start_peers(self, vcos: list[str]) -> None:
        """Loads each connection's downloaded strongSwan configuration, unmodified, into its CPE's
        charon and waits until the gateway reports it up; the health checks' sources are routed into
        the CPE's ipsec0 like the rest of the VPC."""
        for n, vco in enumerate(vcos):
            self.site.start_peer(n, self.site.strongswan_config(vco))
        for n, vco in enumerate(vcos):
            self.site.wait_status(vco, timeout=30)
            self.site.cpes[n].charon.wait_child(timeout=10)

    def drop_probes(self, n: int, drop: bool) -> None:
        """Makes CPE `n` drop (or again answer) ICMP echo requests to its health check's dip only."""
        ns, dip = self.site.cpes[n].ns, PROBE_IPS[n][1]
        if drop:
            self.site.topo.run(ns, "nft add table ip probes && nft 'add chain ip probes in "
                                   "{ type filter hook input priority 0; }' && "
                                   f"nft add rule ip probes in ip daddr {dip} icmp type echo-request drop")
        else:
            self.site.topo.run(ns, "nft delete table ip probes", check=False)

    def next_probe(self, n: int, timeout: float = 10) -> None:
        """Returns as soon as (within ~20 ms) a health-check probe reaches CPE `n`."""
        def probes() -> int:
            text = self.site.topo.run(self.site.cpes[n].ns, "nft -j list counter ip routing probes").stdout
            return sum(c["counter"]["packets"] for c in json.loads(text)["nftables"] if "counter" in c)

        start = probes()
        wait_until(lambda: probes() > start, timeout=timeout, interval=0, what=f"a probe reaching cpe{n + 1}")

    # -- traffic ------------------------------------------------------------------------------------
    def counts(self, src: str) -> list[int]:
        """Packets from VPC address `src` that each CPE (cpe1, cpe2) has decrypted and forwarded so far."""
        out = []
        for cpe in self.site.cpes:
            text = self.site.topo.run(cpe.ns, f"nft -j list counter ip routing {_counter(src)}").stdout
            out += [c["counter"]["packets"] for c in json.loads(text)["nftables"] if "counter" in c]
        return out

    def carrier(self, src: str, rate: float, window: float = 1.5) -> int | None:
        """Which CPE (0 or 1) carries the traffic from `src`, sent at `rate` packets/s, over the next
        `window` seconds: one CPE forwards 70-130 % of it (more would be a packet counted on every turn
        of a loop) and the other at most 30 %; None otherwise."""
        before = self.counts(src)
        time.sleep(window)
        delta = [a - b for a, b in zip(self.counts(src), before)]
        want = rate * window
        busy = [n for n in (0, 1) if 0.7 * want <= delta[n] <= 1.3 * want]
        quiet = [n for n in (0, 1) if delta[n] <= 0.3 * want]
        return busy[0] if len(busy) == 1 and len(quiet) == 1 else None

    def kernel_routes(self) -> str:
        """`ip route show dev strait0` in serve's namespace."""
        return self.site.topo.run(self.site.gw, f"ip -4 route show dev {TUN}").stdout


def timed(what: Callable[[], object], timeout: float, label: str, interval: float = 0.1) -> float:
    """Seconds until `what()` is truthy (polled every `interval`), failing after `timeout`."""
    t0 = time.monotonic()
    wait_until(what, timeout=timeout, interval=interval, what=label)
    return time.monotonic() - t0
