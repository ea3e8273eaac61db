"""The data plane alone, without IKE: two gateways run crates/dataplane/examples/static_tunnel.rs
with static keys, and hosts behind them talk through the tunnel (raw ESP and ESP-in-UDP).

    h1 10.1.0.2 ── 10.1.0.1 gw1 192.0.2.1 ══ESP══ 192.0.2.2 gw2 10.2.0.1 ── 10.2.0.2 h2
"""

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from helpers.netns import REPO, wait_until

TRANSFER_BYTES = 10 * 1024 * 1024


@pytest.fixture(scope="session")
def static_tunnel() -> Path:
    """Builds (if needed) and returns the release static_tunnel example."""
    if os.environ.get("STATIC_TUNNEL_BIN"):
        return Path(os.environ["STATIC_TUNNEL_BIN"])
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "strait-dataplane", "--example", "static_tunnel"],
                   cwd=REPO, check=True, timeout=1800)
    meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=REPO, check=True,
                          capture_output=True, text=True).stdout
    return Path(json.loads(meta)["target_directory"]) / "release" / "examples" / "static_tunnel"


def build(topo, binary: Path, tmp_path: Path, udp: bool, suite: str = "aes-sha1", tun_mtu: int = 1400,
          wan_mtu: int = 1500):
    """Creates the four namespaces and starts both gateways; returns (h1, h2, gw1 log, gw2 log)."""
    h1, gw1, gw2, h2 = (topo.ns(n) for n in ("h1", "gw1", "gw2", "h2"))
    topo.link(h1, "10.1.0.2/24", gw1, "10.1.0.1/24")
    topo.link(gw1, "192.0.2.1/24", gw2, "192.0.2.2/24", mtu=wan_mtu)
    topo.link(gw2, "10.2.0.1/24", h2, "10.2.0.2/24")
    topo.run(h1, "ip route add default via 10.1.0.1")
    topo.run(h2, "ip route add default via 10.2.0.1")
    logs = []
    for ns, side, local, remote, lnet, rnet, tun_addr in (
        (gw1, "a", "192.0.2.1", "192.0.2.2", "10.1.0.0/24", "10.2.0.0/24", "10.1.255.1/32"),
        (gw2, "b", "192.0.2.2", "192.0.2.1", "10.2.0.0/24", "10.1.0.0/24", "10.2.255.1/32"),
    ):
        log = tmp_path / f"{ns}.log"
        cmd = (f"{binary} --side {side} --local {local} --remote {remote} --local-net {lnet} --remote-net {rnet} "
               f"--suite {suite} --tun-mtu {tun_mtu} --tun-addr {tun_addr} {'--udp' if udp else ''}")
        topo.spawn(ns, cmd, log=log)
        logs.append(log)
    for log in logs:
        wait_until(lambda: "ready" in log.read_text(), 10, what=f"{log.name} ready")
    return h1, h2, logs[0], logs[1]


def counters(log: Path) -> dict:
    """The last counters line a gateway printed, as a dict of ints."""
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith("counters")]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])} if lines else {}


