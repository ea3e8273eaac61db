"""`strait demo`: the one-command tour builds its namespaces, runs `strait serve` and strongSwan, brings the
tunnel up through the API, pings across it, and leaves nothing behind however it ends.

    vpc 10.0.1.2 ── 10.0.1.1 gw (strait serve) 203.0.113.1 ══IPsec══ 203.0.113.2 cpe (charon) 192.168.10.1 ── dc 192.168.10.2
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from helpers.netns import sh, strait_bin


def leftovers(output: str) -> list[str]:
    """What a finished demo run left behind: its namespaces, its serve and charon processes, its temp dir."""
    prefix = re.search(r"\b(sdemo\d+)-gw\b", output)
    assert prefix, f"no namespace names in the output:\n{output}"
    pids = re.findall(r"\bpid (\d+)\b", output)  # serve's, and charon's once started
    assert pids, f"no pids in the output:\n{output}"
    tmp = re.search(r"(/\S+/strait-demo-\w+)\.", output)
    assert tmp, f"no temp dir in the output:\n{output}"
    left = [ns for ns in sh(["ip", "netns", "list"]).stdout.split() if ns.startswith(prefix.group(1) + "-")]
    left += [f"process {pid}" for pid in pids if Path(f"/proc/{pid}").exists()]
    left += [tmp.group(1)] if Path(tmp.group(1)).exists() else []
    return left


def test_demo_once_brings_up_the_tunnel_and_pings_through_it():
    r = subprocess.run([str(strait_bin()), "demo", "--once"], capture_output=True, text=True, timeout=150)
    out = r.stdout
    assert r.returncode == 0, f"demo failed:\n{out}\n{r.stderr}"
    for call in ("CreateVpnGateway", "CreateCustomerGateway", "CreateVpnConnection", "DownloadVpnConnectionConfig"):
        assert call in out
    assert re.search(r"-> vco-\w+", out)
    assert "Status: ipsec_sa_established" in out
    assert len(re.findall(r"bytes from 192\.168\.10\.2: icmp_seq=\d", out)) == 3, out
    assert "3 packets transmitted, 3 received" in out
    assert "strait serve has pid" in out and "charon, pid" in out
    assert leftovers(out) == []


def run_until(marker: str, timeout: float = 90) -> tuple[subprocess.Popen, list[str]]:
    """Starts `strait demo` and waits until a stdout line contains `marker`; returns the process and its lines."""
    p = subprocess.Popen([str(strait_bin()), "demo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(p.stdout), daemon=True).start()
    deadline = time.monotonic() + timeout
    try:
        while not any(marker in line for line in lines):
            assert p.poll() is None, f"demo ended early:\n{''.join(lines)}{p.stderr.read()}"
            assert time.monotonic() < deadline, f"no {marker!r} after {timeout} s:\n{''.join(lines)}"
            time.sleep(0.1)
    except BaseException:
        p.kill()
        p.wait()
        raise
    return p, lines


def interrupt(p: subprocess.Popen, lines: list[str]) -> str:
    """Sends Ctrl-C's SIGINT to the demo alone, waits for it to exit and returns its whole stdout."""
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    time.sleep(0.2)  # the reader thread takes the last lines
    return "".join(lines)


def test_runs_until_ctrl_c_then_stops_everything_and_deletes_the_namespaces():
    p, lines = run_until("Press Ctrl-C")
    # While it waits, the VPN keeps working for whoever looks around, as the demo suggests.
    prefix = re.search(r"\b(sdemo\d+)-gw\b", "".join(lines)).group(1)
    ping = sh(["ip", "netns", "exec", f"{prefix}-vpc", "ping", "-c", "2", "-W", "2", "192.168.10.2"], check=False)
    out = interrupt(p, lines)
    assert ping.returncode == 0, ping.stdout
    assert p.returncode == 0, f"exit {p.returncode}:\n{out}\n{p.stderr.read()}"
    assert "Cleaned up" in out
    assert leftovers(out) == []


def test_ctrl_c_while_setting_up_stops_with_130_and_leaves_nothing():
    # Every step after [2/6] waits on something and notices the signal there: serve and charon may be running.
    p, lines = run_until("[2/6]")
    out = interrupt(p, lines)
    err = p.stderr.read()
    assert p.returncode == 130, f"exit {p.returncode}:\n{out}\n{err}"
    assert "Stopped before the demo finished" in err
    assert "Press Ctrl-C" not in out
    assert leftovers(out) == []


def test_refuses_to_run_without_root():
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        str(strait_bin()), "demo", "--once"], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "RUST_BACKTRACE": "0"})
    assert r.returncode != 0
    assert "root" in r.stderr, r.stderr
    assert "[1/6]" not in r.stdout, "it started building namespaces"
