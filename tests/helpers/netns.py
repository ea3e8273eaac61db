"""Network-namespace test topology: namespaces, veth links and processes, all cleaned up.

Every namespace is named with a per-run prefix so parallel or crashed runs never collide,
and `Topology.close()` kills the processes it started (by pid) and deletes its namespaces,
even when a test fails. Nothing here routes out of the machine: namespaces start empty.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from pathlib import Path

_counter = itertools.count()
REPO = Path(__file__).resolve().parents[2]


def strait_bin() -> Path:
    """Path of the release `strait` binary (built by scripts/test.sh); $STRAIT_BIN overrides it."""
    p = Path(os.environ.get("STRAIT_BIN") or REPO / "target" / "release" / "strait")
    if not p.exists():
        raise RuntimeError(f"{p} is missing: run `cargo build --release` first")
    return p


def sh(cmd: list[str] | str, check: bool = True, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
    """Runs a command in the root namespace and returns its completed process (text output)."""
    shell = isinstance(cmd, str)
    r = subprocess.run(cmd, shell=shell, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"command failed ({r.returncode}): {cmd}\nstdout: {r.stdout}\nstderr: {r.stderr}")
    return r


class Topology:
    """A set of namespaces, links and processes owned by one test."""

    def __init__(self, tag: str = "t"):
        self.prefix = f"st{os.getpid() % 100000}{next(_counter)}{tag}"[:10]
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen] = []
        self.pidfiles: list[Path] = []

    def __enter__(self) -> "Topology":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- namespaces and links -------------------------------------------------
    def ns(self, name: str) -> str:
        """Creates namespace `<prefix>-<name>` with loopback up and returns its full name."""
        full = f"{self.prefix}-{name}"
        sh(["ip", "netns", "add", full])
        self.namespaces.append(full)
        self.run(full, "ip link set lo up")
        self.run(full, "sysctl -qw net.ipv4.ip_forward=1")
        return full

    def link(self, ns_a: str, addr_a: str, ns_b: str, addr_b: str, mtu: int = 1500) -> tuple[str, str]:
        """Joins two namespaces with a veth pair; addresses are CIDR strings. Returns (if_a, if_b)."""
        n = next(_counter)
        if_a, if_b = f"v{n}a", f"v{n}b"
        sh(["ip", "link", "add", if_a, "mtu", str(mtu), "netns", ns_a, "type", "veth",
            "peer", "name", if_b, "mtu", str(mtu), "netns", ns_b])
        for ns, ifname, addr in ((ns_a, if_a, addr_a), (ns_b, if_b, addr_b)):
            if addr:
                self.run(ns, f"ip addr add {addr} dev {ifname}")
            self.run(ns, f"ip link set {ifname} up")
        return if_a, if_b

    def run(self, ns: str, cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        """Runs a shell command inside a namespace and waits for it."""
        return sh(["ip", "netns", "exec", ns, "sh", "-c", cmd], check=check, timeout=timeout)

    def spawn(self, ns: str, cmd: str, log: Path | None = None, env: dict | None = None) -> subprocess.Popen:
        """Starts a long-running shell command in a namespace; it is killed on close()."""
        out = open(log, "ab") if log else subprocess.DEVNULL
        p = subprocess.Popen(["ip", "netns", "exec", ns, "sh", "-c", f"exec {cmd}"],
                             stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                             env={**os.environ, **(env or {})})
        self.procs.append(p)
        return p

    def kill(self, p: subprocess.Popen, sig: int = signal.SIGTERM, wait: float = 5) -> None:
        """Stops one process this topology started (its whole process group)."""
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                return
            try:
                p.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=wait)

    def close(self) -> None:
        """Kills every process started here, then deletes every namespace created here."""
        for p in reversed(self.procs):
            try:
                self.kill(p)
            except Exception:
                pass
        for pf in self.pidfiles:
            try:
                os.kill(int(pf.read_text().strip()), signal.SIGKILL)
            except Exception:
                pass
        for ns in reversed(self.namespaces):
            # Any process still inside the namespace would keep its links alive.
            r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except Exception:
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.namespaces.clear()
        self.procs.clear()


def wait_until(pred, timeout: float, interval: float = 0.2, what: str = "condition"):
    """Polls `pred` until it returns a truthy value or `timeout` seconds pass (then raises)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