def transfer(topo, src: str, dst: str, dst_ip: str, tmp_path: Path) -> None:
    """Sends TRANSFER_BYTES of random data over TCP from src to dst and checks it arrived intact."""
    data = os.urandom(TRANSFER_BYTES)
    (tmp_path / "send.bin").write_bytes(data)
    recv = tmp_path / "recv.bin"
    server = topo.spawn(dst, f"python3 -c \"import socket;s=socket.create_server(('0.0.0.0',5001));c,_=s.accept();"
                             f"f=open('{recv}','wb')\n"
                             f"while (b:=c.recv(65536)): f.write(b)\nf.close()\"")
    wait_until(lambda: "5001" in topo.run(dst, "ss -ltn").stdout, 10, what="TCP server")
    topo.run(src, f"python3 -c \"import socket;c=socket.create_connection(('{dst_ip}',5001),timeout=20);"
                  f"c.sendall(open('{tmp_path / 'send.bin'}','rb').read());c.close()\"", timeout=60)
    server.wait(timeout=30)
    assert hashlib.sha256(recv.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("udp", [False, True], ids=["raw-esp", "udp-encap"])
@pytest.mark.parametrize("suite", ["aes-sha1", "aes128gcm16"])
def test_ping_and_tcp_transfer_through_the_tunnel(topo, static_tunnel, tmp_path, udp, suite):
    h1, h2, log1, log2 = build(topo, static_tunnel, tmp_path, udp, suite)
    wait_until(lambda: topo.run(h1, "ping -c 1 -W 1 10.2.0.2", check=False).returncode == 0, 10, what="first ping")
    topo.run(h1, "ping -c 5 -i 0.2 -W 1 10.2.0.2")
    topo.run(h2, "ping -c 5 -i 0.2 -W 1 10.1.0.2")
    transfer(topo, h1, h2, "10.2.0.2", tmp_path)
    transfer(topo, h2, h1, "10.1.0.2", tmp_path)
    # The traffic really went through ESP: both gateways counted it, without drops.
    wait_until(lambda: all(counters(log).get(k, 0) > TRANSFER_BYTES for log in (log1, log2)
                           for k in ("in_bytes", "out_bytes")), 5, what="ESP byte counters on both gateways")
    assert counters(log1)["in_drops"] == 0 and counters(log2)["in_drops"] == 0


def test_oversize_packet_with_df_gets_frag_needed_with_the_tunnel_mtu(topo, static_tunnel, tmp_path):
    # TUN MTU 1500 lets the host hand over packets bigger than the tunnel can carry:
    # aes-sha1 over UDP on a 1500-byte path carries at most 1422-byte inner packets.
    h1, h2, log1, _ = build(topo, static_tunnel, tmp_path, udp=True, tun_mtu=1500)
    wait_until(lambda: topo.run(h1, "ping -c 1 -W 1 10.2.0.2", check=False).returncode == 0, 10, what="first ping")
    r = topo.run(h1, "ping -c 2 -W 1 -M do -s 1450 10.2.0.2", check=False)
    assert "mtu = 1422" in r.stdout + r.stderr, r.stdout + r.stderr
    # Having learned the path MTU, the host's TCP still gets bulk data through intact.
    transfer(topo, h1, h2, "10.2.0.2", tmp_path)
    wait_until(lambda: counters(log1).get("frag_needed", 0) >= 1, 5, what="frag_needed counter")


def test_tcp_mss_is_clamped_on_syns_entering_the_tunnel(topo, static_tunnel, tmp_path):
    h1, h2, _, _ = build(topo, static_tunnel, tmp_path, udp=True, tun_mtu=1500)
    # The sender believes its link carries 1500 bytes, so its SYN offers MSS 1460.
    cap = topo.spawn(h2, f"tcpdump -l -n -i any -c 1 'tcp[tcpflags] & tcp-syn != 0 and port 5001' -v",
                     log=tmp_path / "syn.txt")
    wait_until(lambda: "listening" in (tmp_path / "syn.txt").read_text(), 10, what="tcpdump")
    transfer(topo, h1, h2, "10.2.0.2", tmp_path)
    cap.wait(timeout=10)
    assert "mss 1382" in (tmp_path / "syn.txt").read_text(), "1422 tunnel MTU - 40"


@pytest.mark.parametrize("udp", [False, True], ids=["raw-esp", "udp-encap"])
def test_esp_bigger_than_the_wan_link_arrives_fragmented(topo, static_tunnel, tmp_path, udp):
    # The gateways assume a 1500-byte path, but the link between them carries 1300: full-size
    # ESP packets must be fragmented on the way out rather than lost.
    h1, h2, log1, _ = build(topo, static_tunnel, tmp_path, udp, wan_mtu=1300)
    wait_until(lambda: topo.run(h1, "ping -c 1 -W 1 10.2.0.2", check=False).returncode == 0, 10, what="first ping")
    topo.run(h1, "ping -c 3 -i 0.2 -W 1 -s 1300 10.2.0.2")
    transfer(topo, h1, h2, "10.2.0.2", tmp_path)
