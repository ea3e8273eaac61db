"""DownloadVpnConnectionConfig through the official SDK: the device's view of a connection, device
configurations chosen by the extra `DeviceType` parameter, tenant isolation, and `strait peer-config`
printing the same text from the store.

Loading the strongSwan output into charon is tested in tests/peer_config; not repeated here.
"""

from __future__ import annotations

import json

import pytest
from alibabacloud_tea_openapi import utils_models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_vpc20160428 import models as vpc_models
from darabonba.runtime import RuntimeOptions

from api_builders import assert_fields, assert_not_found, dual, make_cgw, make_gateway, single, tunnels
from api_harness import REGION, Api

DEVICES = ["strongswan", "libreswan", "cisco-asa", "cisco-ios", "juniper-srx", "fortigate", "paloalto", "huawei"]


def download(api: Api, vco: str) -> dict:
    """DownloadVpnConnectionConfig through the SDK's own method; the body as a dict."""
    request = vpc_models.DownloadVpnConnectionConfigRequest(region_id=REGION, vpn_connection_id=vco)
    return api.client.download_vpn_connection_config(request).body.to_map()


def download_device(api: Api, vco: str, device: str) -> dict:
    """DownloadVpnConnectionConfig with the extra DeviceType query parameter, via tea-openapi's call_api."""
    request = open_api_models.OpenApiRequest(
        query={"RegionId": REGION, "VpnConnectionId": vco, "DeviceType": device})
    params = open_api_models.Params(
        action="DownloadVpnConnectionConfig", version="2016-04-28", protocol="HTTPS", pathname="/",
        method="POST", auth_type="AK", style="RPC", req_body_type="formData", body_type="json")
    return api.client.call_api(params, request, RuntimeOptions())["body"]


def download_device_fails(api: Api, vco: str, device: str) -> ClientException:
    """Sends DeviceType that must be refused, and returns the SDK's error."""
    try:
        body = download_device(api, vco, device)
    except ClientException as e:
        return e
    raise AssertionError(f"DeviceType={device} for {vco} was accepted: {body}")


def assert_same(actual: dict, expected: dict, where: str) -> None:
    """The same fields with the same values, numbers and their text alike (Describe sends some as text)."""
    assert set(actual) == set(expected), f"{where}: {sorted(actual)} != {sorted(expected)}"
    assert_fields(actual, expected, where)


def peer_view(ike: dict) -> dict:
    """A connection's IkeConfig as the device sees it: the identities swap sides."""
    out = {k: v for k, v in ike.items() if k not in ("LocalId", "RemoteId")}
    return {**out, "LocalId": ike["RemoteId"], "RemoteId": ike["LocalId"]}


def peer_bgp(bgp: dict, tunnel_id: str, cgw_asn: int) -> dict:
    """A connection's BGP settings as the device sees them."""
    return {"TunnelId": tunnel_id, "TunnelCidr": bgp["TunnelCidr"], "LocalAsn": str(cgw_asn),
            "LocalBgpIp": bgp["PeerBgpIp"], "PeerAsn": str(bgp["LocalAsn"]), "PeerBgpIp": bgp["LocalBgpIp"]}


def seed_003(server, api: Api) -> list[str]:
    """Seed 003's three ECMP connections: group14, BGP 65531/65530, the seed's PSKs."""
    gw = make_gateway(api, Name="seed-003")
    out = []
    for n, psk in enumerate(["123", "456", "789"]):
        cgw, _ = make_cgw(server, api, IpAddress=f"198.51.100.{n + 1}", Asn="65530", Name=f"dc-{n + 1}")
        out.append(api("CreateVpnConnection", **single(
            gw, cgw, Name=f"ecmp-{n + 1}", LocalSubnet="0.0.0.0/0", RemoteSubnet="0.0.0.0/0",
            IkeConfig={"IkePfs": "group14", "Psk": f"fddsFF{psk}****"}, IpsecConfig={"IpsecPfs": "group14"},
            BgpConfig={"EnableBgp": True, "LocalAsn": 65531, "TunnelCidr": f"169.254.{10 + n}.0/30",
                       "LocalBgpIp": f"169.254.{10 + n}.1"}))["VpnConnectionId"])
    return out


