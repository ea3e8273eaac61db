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
    pids = re.findall(r"\bpid (\d+)\b", output)
    assert len(pids) == 2, f"expected serve's and charon's pids in the output:\n{output}"
    tmp = re.search(r"(/\S+/strait-demo-\w+)\.", output)
    assert tmp, f"no temp dir in the output:\n{output}"
    left = [ns for ns in sh(["ip", "netns", "list"]).stdout.split() if ns.startswith(prefix.group(1) + "-")]
    left += [f"process {pid}" for pid in pids if Path(f"/proc/{pid}").exists()]
    left += [tmp.group(1)] if Path(tmp.group(1)).exists() else []
    return left


def test_ctrl_c_while_running_stops_everything_and_deletes_the_namespaces():
    p = subprocess.Popen([str(strait_bin()), "demo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(p.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    # Charon has loaded the downloaded configuration: serve and charon both run, every namespace exists.
    while not any("loaded it unmodified" in line for line in lines):
        assert p.poll() is None, f"demo ended early:\n{''.join(lines)}{p.stderr.read()}"
        assert time.monotonic() < deadline, f"demo did not reach strongSwan in 60 s:\n{''.join(lines)}"
        time.sleep(0.2)
    prefix = re.search(r"\b(sdemo\d+)-gw\b", "".join(lines)).group(1)
    assert len([ns for ns in sh(["ip", "netns", "list"]).stdout.split() if ns.startswith(prefix)]) == 4
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    reader.join(timeout=5)
    out = "".join(lines)
    # 130 when stopped while setting up; 0 when the tunnel was already up and it was waiting for Ctrl-C.
    assert p.returncode in (0, 130), f"exit {p.returncode}:\n{out}\n{p.stderr.read()}"
    assert "Cleaned up" in out
    assert leftovers(out) == []


def test_refuses_to_run_without_root():
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        str(strait_bin()), "demo", "--once"], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "RUST_BACKTRACE": "0"})
    assert r.returncode != 0
    assert "root" in r.stderr, r.stderr
    assert "[1/6]" not in r.stdout, "it started building namespaces"
