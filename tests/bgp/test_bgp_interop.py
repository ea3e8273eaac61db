"""Interop of the strait-bgp speaker with FRR bgpd and BIRD 2, each in its own namespace.

The speaker (crates/bgp/examples/speaker.rs) runs in namespace `st` with 169.254.10.1/30 and
ASN 65531; the peer daemon runs in namespace `cpe` with 169.254.10.2/30 and ASN 65530 and
originates 192.168.0.0/24, 192.168.1.0/24 and 192.168.2.0/24. Hold time is 3 s on both sides.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from helpers.netns import REPO, Topology, sh, wait_until

ST_ADDR, CPE_ADDR = "169.254.10.1", "169.254.10.2"
ST_ASN, CPE_ASN = 65531, 65530
CPE_NETS = {"192.168.0.0/24", "192.168.1.0/24", "192.168.2.0/24"}
ST_NET = "10.0.0.0/16"
HOLD = 3
BGPD = "/usr/lib/frr/bgpd"


@pytest.fixture(scope="session")
def speaker_bin() -> Path:
    """The release build of the example speaker (built here: `cargo build --release` skips examples)."""
    sh(["cargo", "build", "--release", "-q", "-p", "strait-bgp", "--example", "speaker"], cwd=REPO, timeout=1200)
    return REPO / "target" / "release" / "examples" / "speaker"


class Frr:
    """FRR bgpd without zebra, with its config, pid file and vty socket in a private directory."""

    name = "frr"

    def __init__(self, topo: Topology, ns: str, workdir: Path, password: str | None, st_asn: int):
        if not Path(BGPD).exists():
            pytest.skip("FRR is not installed (scripts/install-deps.sh installs it)")
        self.topo, self.ns, self.dir = topo, ns, workdir
        pw = f" neighbor {ST_ADDR} password {password}\n" if password else ""
        nets = "".join(f"  network {n}\n" for n in sorted(CPE_NETS))
        (workdir / "bgpd.conf").write_text(
            f"hostname cpe\nrouter bgp {CPE_ASN}\n bgp router-id {CPE_ADDR}\n no bgp ebgp-requires-policy\n"
            f" no bgp network import-check\n neighbor {ST_ADDR} remote-as {st_asn}\n"
            f" neighbor {ST_ADDR} timers 1 {HOLD}\n neighbor {ST_ADDR} timers connect 1\n{pw}"
            f" address-family ipv4 unicast\n{nets} exit-address-family\n"
        )
        pidfile = workdir / "bgpd.pid"
        topo.pidfiles.append(pidfile)
        topo.spawn(ns, f"{BGPD} -Z -S -P 0 -l {CPE_ADDR} -f {workdir}/bgpd.conf -i {pidfile} "
                       f"--vty_socket {workdir} --log stdout", log=workdir / "bgpd.log")
        wait_until(lambda: (workdir / "bgpd.vty").exists(), 10, what="bgpd vty socket")

    def routes(self) -> set[str]:
        """Prefixes in bgpd's table learned from Strait (the 10.0.0.0/16 it advertises)."""
        r = self.topo.run(self.ns, f"vtysh --vty_socket {self.dir} -c 'show ip bgp json'", check=False)
        try:
            table = json.loads(r.stdout).get("routes", {})
        except json.JSONDecodeError:
            return set()
        return {p for p, paths in table.items()
                if any(h.get("ip") == ST_ADDR for path in paths for h in path.get("nexthops", []))}

    def route_detail(self) -> str:
        """bgpd's view of Strait's prefix, AS_PATH included."""
        return self.topo.run(self.ns, f"vtysh --vty_socket {self.dir} -c 'show ip bgp {ST_NET}'", check=False).stdout

    def request_refresh(self) -> None:
        """Makes bgpd send Strait a ROUTE-REFRESH."""
        self.topo.run(self.ns, f"vtysh --vty_socket {self.dir} -c 'clear ip bgp {ST_ADDR} soft in'")

    def updates_received(self) -> int:
        """UPDATE messages bgpd has received from Strait."""
        r = self.topo.run(self.ns, f"vtysh --vty_socket {self.dir} -c 'show ip bgp neighbors {ST_ADDR} json'")
        return json.loads(r.stdout)[ST_ADDR]["messageStats"]["updatesRecv"]