@pytest.fixture(scope="module")
def seeds(server, api):
    """The seed-003 connection ids, made once per module."""
    return seed_003(server, api)


def test_single_tunnel_config_is_the_devices_view_of_the_connection(server, api):
    gw = make_gateway(api)
    cgw, cgw_ip = make_cgw(server, api, Asn="65530")
    vco = api("CreateVpnConnection", **single(
        gw, cgw, RemoteSubnet="192.168.0.0/24,192.168.1.0/24",
        IkeConfig={"Psk": "single-Key-1", "IkeVersion": "ikev2", "IkeEncAlg": "aes256", "IkeAuthAlg": "sha256",
                   "IkePfs": "group14", "IkeLifetime": 28800},
        IpsecConfig={"IpsecEncAlg": "aes256", "IpsecAuthAlg": "sha256", "IpsecPfs": "group14",
                     "IpsecLifetime": 3600},
        BgpConfig={"EnableBgp": True, "LocalAsn": 65531, "TunnelCidr": "169.254.20.0/30",
                   "LocalBgpIp": "169.254.20.1"}))["VpnConnectionId"]
    conn = api("DescribeVpnConnection", VpnConnectionId=vco)

    body = download(api, vco)
    cfg = body["VpnConnectionConfig"]
    assert body["RequestId"]
    assert (cfg["Local"], cfg["Remote"]) == (cgw_ip, conn["InternetIp"])
    assert (cfg["LocalSubnet"], cfg["RemoteSubnet"]) == ("192.168.0.0/24,192.168.1.0/24", "10.0.0.0/16")
    assert_same(cfg["IkeConfig"], peer_view(conn["IkeConfig"]), "IkeConfig")
    assert cfg["IkeConfig"]["Psk"] == "single-Key-1"
    assert (cfg["IkeConfig"]["LocalId"], cfg["IkeConfig"]["RemoteId"]) == (cgw_ip, conn["InternetIp"])
    assert_same(cfg["IpsecConfig"], conn["IpsecConfig"], "IpsecConfig")
    [bgp] = cfg["BgpConfigs"]["BgpConfig"]
    assert bgp["TunnelId"].startswith("tun-")
    assert_same(bgp, peer_bgp(conn["VpnBgpConfig"], bgp["TunnelId"], 65530), "BgpConfig")
    assert (bgp["LocalBgpIp"], bgp["PeerBgpIp"]) == ("169.254.20.2", "169.254.20.1")
    assert not cfg.get("TunnelsConfig")


def test_dual_tunnel_config_has_each_tunnel_from_the_devices_side(server, api):
    gw = make_gateway(api)
    (cgw1, ip1), (cgw2, ip2) = make_cgw(server, api, Asn="65530"), make_cgw(server, api, Asn="65530")
    bgp = lambda o: {"LocalAsn": 65531, "TunnelCidr": f"169.254.{o}.0/30", "LocalBgpIp": f"169.254.{o}.1"}  # noqa: E731
    vco = api("CreateVpnConnection", **dual(
        gw, cgw1, cgw2, EnableTunnelsBgp=True,
        t1={"TunnelIkeConfig": {"Psk": "master-Key", "IkePfs": "group14"}, "TunnelIpsecConfig": {"IpsecPfs": "group14"},
            "TunnelBgpConfig": bgp(30)},
        t2={"TunnelIkeConfig": {"Psk": "slave-Key", "IkeEncAlg": "aes256"}, "TunnelBgpConfig": bgp(31)}))[
        "VpnConnectionId"]
    conn = api("DescribeVpnConnection", VpnConnectionId=vco)
    ours = tunnels(conn)

    cfg = download(api, vco)["VpnConnectionConfig"]
    assert (cfg["LocalSubnet"], cfg["RemoteSubnet"]) == ("192.168.0.0/24", "10.0.0.0/16")
    assert not cfg.get("Local") and not cfg.get("IkeConfig")
    got = cfg["TunnelsConfig"]["TunnelConfig"]
    assert [t["TunnelId"] for t in got] == [t["TunnelId"] for t in ours]
    for t, mine, cgw_ip, psk in zip(got, ours, [ip1, ip2], ["master-Key", "slave-Key"]):
        assert (t["Local"], t["Remote"]) == (cgw_ip, mine["InternetIp"])
        assert_same(t["IkeConfig"], peer_view(mine["TunnelIkeConfig"]), "TunnelConfig.IkeConfig")
        assert t["IkeConfig"]["Psk"] == psk
        assert_same(t["IpsecConfig"], mine["TunnelIpsecConfig"], "TunnelConfig.IpsecConfig")
    assert ours[0]["InternetIp"] != ours[1]["InternetIp"]
    assert (got[0]["IkeConfig"]["IkePfs"], got[1]["IkeConfig"]["IkeEncAlg"]) == ("group14", "aes256")
    got_bgp = cfg["BgpConfigs"]["BgpConfig"]
    assert len(got_bgp) == 2
    for b, mine in zip(got_bgp, ours):
        assert_same(b, peer_bgp(mine["TunnelBgpConfig"], mine["TunnelId"], 65530), "BgpConfig")


