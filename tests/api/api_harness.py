"""Runs `strait serve` inside a network namespace and talks to it through the official SDK.

Shared by the API acceptance tests (tests/api/conftest.py) and the API benchmark (tests/api/bench_api.py).
The server's namespace is joined to the root namespace by one veth pair on a /30 out of
198.51.100.128/25 and has no default route, so nothing it sends can leave the machine; the zones'
gateway addresses sit on its loopback so a server that binds them for IKE can. With `gateway` set
(the `[gateway]` section, for tests that run tunnels), the zone addresses are left to the caller,
who puts them on the links towards its peers before `start()`.
"""

from __future__ import annotations

import ipaddress
import json
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alibabacloud_cbn20170912 import models as cbn_models  # noqa: E402
from alibabacloud_cbn20170912.client import Client as CbnClient  # noqa: E402
from alibabacloud_tea_openapi import utils_models as open_api_models  # noqa: E402
from alibabacloud_tea_openapi.exceptions import ClientException  # noqa: E402
from alibabacloud_tea_openapi.models import Config  # noqa: E402
from alibabacloud_vpc20160428 import models as vpc_models  # noqa: E402
from alibabacloud_vpc20160428.client import Client  # noqa: E402
from darabonba.runtime import RuntimeOptions  # noqa: E402

from helpers.netns import Topology, sh, wait_until  # noqa: E402

REGION = "local-1"
PORT = 8080
VPC_VERSION = "2016-04-28"
CBN_VERSION = "2017-09-12"
ZONE_IPS = {"zone-a": "203.0.113.1", "zone-b": "203.0.113.2"}



def _toml_value(v) -> str:
    """A TOML scalar: booleans and integers bare, anything else a quoted string."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v) if isinstance(v, int) else json.dumps(str(v))


def _toml_section(name: str, table: dict) -> str:
    """`[name]` with the table's plain keys, then its sub-tables as `[name.key]`."""
    plain = "".join(f"{k} = {_toml_value(v)}\n" for k, v in table.items() if not isinstance(v, dict))
    subs = "".join(_toml_section(f"{name}.{k}", v) for k, v in table.items() if isinstance(v, dict))
    return f"[{name}]\n{plain}{subs}"


def config_toml(listen: str, data_dir: Path, gateway: dict | None = None,
                private_ips: dict[str, str] | None = None) -> str:
    """The server's config: exactly the keys issue #3 promises to tests outside the project, plus the
    `[gateway]` section (e.g. {"timing": {"dpd_interval_secs": 2}}) and zones' private addresses
    (`private_gateway_ips`, e.g. {"zone-a": "10.255.0.1"}) when given."""
    private_ips = private_ips or {}
    zones = "".join(f'[[zones]]\nid = "{z}"\ngateway_ips = ["{ip}"]\n'
                    + (f'private_gateway_ips = ["{private_ips[z]}"]\n' if z in private_ips else "")
                    for z, ip in ZONE_IPS.items())
    return (f'region = "{REGION}"\n[api]\nlisten = "{listen}"\n[store]\ndata_dir = "{data_dir}"\n{zones}'
            '[[vpcs]]\nid = "vpc-local"\ncidrs = ["10.0.0.0/16"]\n'
            + (_toml_section("gateway", gateway) if gateway is not None else ""))


