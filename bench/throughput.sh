#!/usr/bin/env bash
# Throughput through the tunnel: iperf3 (TCP, 10 s) between dc-host and vpc-host of the interop topology
# (tests/interop/sites.py), once with Strait on both gateways and once with strongSwan (kernel-libipsec) on
# both, same cipher (aes128-sha1, modp1024). Expects target/release/strait (or $STRAIT_BIN).
# Last line: strait_gbps=X strongswan_gbps=Y ratio=Z. Exits non-zero when a half fails or ratio < 3.
# Every namespace and process is removed on exit, even on failure (Topology.close in a finally block).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 - "$@" <<'PY'
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, "tests")
from helpers.netns import Topology, strait_bin, wait_until  # noqa: E402
from helpers.strongswan import Charon, Conn  # noqa: E402
from interop import sites  # noqa: E402
from interop.strait import StraitTunnel, TunnelSpec  # noqa: E402

SECONDS = 10
PSK = "bench-psk-123"


def iperf(s: sites.Sites) -> float:
    """Gbit/s of one iperf3 TCP run from dc-host to vpc-host through the tunnel."""
    dc_ip, vpc_ip = sites.DC_HOSTS[0], sites.VPC_HOSTS[0]
    assert sites.ping(s.topo, s.dc, dc_ip, vpc_ip), "no ping through the tunnel"
    s.topo.spawn(s.vpc, f"iperf3 -s -1 -B {vpc_ip}")
    wait_until(lambda: ":5201 " in s.topo.run(s.vpc, "ss -ltn").stdout, timeout=10, what="iperf3 server")
    r = s.topo.run(s.dc, f"iperf3 -J -c {vpc_ip} -B {dc_ip} -t {SECONDS}", timeout=SECONDS + 30)
    return json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9


def strongswan_pair(topo: Topology, tmp: Path) -> float:
    s = sites.build(topo)
    cpe = Charon(topo, s.cpe, tmp / "ss-cpe").start()
    gw = Charon(topo, s.gw, tmp / "ss-gw").start()
    cpe.load(Conn("dc", sites.CPE_IP, sites.GW_IP, PSK, sites.DC_NETS, sites.VPC_NETS))
    gw.load(Conn("vpc", sites.GW_IP, sites.CPE_IP, PSK, sites.VPC_NETS, sites.DC_NETS))
    cpe.route(sites.VPC_NETS)
    gw.route(sites.DC_NETS)
    cpe.initiate("dc")
    gw.wait_child("vpc")
    return iperf(s)


def strait_pair(topo: Topology, tmp: Path) -> float:
    s = sites.build(topo)
    binary = strait_bin()
    gw = StraitTunnel(topo, s.gw, tmp / "st-gw", binary,
                      TunnelSpec("vpc", sites.GW_IP, sites.CPE_IP, PSK, sites.VPC_NETS, sites.DC_NETS,
                                 effect_immediately=False)).start()
    cpe = StraitTunnel(topo, s.cpe, tmp / "st-cpe", binary,
                       TunnelSpec("dc", sites.CPE_IP, sites.GW_IP, PSK, sites.DC_NETS, sites.VPC_NETS)).start()
    cpe.wait_established()
    gw.wait_established()
    return iperf(s)


def measure(name, fn, tmp):
    with Topology(tag=name[:3]) as topo:
        try:
            gbps = fn(topo, tmp)
            print(f"{name}: {gbps:.3f} Gbit/s", flush=True)
            return gbps
        except Exception as e:  # report and carry on with the other half
            print(f"{name}: FAILED: {e}", file=sys.stderr, flush=True)
            return None


with tempfile.TemporaryDirectory(prefix="strait-bench-") as d:
    tmp = Path(d)
    ss = measure("strongswan", strongswan_pair, tmp)
    st = measure("strait", strait_pair, tmp)
ratio = (st / ss) if (st is not None and ss) else 0.0
print(f"strait_gbps={st or 0:.3f} strongswan_gbps={ss or 0:.3f} ratio={ratio:.2f}")
sys.exit(0 if st is not None and ss is not None and ratio >= 3 else 1)
PY