@pytest.mark.parametrize("device", DEVICES)
def test_every_device_renders_the_seed_003_connections(api, seeds, device):
    for vco in seeds:
        standard = download(api, vco)
        body = download_device(api, vco, device)
        assert body["VpnConnectionConfig"] == standard["VpnConnectionConfig"]
        text = body["DeviceConfig"]
        cfg = standard["VpnConnectionConfig"]
        # The device's configuration carries this connection's own addresses and key.
        for needle in (cfg["Local"], cfg["Remote"], cfg["IkeConfig"]["Psk"],
                       cfg["BgpConfigs"]["BgpConfig"][0]["PeerBgpIp"]):
            assert needle in text, f"{device} config for {vco} lacks {needle}:\n{text}"


def test_unknown_device_is_refused_naming_the_accepted_ones(api, seeds):
    err = download_device_fails(api, seeds[0], "netgear")
    assert err.status_code == 400
    assert err.code == "InvalidParameter.DeviceType"
    for device in DEVICES:
        assert device in err.message, err.message


def test_a_device_that_cannot_express_the_connection_says_so(server, api):
    gw = make_gateway(api)
    cgw, _ = make_cgw(server, api)
    vco = api("CreateVpnConnection", **single(
        gw, cgw, IkeConfig={"IkeVersion": "ikev2", "IkeEncAlg": "des", "IkePfs": "group14"},
        IpsecConfig={"IpsecPfs": "group14"}))["VpnConnectionId"]
    err = download_device_fails(api, vco, "libreswan")
    assert (err.status_code, err.code) == (400, "OperationUnsupported.DeviceConfig")
    assert "libreswan" in err.message and "encryption des" in err.message.lower(), err.message
    # Devices that still speak DES render it.
    assert "des-sha1-modp2048" in download_device(api, vco, "strongswan")["DeviceConfig"]


def test_another_tenants_connection_is_not_found(api, tenant, seeds):
    for call in (lambda: download(tenant, seeds[0]), lambda: download_device(tenant, seeds[0], "strongswan")):
        with pytest.raises(ClientException) as e:
            call()
        assert_not_found(e.value, "another tenant's connection")
    theirs = tenant.fails("DownloadVpnConnectionConfig", VpnConnectionId=seeds[0])
    ours = api.fails("DescribeVpnConnection", VpnConnectionId="vco-doesnotexist0000000")
    assert theirs.code == ours.code


@pytest.mark.parametrize("device", ["strongswan", "cisco-asa", "huawei"])
def test_peer_config_cli_prints_what_the_api_answers(server, api, seeds, device):
    vco = seeds[1]
    out = server.topo.run(server.ns, f"{server.strait} peer-config {vco} --device {device} "
                                     f"--data-dir {server.data_dir}").stdout
    assert out == download_device(api, vco, device)["DeviceConfig"]
    out = server.topo.run(server.ns, f"{server.strait} peer-config {vco} --data-dir {server.data_dir}").stdout
    assert json.loads(out) == download(api, vco)["VpnConnectionConfig"]


def test_peer_config_cli_reads_only_the_given_account(server, api, tenant, seeds):
    account = tenant.creds["AccountId"]
    run = server.topo.run(server.ns, f"{server.strait} peer-config {seeds[0]} --data-dir {server.data_dir} "
                                     f"--account {account}", check=False)
    assert run.returncode != 0 and "not found" in run.stderr
