"""Small builders and checks shared by the API tests: resources made through the SDK, loose field comparison."""

from __future__ import annotations

import json
import re
import time

from api_harness import Api, ApiServer

# Spec §2: PSK characters (no spaces).
PSK_CHARS = re.compile(r"^[0-9A-Za-z~`!@#$%^&*()_\-+={}\[\]\\|;:',.<>/?\"]+$")

SINGLE_IKE_DEFAULTS = {"IkeVersion": "ikev1", "IkeMode": "main", "IkeEncAlg": "aes", "IkeAuthAlg": "sha1",
                       "IkePfs": "group2", "IkeLifetime": 86400}
IPSEC_DEFAULTS = {"IpsecEncAlg": "aes", "IpsecAuthAlg": "sha1", "IpsecPfs": "group2", "IpsecLifetime": 86400}


def norm(v):
    """The wire value as the SDK's loose typing allows it (True, "true" and 1/"1" compare by text)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def assert_fields(actual: dict, expected: dict, where: str = "") -> None:
    """Every expected field is present in `actual` with the same value (compared as text)."""
    diff = {k: (actual.get(k), v) for k, v in expected.items() if k not in actual or norm(actual[k]) != norm(v)}
    assert not diff, f"{where} fields differ (actual, expected): {diff}\nfull: {json.dumps(actual, indent=1)}"


def without_request_id(body: dict) -> dict:
    """A response body without its per-request RequestId, for comparing two reads of one resource."""
    return {k: v for k, v in body.items() if k != "RequestId"}


def error_names(err, field: str) -> bool:
    """Whether an SDK error's Code or Message names `field` (case-insensitive)."""
    data = err.data or {}
    text = f"{data.get('Code', '')} {data.get('Message', '')}".lower()
    return field.lower() in text


def assert_not_found(err, what: str = "") -> None:
    """The error is an Alibaba-style not-found answer (a Code with NotFound in it)."""
    assert err.status_code in (400, 404), f"{what} status {err.status_code}: {err.data}"
    assert "notfound" in (err.code or "").lower().replace(".", "").replace("_", ""), f"{what}: {err.data}"


def tags_of(body: dict) -> dict:
    """The Tags.Tag list of a describe body as a dict."""
    return {t["Key"]: t.get("Value", "") for t in (body.get("Tags") or {}).get("Tag", [])}


def make_gateway(api: Api, **fields) -> str:
    """Creates a VPN gateway on vpc-local, waits until it is active and returns its id."""
    gw = api("CreateVpnGateway", VpcId="vpc-local", **fields)["VpnGatewayId"]
    deadline = time.monotonic() + 5
    while api("DescribeVpnGateway", VpnGatewayId=gw).get("Status") != "active":
        assert time.monotonic() < deadline, f"gateway {gw} not active after 5 s"
        time.sleep(0.1)
    return gw


def make_cgw(server: ApiServer, api: Api, **fields) -> tuple[str, str]:
    """Creates a customer gateway on a fresh address; returns (id, address)."""
    ip = fields.pop("IpAddress", None) or server.next_ip()
    return api("CreateCustomerGateway", IpAddress=ip, **fields)["CustomerGatewayId"], ip


def single(gw: str, cgw: str, **fields) -> dict:
    """CreateVpnConnection fields for a single-tunnel connection; dict-valued configs become JSON strings."""
    out = {"VpnGatewayId": gw, "CustomerGatewayId": cgw, "LocalSubnet": "10.0.0.0/16",
           "RemoteSubnet": "192.168.0.0/24"}
    for k, v in fields.items():
        out[k] = json.dumps(v) if isinstance(v, dict) else v
    return out


def dual(gw: str, cgw1: str, cgw2: str, t1: dict | None = None, t2: dict | None = None, **fields) -> dict:
    """CreateVpnConnection fields for a dual-tunnel connection (master on cgw1, slave on cgw2)."""
    return {"VpnGatewayId": gw, "LocalSubnet": "10.0.0.0/16", "RemoteSubnet": "192.168.0.0/24",
            "TunnelOptionsSpecification": [
                {"CustomerGatewayId": cgw1, "Role": "master", **(t1 or {})},
                {"CustomerGatewayId": cgw2, "Role": "slave", **(t2 or {})}],
            **fields}


def tunnels(body: dict) -> list[dict]:
    """A DescribeVpnConnection body's tunnels, master first."""
    ts = (body.get("TunnelOptionsSpecification") or {}).get("TunnelOptions", [])
    return sorted(ts, key=lambda t: 0 if t.get("Role") == "master" else 1)


OBSERVED = {"RequestId", "State", "Status", "BgpStatus"}


def config_view(value):
    """A response body (or part) without RequestId and the observed negotiation state, at any depth."""
    if isinstance(value, dict):
        return {k: config_view(v) for k, v in value.items() if k not in OBSERVED}
    if isinstance(value, list):
        return [config_view(v) for v in value]
    return value
