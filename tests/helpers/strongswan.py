"""strongSwan (charon + swanctl) as a real IKEv1/IKEv2 ESP peer inside a test namespace.

Each `Charon` runs in its own network namespace *and* its own mount namespace with a tmpfs on /run
(charon always writes /var/run/charon.pid, so two instances would clash otherwise), with its own
strongswan.conf, vici socket and log file in a per-instance directory. ESP runs in userspace through
kernel-libipsec (the kernel has no ESP), which always encapsulates ESP in UDP 4500.

`Conn` describes one swanctl connection with one child; `Charon.load()` writes swanctl.conf and
loads it; `Charon.sas()` parses `swanctl --list-sas`.
"""

from __future__ import annotations

import re
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .netns import Topology, wait_until

PLUGINS = ("random nonce aes sha1 sha2 md5 hmac gmp pem pkcs1 x509 pubkey kdf openssl gcm "
           "kernel-libipsec kernel-netlink socket-default vici updown")


@dataclass
class Conn:
    """One swanctl connection (IKEv2 or IKEv1, PSK) with a single child SA."""

    name: str
    local_addr: str
    remote_addr: str
    psk: str
    local_ts: list[str]
    remote_ts: list[str]
    proposals: str = "aes128-sha1-modp1024"
    esp_proposals: str = "aes128-sha1-modp1024"
    local_id: str | None = None
    remote_id: str | None = None
    start_action: str = "none"  # none | start | trap
    dpd_delay: int = 0  # seconds between liveness checks; 0 = off
    dpd_action: str = "clear"  # clear | restart | trap
    ike_rekey: int | None = None  # IKE SA rekey_time in seconds (None = strongSwan default)
    child_rekey: int | None = None  # CHILD_SA rekey_time in seconds
    rand_time: int | None = None  # jitter subtracted from rekey times (0 = rekey exactly on time)
    remote_port: int = 500
    keyingtries: int = 1
    version: int = 2  # IKE version (1: main mode, or aggressive with extra={"aggressive": "yes"})
    extra: dict[str, str] = field(default_factory=dict)  # more connection-level settings

    def render(self) -> str:
        """The swanctl.conf `connections` entry (every setting on its own line: swanctl needs that)."""
        lid = self.local_id or self.local_addr
        rid = self.remote_id or self.remote_addr
        conn = {
            "version": str(self.version),
            "local_addrs": self.local_addr,
            "remote_addrs": self.remote_addr,
            "remote_port": str(self.remote_port),
            "proposals": self.proposals,
            "mobike": "no",
            "keyingtries": str(self.keyingtries),
            "dpd_delay": f"{self.dpd_delay}s",
            **({"rekey_time": f"{self.ike_rekey}s"} if self.ike_rekey is not None else {}),
            **self.extra,
        }
        child = {
            "local_ts": ",".join(self.local_ts),
            "remote_ts": ",".join(self.remote_ts),
            "esp_proposals": self.esp_proposals,
            "start_action": self.start_action,
            "dpd_action": self.dpd_action,
            **({"rekey_time": f"{self.child_rekey}s"} if self.child_rekey is not None else {}),
            **({"rand_time": f"{self.rand_time}s"} if self.rand_time is not None else {}),
        }
        if self.rand_time is not None:
            conn["rand_time"] = f"{self.rand_time}s"
        lines = [f"  {self.name} {{"]
        lines += [f"    {k} = {v}" for k, v in conn.items()]
        lines += ["    local {", "      auth = psk", f"      id = {lid}", "    }"]
        lines += ["    remote {", "      auth = psk", f"      id = {rid}", "    }"]
        lines += ["    children {", f"      {self.name} {{"]
        lines += [f"        {k} = {v}" for k, v in child.items()]
        lines += ["      }", "    }", "  }"]
        return "\n".join(lines)

    def render_secret(self) -> str:
        """The swanctl.conf `secrets` entry for this connection's PSK."""
        lid = self.local_id or self.local_addr
        rid = self.remote_id or self.remote_addr
        return (f"  ike-{self.name} {{\n    id-1 = {lid}\n    id-2 = {rid}\n"
                f"    secret = \"{self.psk}\"\n  }}")


@dataclass
class ChildSa:
    """One CHILD_SA as `swanctl --list-sas` shows it."""

    name: str
    state: str
    spi_in: str
    spi_out: str
    proposal: str
    local_ts: list[str]
    remote_ts: list[str]


@dataclass
class IkeSa:
    """One IKE SA as `swanctl --list-sas` shows it."""

    name: str
    uniqueid: int
    state: str
    local: str
    remote: str
    proposal: str
    children: list[ChildSa]


_IKE_RE = re.compile(r"^(\S+): #(\d+), (\w+), IKEv[12]")
_CHILD_RE = re.compile(r"^  (\S+): #\d+, reqid \d+, (\w+), TUNNEL(?:-in-UDP)?, ESP:(\S+)")