class Bird:
    """BIRD 2 with static routes exported to the Strait session, control socket in a private directory."""

    name = "bird"
    #: Extra lines for the BGP protocol block.
    options = ""

    def __init__(self, topo: Topology, ns: str, workdir: Path, password: str | None, st_asn: int):
        if not shutil.which("bird"):
            pytest.skip("BIRD 2 is not installed (scripts/install-deps.sh installs it)")
        self.topo, self.ns, self.sock = topo, ns, workdir / "bird.ctl"
        pw = f'  password "{password}";\n' if password else ""
        statics = "".join(f"  route {n} blackhole;\n" for n in sorted(CPE_NETS))
        (workdir / "bird.conf").write_text(
            f"router id {CPE_ADDR};\nprotocol device {{}}\nprotocol static cpe_nets {{\n  ipv4;\n{statics}}}\n"
            f"protocol bgp strait {{\n  local {CPE_ADDR} as {CPE_ASN};\n  neighbor {ST_ADDR} as {st_asn};\n"
            f"  hold time {HOLD};\n  keepalive time 1;\n  connect retry time 1;\n{pw}{self.options}"
            f"  ipv4 {{ import all; export where source = RTS_STATIC; }};\n}}\n"
        )
        pidfile = workdir / "bird.pid"
        topo.pidfiles.append(pidfile)
        topo.spawn(ns, f"bird -f -c {workdir}/bird.conf -s {self.sock} -P {pidfile}", log=workdir / "bird.log")
        wait_until(lambda: self.sock.exists(), 10, what="bird control socket")

    def routes(self) -> set[str]:
        """Prefixes BIRD learned through its session with Strait."""
        r = self.topo.run(self.ns, f"birdc -s {self.sock} show route protocol strait", check=False)
        return {line.split()[0] for line in r.stdout.splitlines() if line[:1].isdigit()}

    def route_detail(self) -> str:
        """BIRD's view of the routes from Strait, attributes included."""
        return self.topo.run(self.ns, f"birdc -s {self.sock} show route all protocol strait", check=False).stdout

    def request_refresh(self) -> None:
        """Makes BIRD send Strait a ROUTE-REFRESH."""
        self.topo.run(self.ns, f"birdc -s {self.sock} reload in strait")

    def protocol_detail(self) -> str:
        """BIRD's description of the session with Strait."""
        return self.topo.run(self.ns, f"birdc -s {self.sock} show protocols all strait").stdout

    def updates_received(self) -> int:
        """Route updates BIRD has received from Strait."""
        out = self.protocol_detail()
        line = next(line for line in out.splitlines() if "Import updates:" in line)
        return int(line.split(":", 1)[1].split()[0])


class TwoByteBird(Bird):
    """BIRD not announcing 4-octet AS support, so the session uses 2-byte AS_PATHs.

    (BIRD refuses a 4-byte neighbor ASN in this mode, so AS_TRANS is covered by unit tests only.)
    """

    options = "  enable as4 off;\n"


class Strait:
    """The example speaker in namespace `st`; its state comes from the lines it prints."""

    def __init__(self, topo: Topology, ns: str, binary: Path, workdir: Path, password: str | None, asn: int,
                 passive: bool):
        self.log = workdir / "speaker.log"
        self.prefix_file = workdir / "advertise"
        self.prefix_file.write_text(ST_NET)
        md5 = f" --md5 {password}" if password else ""
        md5 += " --passive" if passive else ""
        self.proc = topo.spawn(ns, f"{binary} --local-asn {asn} --peer-asn {CPE_ASN} --local {ST_ADDR} "
                                   f"--peer {CPE_ADDR} --hold {HOLD} --prefix-file {self.prefix_file}{md5}",
                               log=self.log)

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def established(self) -> bool:
        return "established" in self.lines()

    def learned(self) -> set[str]:
        routes = [line for line in self.lines() if line.startswith("routes ")]
        return set(filter(None, routes[-1].split(" ", 1)[1].split(","))) if routes else set()


def setup(topo: Topology, tmp_path: Path, speaker_bin: Path, peer_cls, strait_key=None, peer_key=None,
          st_asn=ST_ASN, passive=False):
    """Creates both namespaces, the /30 between them, the peer daemon and the speaker."""
    st, cpe = topo.ns("st"), topo.ns("cpe")
    if_st, if_cpe = topo.link(st, f"{ST_ADDR}/30", cpe, f"{CPE_ADDR}/30")
    (tmp_path / "peer").mkdir()
    (tmp_path / "st").mkdir()
    peer = peer_cls(topo, cpe, tmp_path / "peer", peer_key, st_asn)
    strait = Strait(topo, st, speaker_bin, tmp_path / "st", strait_key, st_asn, passive)
    return strait, peer, cpe, if_cpe


PEERS = [pytest.param(Frr, id="frr"), pytest.param(Bird, id="bird")]


@pytest.mark.parametrize("peer_cls", PEERS)
def test_routes_exchanged_and_withdrawn(topo, tmp_path, speaker_bin, peer_cls):
    strait, peer, _, _ = setup(topo, tmp_path, speaker_bin, peer_cls)
    wait_until(strait.established, 30, what="session Established")
    wait_until(lambda: strait.learned() == CPE_NETS, 15, what=f"Strait learning {CPE_NETS}")
    wait_until(lambda: peer.routes() == {ST_NET}, 15, what=f"{ST_NET} in the {peer.name} table")
    # Strait stops advertising: the peer drops the route, the session stays up.
    strait.prefix_file.write_text("")
    wait_until(lambda: peer.routes() == set(), 15, what=f"{ST_NET} withdrawn from the {peer.name} table")
    assert strait.learned() == CPE_NETS
    assert not any(line.startswith("down") for line in strait.lines())


