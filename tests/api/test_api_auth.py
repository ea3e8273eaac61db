"""Authentication and tenancy: signatures (ACS3 and the older RPC HMAC-SHA1), expiry, replay, account isolation."""

import base64
import hashlib
import hmac
import json
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from alibabacloud_tea_openapi.utils import Utils
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

from api_builders import assert_not_found, make_cgw, make_gateway, single, without_request_id
from api_harness import PORT, REGION, Api


def _enc(v) -> str:
    return quote(str(v), safe="-_.~")


def sha1_signed_url(endpoint: str, creds: dict, action: str, when: datetime | None = None, nonce: str | None = None,
                    **params) -> str:
    """A GET URL signed with the RPC HMAC-SHA1 scheme (SignatureVersion 1.0), with a chosen timestamp and nonce."""
    query = {"Action": action, "Version": "2016-04-28", "Format": "JSON", "RegionId": REGION,
             "AccessKeyId": creds["AccessKeyId"], "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
             "SignatureNonce": nonce or uuid.uuid4().hex,
             "Timestamp": (when or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ"), **params}
    canonical = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(query.items()))
    to_sign = f"GET&{_enc('/')}&{_enc(canonical)}"
    digest = hmac.new(f"{creds['AccessKeySecret']}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return f"http://{endpoint}/?{canonical}&Signature={_enc(base64.b64encode(digest).decode())}"


def http_get(url: str) -> tuple[int, dict]:
    """GETs a URL and returns (status, JSON body), for error statuses too."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def assert_rejected(status: int, body: dict, *words: str) -> None:
    """An Alibaba-style 4xx whose Code mentions one of `words` (case-insensitive)."""
    assert 400 <= status < 500, (status, body)
    assert body.get("RequestId") and body.get("Message"), body
    assert any(w.lower() in body.get("Code", "").lower() for w in words), body


def test_official_sdk_requests_are_signed_and_accepted(api):
    body = api("DescribeVpnGateways")
    assert body["RequestId"] and "TotalCount" in body


def test_admin_credentials_file_is_private_and_complete(server):
    path = server.data_dir / "credentials.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert set(json.loads(path.read_text())) >= {"AccountId", "AccessKeyId", "AccessKeySecret"}


def test_wrong_secret_is_rejected_and_changes_nothing(server, api):
    before = api("DescribeCustomerGateways")["TotalCount"]
    forged = Api(server.endpoint, {**api.creds, "AccessKeySecret": api.creds["AccessKeySecret"][::-1] + "x"})
    err = forged.fails("CreateCustomerGateway", IpAddress=server.next_ip())
    assert 400 <= err.status_code < 500 and err.code == "SignatureDoesNotMatch", err.data
    assert api("DescribeCustomerGateways")["TotalCount"] == before


def test_unknown_access_key_is_rejected(server):
    err = Api(server.endpoint, {"AccessKeyId": "LTAIdoesnotexist000", "AccessKeySecret": "x" * 30}).fails(
        "DescribeVpnGateways")
    assert 400 <= err.status_code < 500 and "accesskey" in err.code.lower(), err.data


def test_unsigned_request_is_rejected(server):
    url = f"http://{server.endpoint}/?Action=DescribeVpnGateways&Version=2016-04-28&Format=JSON&RegionId={REGION}"
    status, body = http_get(url)
    assert 400 <= status < 500 and body.get("Code"), (status, body)


def test_old_rpc_signature_from_aliyun_sdk_core_is_accepted(server, api):
    gw = make_gateway(api, Name="seen-by-old-sdk")
    client = AcsClient(api.creds["AccessKeyId"], api.creds["AccessKeySecret"], REGION, auto_retry=False,
                       port=PORT, timeout=10)
    req = CommonRequest(domain=server.host, version="2016-04-28", action_name="DescribeVpnGateway")
    req.set_protocol_type("http")
    req.set_method("POST")
    req.add_query_param("RegionId", REGION)
    req.add_query_param("VpnGatewayId", gw)
    body = json.loads(client.do_action_with_exception(req))
    assert body["VpnGatewayId"] == gw and body["Name"] == "seen-by-old-sdk"


def test_replayed_nonce_is_rejected(server, api):
    url = sha1_signed_url(server.endpoint, api.creds, "DescribeVpnGateways", nonce=uuid.uuid4().hex)
    status, body = http_get(url)
    assert status == 200 and "TotalCount" in body, (status, body)
    status, body = http_get(url)
    assert_rejected(status, body, "nonce")


def test_expired_or_future_timestamp_is_rejected(server, api):
    now = datetime.now(timezone.utc)
    for when in (now - timedelta(minutes=20), now + timedelta(minutes=20)):
        assert_rejected(*http_get(sha1_signed_url(server.endpoint, api.creds, "DescribeVpnGateways", when=when)),
                        "timestamp")
    # Inside the 15-minute window the same request is fine.
    status, body = http_get(sha1_signed_url(server.endpoint, api.creds, "DescribeVpnGateways",
                                            when=now - timedelta(minutes=5)))
    assert status == 200, body


def test_sdk_request_with_reused_nonce_is_rejected(api, monkeypatch):
    # The official SDK (ACS3-HMAC-SHA256) signs its x-acs-signature-nonce: pin it to replay a nonce.
    nonce = uuid.uuid4().hex
    monkeypatch.setattr(Utils, "get_nonce", staticmethod(lambda: nonce))
    api("DescribeVpnGateways")
    err = api.fails("DescribeVpnGateways")
    assert 400 <= err.status_code < 500 and "nonce" in err.code.lower(), err.data


def test_sdk_request_with_stale_date_is_rejected(api, monkeypatch):
    stale = (datetime.now(timezone.utc) - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    monkeypatch.setattr(Utils, "get_timestamp", staticmethod(lambda: stale))
    err = api.fails("DescribeVpnGateways")
    assert 400 <= err.status_code < 500 and "timestamp" in err.code.lower(), err.data


def test_wrong_sha1_signature_is_rejected(server, api):
    url = sha1_signed_url(server.endpoint, {**api.creds, "AccessKeySecret": "not-the-secret"}, "DescribeVpnGateways")
    assert_rejected(*http_get(url), "signature")


def test_other_tenant_can_neither_read_modify_nor_delete(server, api, tenant):
    gw = make_gateway(api, Name="owned")
    cgw, _ = make_cgw(server, api, Name="owned-cgw", Asn="65001")
    vco = api("CreateVpnConnection", **single(gw, cgw, Name="owned-vco"))["VpnConnectionId"]
    api("CreateVpnRouteEntry", VpnGatewayId=gw, RouteDest="192.168.60.0/24", NextHop=vco, Weight=100,
        PublishVpc=False)

    def state():
        return {
            "gw": without_request_id(api("DescribeVpnGateway", VpnGatewayId=gw)),
            "cgw": without_request_id(api("DescribeCustomerGateway", CustomerGatewayId=cgw)),
            "vco": without_request_id(api("DescribeVpnConnection", VpnConnectionId=vco)),
            "routes": without_request_id(api("DescribeVpnRouteEntries", VpnGatewayId=gw)),
        }

    before = state()
    for action, fields in [
        ("DescribeVpnGateway", {"VpnGatewayId": gw}),
        ("DescribeCustomerGateway", {"CustomerGatewayId": cgw}),
        ("DescribeVpnConnection", {"VpnConnectionId": vco}),
        ("DescribeVpnRouteEntries", {"VpnGatewayId": gw}),
        ("ModifyVpnGatewayAttribute", {"VpnGatewayId": gw, "Name": "stolen"}),
        ("ModifyCustomerGatewayAttribute", {"CustomerGatewayId": cgw, "Name": "stolen"}),
        ("ModifyVpnConnectionAttribute", {"VpnConnectionId": vco, "Name": "stolen"}),
        ("CreateVpnConnection", single(gw, cgw, Name="piggyback")),
        ("CreateVpnRouteEntry", {"VpnGatewayId": gw, "RouteDest": "192.168.61.0/24", "NextHop": vco,
                                 "Weight": 100, "PublishVpc": False}),
        ("DeleteVpnRouteEntry", {"VpnGatewayId": gw, "RouteDest": "192.168.60.0/24", "NextHop": vco,
                                 "Weight": 100}),
        ("TagResources", {"ResourceType": "VPNGATEWAY", "ResourceId": [gw], "Tag": [{"Key": "k", "Value": "v"}]}),
        ("DeleteVpnConnection", {"VpnConnectionId": vco}),
        ("DeleteCustomerGateway", {"CustomerGatewayId": cgw}),
        ("DeleteVpnGateway", {"VpnGatewayId": gw}),
    ]:
        assert_not_found(tenant.fails(action, **fields), action)

    # Another tenant's id answers exactly like an id that never existed: nothing to probe.
    foreign = tenant.fails("DescribeVpnConnection", VpnConnectionId=vco)
    unknown = tenant.fails("DescribeVpnConnection", VpnConnectionId="vco-doesnotexist0000")
    assert (foreign.status_code, foreign.code) == (unknown.status_code, unknown.code)
    assert tenant("DescribeVpnGateways")["TotalCount"] == 0
    assert tenant("DescribeCustomerGateways")["TotalCount"] == 0
    assert tenant("DescribeVpnConnections")["TotalCount"] == 0
    assert state() == before, "another tenant's requests changed the owner's resources"