def parse_list_sas(text: str) -> list[IkeSa]:
    """Parses the human-readable output of `swanctl --list-sas` into IKE SAs with their children."""
    sas: list[IkeSa] = []
    child: ChildSa | None = None
    for line in text.splitlines():
        if m := _IKE_RE.match(line):
            sas.append(IkeSa(m.group(1), int(m.group(2)), m.group(3), "", "", "", []))
            child = None
        elif not sas:
            continue
        elif m := _CHILD_RE.match(line):
            child = ChildSa(m.group(1), m.group(2), "", "", m.group(3), [], [])
            sas[-1].children.append(child)
        elif child is None and (m := re.match(r"^  local  '[^']*' @ (\S+)", line)):
            sas[-1].local = m.group(1)
        elif child is None and (m := re.match(r"^  remote '[^']*' @ (\S+)", line)):
            sas[-1].remote = m.group(1)
        elif child is None and line.startswith("  ") and not line.startswith("   ") and "/" in line \
                and "established" not in line and "rekeying" not in line:
            sas[-1].proposal = line.strip()
        elif child is not None and (m := re.match(r"^    in  ([0-9a-f]{8})", line)):
            child.spi_in = m.group(1)
        elif child is not None and (m := re.match(r"^    out ([0-9a-f]{8})", line)):
            child.spi_out = m.group(1)
        elif child is not None and (m := re.match(r"^    local  (.*)", line)):
            child.local_ts = m.group(1).split()
        elif child is not None and (m := re.match(r"^    remote (.*)", line)):
            child.remote_ts = m.group(1).split()
    return sas


class Charon:
    """A charon daemon in one namespace, configured and queried through swanctl."""

    def __init__(self, topo: Topology, ns: str, workdir: Path, install_routes: bool = False):
        self.topo, self.ns, self.dir = topo, ns, Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "strongswan.conf"
        self.vici = self.dir / "charon.vici"
        self.log = self.dir / "charon.log"
        self.proc: subprocess.Popen | None = None
        self.conns: list[Conn] = []
        self.conf.write_text(f"""charon {{
  install_routes = {"yes" if install_routes else "no"}
  # IKEv1 aggressive mode with PSK is what the interop tests exercise.
  i_dont_care_about_security_and_use_aggressive_mode_psk = yes
  retransmit_tries = 3
  retransmit_timeout = 1.0
  retransmit_base = 1.4
  load = {PLUGINS}
  plugins {{
    vici {{
      socket = unix://{self.vici}
    }}
  }}
  filelog {{
    f {{
      path = {self.log}
      time_format = %H:%M:%S
      flush_line = yes
      default = 1
      ike = 2
      cfg = 2
    }}
  }}
}}
swanctl {{
  socket = unix://{self.vici}
}}
""")

    def start(self) -> "Charon":
        """Starts charon and waits until its vici socket answers."""
        self.proc = self.topo.spawn(
            self.ns,
            "unshare -m sh -c 'mount -t tmpfs tmpfs /run && exec /usr/lib/ipsec/charon'",
            log=self.dir / "charon.stdout", env={"STRONGSWAN_CONF": str(self.conf)})
        wait_until(lambda: self.proc.poll() is None and self.swanctl("--stats", check=False).returncode == 0,
                   timeout=10, what=f"charon in {self.ns}")
        return self

    def route(self, nets: list[str]) -> None:
        """Routes these networks into charon's TUN device `ipsec0` (kernel-libipsec matches policies there).

        Used instead of charon's own route installation, which fails with several selectors.
        """
        for net in nets:
            self.topo.run(self.ns, f"ip route replace {net} dev ipsec0")

    def swanctl(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        """Runs swanctl against this charon."""
        cmd = ["ip", "netns", "exec", self.ns, "env", f"STRONGSWAN_CONF={self.conf}", "swanctl", *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"swanctl {' '.join(args)} failed: {r.stdout}{r.stderr}")
        return r

    def load(self, *conns: Conn) -> None:
        """Writes swanctl.conf for these connections (replacing earlier ones) and loads it."""
        self.conns = list(conns)
        path = self.dir / "swanctl.conf"
        path.write_text("connections {\n" + "\n".join(c.render() for c in conns) + "\n}\n"
                        "secrets {\n" + "\n".join(c.render_secret() for c in conns) + "\n}\n")
        self.swanctl("--load-all", "--clear", "--file", str(path))

    def load_file(self, text: str, name: str = "swanctl.conf") -> Path:
        """Writes `text` unmodified as the swanctl.conf `name` (replacing what was loaded before), loads it
        and returns its path: for configurations that come from elsewhere, e.g. a downloaded one."""
        path = self.dir / name
        path.write_text(text)
        self.swanctl("--load-all", "--clear", "--file", str(path))
        return path

    def sas(self) -> list[IkeSa]:
        """The current IKE SAs and their CHILD_SAs."""
        return parse_list_sas(self.swanctl("--list-sas").stdout)

    def installed_children(self, name: str | None = None) -> list[ChildSa]:
        """CHILD_SAs in state INSTALLED (of connection `name`, or all) under ESTABLISHED IKE SAs."""
        return [c for sa in self.sas() if sa.state == "ESTABLISHED"
                for c in sa.children if c.state == "INSTALLED" and (name is None or c.name == name)]

    def initiate(self, child: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """Initiates a child (and its IKE SA); does not raise when the negotiation fails."""
        return self.swanctl("--initiate", "--child", child, "--timeout", str(int(timeout)),
                            check=False, timeout=timeout + 5)

    def terminate(self, ike: str) -> None:
        """Deletes every IKE SA of connection `ike` (with its children), telling the peer."""
        self.swanctl("--terminate", "--ike", ike, "--force", "--timeout", "5", check=False)

    def wait_child(self, name: str | None = None, timeout: float = 30) -> list[ChildSa]:
        """Waits until a CHILD_SA is installed and returns the installed ones."""
        return wait_until(lambda: self.installed_children(name), timeout=timeout,
                          what=f"CHILD_SA in charon {self.ns}")

    def log_text(self) -> str:
        """The charon log so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stops this charon (by pid) with `sig` (SIGKILL: as if the device lost power)."""
        if self.proc is not None:
            self.topo.kill(self.proc, sig)
            self.proc = None