@pytest.mark.parametrize("peer_cls", PEERS)
def test_four_byte_asn(topo, tmp_path, speaker_bin, peer_cls):
    strait, peer, _, _ = setup(topo, tmp_path, speaker_bin, peer_cls, st_asn=4200000001)
    wait_until(lambda: peer.routes() == {ST_NET}, 30, what=f"{ST_NET} in the {peer.name} table")
    assert "4200000001" in peer.route_detail()
    wait_until(lambda: strait.learned() == CPE_NETS, 10, what=f"Strait learning {CPE_NETS}")


def test_two_byte_peer(topo, tmp_path, speaker_bin):
    strait, peer, _, _ = setup(topo, tmp_path, speaker_bin, TwoByteBird)
    wait_until(lambda: peer.routes() == {ST_NET}, 30, what=f"{ST_NET} in the 2-byte BIRD's table")
    # The session runs without 4-octet ASNs, so both sides read and write 2-byte AS_PATHs.
    session = peer.protocol_detail()
    assert "AS4" not in next(line for line in session.splitlines() if "Session:" in line), session
    assert f"BGP.as_path: {ST_ASN}\n" in peer.route_detail()
    wait_until(lambda: strait.learned() == CPE_NETS, 10, what="routes learned from a 2-byte peer")


@pytest.mark.parametrize("peer_cls", PEERS)
def test_route_refresh_is_answered(topo, tmp_path, speaker_bin, peer_cls):
    strait, peer, _, _ = setup(topo, tmp_path, speaker_bin, peer_cls)
    wait_until(lambda: peer.routes() == {ST_NET}, 30, what=f"{ST_NET} in the {peer.name} table")
    before = peer.updates_received()
    peer.request_refresh()
    wait_until(lambda: peer.updates_received() > before, 10, what="Strait re-advertising after ROUTE-REFRESH")
    assert peer.routes() == {ST_NET}
    assert not any(line.startswith("down") for line in strait.lines())


@pytest.mark.parametrize("peer_cls", PEERS)
def test_md5_matching_key(topo, tmp_path, speaker_bin, peer_cls):
    strait, peer, _, _ = setup(topo, tmp_path, speaker_bin, peer_cls, strait_key="t0ps3cret", peer_key="t0ps3cret")
    wait_until(strait.established, 30, what="MD5-signed session Established")
    wait_until(lambda: peer.routes() == {ST_NET}, 15, what=f"{ST_NET} in the {peer.name} table")


@pytest.mark.parametrize("keys", [("wrong", "t0ps3cret"), ("t0ps3cret", None)], ids=["wrong-key", "peer-unsigned"])
@pytest.mark.parametrize("peer_cls", PEERS)
def test_md5_mismatch_never_establishes(topo, tmp_path, speaker_bin, peer_cls, keys):
    strait, peer, _, _ = setup(topo, tmp_path, speaker_bin, peer_cls, strait_key=keys[0], peer_key=keys[1])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert not strait.established(), f"a session came up with MD5 keys {keys}"
        time.sleep(0.5)
    assert strait.learned() == set() and peer.routes() == set()


@pytest.mark.parametrize("peer_cls", PEERS)
def test_passive_mode_accepts_the_peer(topo, tmp_path, speaker_bin, peer_cls):
    strait, peer, _, _ = setup(topo, tmp_path, speaker_bin, peer_cls, strait_key="k3y", peer_key="k3y", passive=True)
    wait_until(lambda: strait.learned() == CPE_NETS, 30, what="routes learned over the peer's connection")
    wait_until(lambda: peer.routes() == {ST_NET}, 15, what=f"{ST_NET} in the {peer.name} table")


@pytest.mark.parametrize("peer_cls", PEERS)
def test_hold_timer_expires_when_link_is_cut(topo, tmp_path, speaker_bin, peer_cls):
    strait, peer, cpe, if_cpe = setup(topo, tmp_path, speaker_bin, peer_cls)
    wait_until(lambda: strait.learned() == CPE_NETS, 30, what="routes learned")
    # Cut the link: no keepalive, FIN or RST can reach Strait any more.
    topo.run(cpe, f"ip link set {if_cpe} down")
    cut_at = time.monotonic()
    wait_until(lambda: "down HoldTimerExpired" in strait.lines(), HOLD + 5, what="hold timer expiry")
    assert time.monotonic() - cut_at >= HOLD - 1.5
    wait_until(lambda: strait.learned() == set(), 2, what="learned routes dropped")
