"""`strait tunnel` as a test peer: writes its TOML file (format: crates/strait/src/tunnel.rs), runs it
in a namespace, and reads the status snapshot it writes (`--status FILE`, JSON, rewritten on change)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from helpers.netns import Topology, wait_until


@dataclass
class TunnelSpec:
    """One tunnel of a `strait tunnel` file, with the API's field values."""

    id: str
    local_ip: str
    peer_ip: str
    psk: str
    local_subnet: list[str]
    remote_subnet: list[str]
    routes: list[str] | None = None  # Routes (default: RemoteSubnet)
    ike_version: str = "ikev2"
    ike_mode: str = "main"  # ikev1: main | aggressive
    ike_enc: str = "aes"
    ike_auth: str = "sha1"
    ike_dh: str = "group2"
    ike_lifetime: int = 86400
    ipsec_enc: str = "aes"
    ipsec_auth: str = "sha1"
    ipsec_pfs: str = "group2"
    ipsec_lifetime: int = 86400
    enable_dpd: bool = False
    enable_nat_traversal: bool = True
    effect_immediately: bool = True
    local_id: str | None = None
    remote_id: str | None = None
    test: dict[str, int] = field(default_factory=dict)  # the [tunnel.Test] overrides

    def render(self) -> str:
        """This tunnel as a `[[tunnel]]` TOML table."""
        b = lambda v: "true" if v else "false"  # noqa: E731
        lines = [
            "[[tunnel]]",
            f'Id = "{self.id}"',
            f'LocalIp = "{self.local_ip}"',
            f'PeerIp = "{self.peer_ip}"',
            f'LocalSubnet = "{",".join(self.local_subnet)}"',
            f'RemoteSubnet = "{",".join(self.remote_subnet)}"',
            *([f'Routes = "{",".join(self.routes)}"'] if self.routes else []),
            f"EnableDpd = {b(self.enable_dpd)}",
            f"EnableNatTraversal = {b(self.enable_nat_traversal)}",
            f"EffectImmediately = {b(self.effect_immediately)}",
            "[tunnel.IkeConfig]",
            f'Psk = "{self.psk}"',
            f'IkeVersion = "{self.ike_version}"',
            f'IkeMode = "{self.ike_mode}"',
            f'IkeEncAlg = "{self.ike_enc}"',
            f'IkeAuthAlg = "{self.ike_auth}"',
            f'IkePfs = "{self.ike_dh}"',
            f"IkeLifetime = {self.ike_lifetime}",
            f'LocalId = "{self.local_id or self.local_ip}"',
            f'RemoteId = "{self.remote_id or self.peer_ip}"',
            "[tunnel.IpsecConfig]",
            f'IpsecEncAlg = "{self.ipsec_enc}"',
            f'IpsecAuthAlg = "{self.ipsec_auth}"',
            f'IpsecPfs = "{self.ipsec_pfs}"',
            f"IpsecLifetime = {self.ipsec_lifetime}",
        ]
        if self.test:
            lines.append("[tunnel.Test]")
            lines += [f"{k} = {v}" for k, v in self.test.items()]
        return "\n".join(lines) + "\n"


class StraitTunnel:
    """A `strait tunnel` process in one namespace."""

    def __init__(self, topo: Topology, ns: str, workdir: Path, binary: Path, *tunnels: TunnelSpec):
        self.topo, self.ns, self.dir, self.binary = topo, ns, Path(workdir), binary
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "tunnel.toml"
        self.status_file = self.dir / "status.json"
        self.log = self.dir / "strait.log"
        self.config.write_text("\n".join(t.render() for t in tunnels))
        self.proc: subprocess.Popen | None = None

    def start(self) -> "StraitTunnel":
        """Starts `strait tunnel` and waits for its first status snapshot."""
        self.proc = self.topo.spawn(
            self.ns, f"{self.binary} tunnel --config {self.config} --status {self.status_file}",
            log=self.log, env={"STRAIT_LOG": "info,strait_gateway=debug"})
        wait_until(lambda: self.proc.poll() is not None or self.status_file.exists(), timeout=10,
                   what="strait status file")
        assert self.proc.poll() is None, f"strait tunnel exited:\n{self.log_text()}"
        return self

    def status(self) -> dict[str, dict]:
        """The latest status snapshot: tunnel id -> {ike_state, ipsec_state, last_error, ...}."""
        try:
            return {t["id"]: t for t in json.loads(self.status_file.read_text())["tunnels"]}
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            return {}

    def tunnel(self, tid: str | None = None) -> dict:
        """The status of one tunnel (the only one when `tid` is None)."""
        st = self.status()
        return st.get(tid) if tid else (next(iter(st.values())) if st else {})

    def wait_established(self, tid: str | None = None, timeout: float = 30) -> dict:
        """Waits until the tunnel's IPsec state says it is up, and returns its status."""
        return wait_until(lambda: (t := self.tunnel(tid)).get("ipsec_state") == "established" and t,
                          timeout=timeout, what=f"strait tunnel up in {self.ns}")

    def log_text(self) -> str:
        """What strait logged so far, without terminal colours."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return re.sub(r"\x1b\[[0-9;]*m", "", text)

    def log_lines(self, *words: str) -> list[str]:
        """Log lines that contain every one of `words`."""
        return [line for line in self.log_text().splitlines() if all(w in line for w in words)]

    def stop(self) -> None:
        """Stops strait (by pid)."""
        if self.proc is not None:
            self.topo.kill(self.proc, signal.SIGTERM)
            self.proc = None