def _snake(action: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()


class Api:
    """One tenant's SDK clients; `api("CreateCustomerGateway", IpAddress=...)` sends a VPC API action and
    `api.cbn("CreateCen")` a CBN API one (CEN, transit routers); both return the body as a dict."""

    def __init__(self, endpoint: str, creds: dict):
        self.creds = creds
        self.endpoint = endpoint
        config = dict(access_key_id=creds["AccessKeyId"], access_key_secret=creds["AccessKeySecret"],
                      endpoint=endpoint, protocol="http", region_id=REGION,
                      connect_timeout=5000, read_timeout=15000)
        self.client = Client(Config(**config))
        self.cbn_client = CbnClient(Config(**config))

    @property
    def account_id(self) -> str:
        """This tenant's account id (the UID other accounts name it by)."""
        return self.creds["AccountId"]

    def __call__(self, action: str, **fields) -> dict:
        """Sends one VPC API action with wire-named fields (RegionId added) and returns the response body."""
        request = getattr(vpc_models, f"{action}Request")().from_map({"RegionId": REGION, **fields})
        return getattr(self.client, _snake(action))(request).body.to_map()

    def cbn(self, action: str, **fields) -> dict:
        """Sends one CBN API action through the official CBN SDK and returns the response body."""
        request = getattr(cbn_models, f"{action}Request")().from_map({"RegionId": REGION, **fields})
        return getattr(self.cbn_client, _snake(action))(request).body.to_map()

    def raw(self, action: str, version: str = VPC_VERSION, **fields) -> dict:
        """Sends one action through the SDK's generic call_api (fields as query parameters) and returns the
        whole response body, with the fields the SDK's typed models drop (e.g. StatusDetail)."""
        request = open_api_models.OpenApiRequest(query={"RegionId": REGION, **fields})
        params = open_api_models.Params(
            action=action, version=version, protocol="HTTPS", pathname="/", method="POST", auth_type="AK",
            style="RPC", req_body_type="formData", body_type="json")
        return self.client.call_api(params, request, RuntimeOptions())["body"]

    def fails(self, action: str, **fields) -> ClientException:
        """Sends one VPC API action that must be refused with a 4xx error, and returns that error."""
        return _refused(lambda: self(action, **fields), action, fields)

    def cbn_fails(self, action: str, **fields) -> ClientException:
        """Sends one CBN API action that must be refused with a 4xx error, and returns that error."""
        return _refused(lambda: self.cbn(action, **fields), action, fields)

    def raw_fails(self, action: str, version: str = VPC_VERSION, **fields) -> ClientException:
        """Sends one action through call_api that must be refused with a 4xx error, and returns that error."""
        return _refused(lambda: self.raw(action, version=version, **fields), action, fields)


def _refused(send, action: str, fields: dict) -> ClientException:
    """The 4xx error `send()` raises; fails the test if it was accepted."""
    try:
        body = send()
    except ClientException as e:
        return e
    raise AssertionError(f"{action} {fields} was accepted: {body}")


def _free_link_net() -> ipaddress.IPv4Network:
    """A /30 in 198.51.100.128/25 that no root-namespace interface uses yet."""
    used = sh(["ip", "-4", "-o", "addr", "show"]).stdout
    nets = list(ipaddress.ip_network("198.51.100.128/25").subnets(new_prefix=30))
    random.shuffle(nets)
    for net in nets:
        if not any(f" {h}/" in used for h in net):
            return net
    raise RuntimeError("no free /30 left in 198.51.100.128/25")


class ApiServer:
    """A `strait serve` in its own namespace, on a data dir that outlives restarts."""

    def __init__(self, topo: Topology, strait: Path, workdir: Path | None = None, gateway: dict | None = None,
                 ns_name: str = "api", private_ips: dict[str, str] | None = None):
        self.topo = topo
        self.strait = strait
        self.own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="strait-api-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.log = self.workdir / "serve.log"
        self.ns = topo.ns(ns_name)
        net = _free_link_net()
        root_ip, ns_ip = list(net.hosts())
        n = f"{topo.prefix}r"[:15]
        sh(["ip", "link", "add", n, "type", "veth", "peer", "name", "eth0api", "netns", self.ns])
        sh(["ip", "addr", "add", f"{root_ip}/30", "dev", n])
        sh(["ip", "link", "set", n, "up"])
        topo.run(self.ns, f"ip addr add {ns_ip}/30 dev eth0api && ip link set eth0api up")
        # The zones' gateway addresses exist on the server's host (spec §7), with no route beyond the link.
        if gateway is None:
            for ip in ZONE_IPS.values():
                topo.run(self.ns, f"ip addr add {ip}/32 dev lo")
        self.host = str(ns_ip)
        self.endpoint = f"{ns_ip}:{PORT}"
        self.config = self.workdir / "strait.toml"
        self.config.write_text(config_toml(self.endpoint, self.data_dir, gateway, private_ips))
        self.proc: subprocess.Popen | None = None
        self._ips = self._address_pool()

    @staticmethod
    def _address_pool():
        """Distinct customer-gateway addresses from the documentation ranges, off the link /30s."""
        for h in range(10, 255):
            yield f"192.0.2.{h}"
        for h in range(10, 255):
            yield f"203.0.113.{h}"
        for h in range(10, 128):
            yield f"198.51.100.{h}"

    def next_ip(self) -> str:
        """A customer-gateway address no earlier call returned."""
        return next(self._ips)

    def start(self, args: str | None = None) -> None:
        """Starts the server (with `args`, default `--config FILE`) and waits until it answers with credentials."""
        args = f"--config {self.config}" if args is None else args
        self.proc = self.topo.spawn(self.ns, f"{self.strait} serve {args}", log=self.log)
        creds = self.data_dir / "credentials.json"

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"strait serve exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                with socket.create_connection((self.host, PORT), timeout=0.5):
                    return creds.exists() and creds.stat().st_size > 0
            except OSError:
                return False

        wait_until(ready, timeout=30, interval=0.1, what="strait serve to answer")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stops the server with `sig` (SIGKILL for a crash) and waits for it to be gone."""
        if self.proc is not None:
            self.topo.kill(self.proc, sig)
            self.proc = None

    def log_tail(self, n: int = 4000) -> str:
        """The end of the server's log, for failure messages."""
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def admin_credentials(self) -> dict:
        """The admin account written on first start."""
        return json.loads((self.data_dir / "credentials.json").read_text())

    def admin(self) -> Api:
        """An SDK client for the admin account."""
        return Api(self.endpoint, self.admin_credentials())

    def create_account(self, name: str) -> Api:
        """Adds a tenant with `strait account create` and returns an SDK client for it."""
        out = self.topo.run(self.ns, f"{self.strait} account create {name} --data-dir {self.data_dir}").stdout
        creds, _ = json.JSONDecoder().raw_decode(out[out.index("{"):])
        return Api(self.endpoint, creds)

    def cleanup(self) -> None:
        """Removes the work dir if this object made it (the namespace belongs to the topology)."""
        if self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
