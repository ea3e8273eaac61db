"""Invalid inputs (spec §2, mission-anchors §2): each is refused with an Alibaba-style error naming the field,
and leaves nothing behind."""

import json

import pytest

from api_builders import config_view, dual, error_names, make_cgw, make_gateway, single, tunnels


@pytest.fixture(scope="module")
def ctx(server, api):
    """A gateway, customer gateways with and without ASN, and a BGP connection holding 169.254.40.0/30."""
    gw = make_gateway(api)
    cgw_asn, _ = make_cgw(server, api, Asn="65530")
    cgw_plain, _ = make_cgw(server, api)
    cgw_asn2, _ = make_cgw(server, api, Asn="65531")
    vco = api("CreateVpnConnection", **single(gw, cgw_asn, BgpConfig={
        "EnableBgp": True, "TunnelCidr": "169.254.40.0/30", "LocalBgpIp": "169.254.40.1"}))["VpnConnectionId"]
    return {"gw": gw, "cgw": cgw_plain, "cgw_asn": cgw_asn, "cgw_asn2": cgw_asn2, "vco": vco,
            "next_ip": server.next_ip}


def conn(c, **fields):
    return ("CreateVpnConnection", single(c["gw"], c["cgw"], **fields))


def bgp_conn(c, **bgp):
    return ("CreateVpnConnection", single(c["gw"], c["cgw_asn"], BgpConfig={"EnableBgp": True, **bgp}))


def cgw(c, **fields):
    return ("CreateCustomerGateway", {"IpAddress": c["next_ip"](), **fields})


def route(c, **fields):
    return ("CreateVpnRouteEntry", {"VpnGatewayId": c["gw"], "RouteDest": "192.168.77.0/24", "NextHop": c["vco"],
                                    "Weight": 100, "PublishVpc": False, **fields})


def pbr(c, **fields):
    return ("CreateVpnPbrRouteEntry", {"VpnGatewayId": c["gw"], "RouteSource": "10.0.0.0/24",
                                       "RouteDest": "192.168.78.0/24", "NextHop": c["vco"], "Weight": 100,
                                       "PublishVpc": False, **fields})


def dual_bgp(c, cidr1, cidr2):
    return ("CreateVpnConnection", dual(
        c["gw"], c["cgw_asn"], c["cgw_asn2"], EnableTunnelsBgp=True,
        t1={"TunnelBgpConfig": {"TunnelCidr": cidr1, "LocalBgpIp": cidr1.replace(".0/30", ".1")}},
        t2={"TunnelBgpConfig": {"TunnelCidr": cidr2, "LocalBgpIp": cidr2.replace(".0/30", ".1")}}))


# (id, request builder, field names any one of which the error must name)
CASES = [
    ("psk-space", lambda c: conn(c, IkeConfig={"Psk": "pre shared"}), ["Psk"]),
    ("psk-non-ascii", lambda c: conn(c, IkeConfig={"Psk": "clé-secrète"}), ["Psk"]),
    ("psk-101-chars", lambda c: conn(c, IkeConfig={"Psk": "k" * 101}), ["Psk"]),
    ("ike-enc-unknown", lambda c: conn(c, IkeConfig={"IkeEncAlg": "blowfish"}), ["IkeEncAlg"]),
    ("ike-auth-unknown", lambda c: conn(c, IkeConfig={"IkeAuthAlg": "sha3"}), ["IkeAuthAlg"]),
    ("ike-dh-unknown", lambda c: conn(c, IkeConfig={"IkePfs": "group99"}), ["IkePfs"]),
    ("ike-version-unknown", lambda c: conn(c, IkeConfig={"IkeVersion": "ikev3"}), ["IkeVersion"]),
    ("ike-mode-unknown", lambda c: conn(c, IkeConfig={"IkeMode": "quick"}), ["IkeMode"]),
    ("ike-lifetime-86401", lambda c: conn(c, IkeConfig={"IkeLifetime": 86401}), ["IkeLifetime"]),
    ("ike-lifetime-negative", lambda c: conn(c, IkeConfig={"IkeLifetime": -1}), ["IkeLifetime"]),
    ("ipsec-enc-unknown", lambda c: conn(c, IpsecConfig={"IpsecEncAlg": "rc4"}), ["IpsecEncAlg"]),
    ("ipsec-pfs-unknown", lambda c: conn(c, IpsecConfig={"IpsecPfs": "group3"}), ["IpsecPfs"]),
    ("ipsec-lifetime-86401", lambda c: conn(c, IpsecConfig={"IpsecLifetime": 86401}), ["IpsecLifetime"]),
    ("two-cidrs-with-ikev1", lambda c: conn(c, LocalSubnet="10.0.0.0/24,10.0.1.0/24"),
     ["LocalSubnet", "IkeVersion"]),
    ("local-id-space", lambda c: conn(c, IkeConfig={"LocalId": "gw one"}), ["LocalId"]),
    ("remote-id-space", lambda c: conn(c, IkeConfig={"RemoteId": "dc one"}), ["RemoteId"]),
    ("tunnel-cidr-not-30", lambda c: bgp_conn(c, TunnelCidr="169.254.50.0/29", LocalBgpIp="169.254.50.1"),
     ["TunnelCidr"]),
    ("tunnel-cidr-reserved-0", lambda c: bgp_conn(c, TunnelCidr="169.254.0.0/30", LocalBgpIp="169.254.0.1"),
     ["TunnelCidr"]),
    ("tunnel-cidr-reserved-6", lambda c: bgp_conn(c, TunnelCidr="169.254.6.0/30", LocalBgpIp="169.254.6.1"),
     ["TunnelCidr"]),
    ("tunnel-cidr-reserved-169-252", lambda c: bgp_conn(c, TunnelCidr="169.254.169.252/30",
                                                        LocalBgpIp="169.254.169.253"), ["TunnelCidr"]),
    ("tunnel-cidr-outside-169-254", lambda c: bgp_conn(c, TunnelCidr="10.9.9.0/30", LocalBgpIp="10.9.9.1"),
     ["TunnelCidr"]),
    ("tunnel-cidr-taken-on-gateway", lambda c: bgp_conn(c, TunnelCidr="169.254.40.0/30", LocalBgpIp="169.254.40.2"),
     ["TunnelCidr"]),
    ("tunnel-cidr-same-on-both-tunnels", lambda c: dual_bgp(c, "169.254.51.0/30", "169.254.51.0/30"),
     ["TunnelCidr"]),
    ("local-bgp-ip-outside-cidr", lambda c: bgp_conn(c, TunnelCidr="169.254.52.0/30", LocalBgpIp="169.254.53.1"),
     ["LocalBgpIp"]),
    ("local-asn-0", lambda c: bgp_conn(c, LocalAsn=0, TunnelCidr="169.254.54.0/30", LocalBgpIp="169.254.54.1"),
     ["LocalAsn"]),
    ("bgp-cgw-without-asn", lambda c: ("CreateVpnConnection", single(c["gw"], c["cgw"], BgpConfig={
        "EnableBgp": True, "TunnelCidr": "169.254.55.0/30", "LocalBgpIp": "169.254.55.1"})), ["Asn"]),
    ("dual-one-tunnel-only", lambda c: ("CreateVpnConnection", {
        "VpnGatewayId": c["gw"], "LocalSubnet": "10.0.0.0/16", "RemoteSubnet": "192.168.0.0/24",
        "TunnelOptionsSpecification": [{"CustomerGatewayId": c["cgw"], "Role": "master"}]}),
     ["TunnelOptionsSpecification"]),
    ("dual-bgp-second-tunnel-unconfigured", lambda c: ("CreateVpnConnection", dual(
        c["gw"], c["cgw_asn"], c["cgw_asn2"], EnableTunnelsBgp=True,
        t1={"TunnelBgpConfig": {"TunnelCidr": "169.254.56.0/30", "LocalBgpIp": "169.254.56.1"}})),
     ["TunnelBgpConfig", "TunnelCidr"]),
    ("dual-bgp-different-local-asn", lambda c: ("CreateVpnConnection", dual(
        c["gw"], c["cgw_asn"], c["cgw_asn2"], EnableTunnelsBgp=True,
        t1={"TunnelBgpConfig": {"LocalAsn": 65100, "TunnelCidr": "169.254.57.0/30", "LocalBgpIp": "169.254.57.1"}},
        t2={"TunnelBgpConfig": {"LocalAsn": 65200, "TunnelCidr": "169.254.58.0/30", "LocalBgpIp": "169.254.58.1"}})),
     ["LocalAsn"]),
    ("dual-two-masters", lambda c: ("CreateVpnConnection", dual(c["gw"], c["cgw"], c["cgw_asn"],
                                                                t2={"Role": "master"})), ["Role"]),
    ("unknown-customer-gateway", lambda c: ("CreateVpnConnection", single(c["gw"], "cgw-doesnotexist0000")),
     ["CustomerGateway"]),
    ("unknown-vpn-gateway", lambda c: ("CreateVpnConnection", single("vpn-doesnotexist0000", c["cgw"])),
     ["VpnGateway"]),
    ("missing-vpn-gateway-id", lambda c: ("CreateVpnConnection", {
        "CustomerGatewayId": c["cgw"], "LocalSubnet": "10.0.0.0/16", "RemoteSubnet": "192.168.0.0/24"}),
     ["VpnGatewayId"]),
    ("cgw-asn-0", lambda c: cgw(c, Asn="0"), ["Asn"]),
    ("cgw-asn-too-big", lambda c: cgw(c, Asn="4294967296"), ["Asn"]),
    ("cgw-asdot-low-part-too-big", lambda c: cgw(c, Asn="1.65536"), ["Asn"]),
    ("cgw-asdot-three-parts", lambda c: cgw(c, Asn="1.2.3"), ["Asn"]),
    ("cgw-asn-45104-is-the-gateways", lambda c: cgw(c, Asn="45104"), ["Asn"]),
    ("cgw-bad-ip", lambda c: ("CreateCustomerGateway", {"IpAddress": "300.1.1.1"}), ["IpAddress"]),
    ("cgw-loopback-ip", lambda c: ("CreateCustomerGateway", {"IpAddress": "127.0.0.1"}), ["IpAddress"]),
    ("cgw-multicast-ip", lambda c: ("CreateCustomerGateway", {"IpAddress": "224.0.0.5"}), ["IpAddress"]),
    ("cgw-link-local-ip", lambda c: ("CreateCustomerGateway", {"IpAddress": "169.254.1.1"}), ["IpAddress"]),
    ("cgw-description-starts-with-url", lambda c: cgw(c, Description="http://example.com/dc"), ["Description"]),
    ("cgw-missing-ip", lambda c: ("CreateCustomerGateway", {"Name": "no-address"}), ["IpAddress"]),
    ("cgw-auth-key-space", lambda c: cgw(c, AuthKey="md5 key"), ["AuthKey"]),
    ("gateway-unknown-vpc", lambda c: ("CreateVpnGateway", {"VpcId": "vpc-nowhere"}), ["VpcId"]),
    ("gateway-unknown-zone", lambda c: ("CreateVpnGateway", {"VpcId": "vpc-local", "VSwitchId": "zone-z"}),
     ["VSwitchId"]),
    ("route-weight-50", lambda c: route(c, Weight=50), ["Weight"]),
    ("route-dest-not-cidr", lambda c: route(c, RouteDest="192.168.77.0/33"), ["RouteDest"]),
    ("route-unknown-next-hop", lambda c: route(c, NextHop="vco-doesnotexist0000"), ["NextHop", "VpnConnection"]),
    ("pbr-priority-101", lambda c: pbr(c, Priority=101), ["Priority"]),
    ("pbr-source-not-cidr", lambda c: pbr(c, RouteSource="10.0.0.999/24"), ["RouteSource"]),
]


def counts(api, gw):
    """How many connections the gateway has, customer gateways, gateways, routes and policy routes exist."""
    return (api("DescribeVpnConnections", VpnGatewayId=gw)["TotalCount"],
            api("DescribeCustomerGateways")["TotalCount"],
            api("DescribeVpnGateways")["TotalCount"],
            api("DescribeVpnRouteEntries", VpnGatewayId=gw)["TotalCount"],
            api("DescribeVpnPbrRouteEntries", VpnGatewayId=gw)["TotalCount"])


def test_enough_distinct_invalid_inputs():
    assert len({case_id for case_id, *_ in CASES}) == len(CASES) >= 25


@pytest.mark.parametrize("build,fields", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_input_is_refused_naming_the_field(api, ctx, build, fields):
    action, request = build(ctx)
    before = counts(api, ctx["gw"])
    err = api.fails(action, **request)
    assert 400 <= err.status_code < 500, (err.status_code, err.data)
    assert err.data.get("Code") and err.data.get("Message") and err.data.get("RequestId"), err.data
    assert any(error_names(err, f) for f in fields), f"error names none of {fields}: {err.data}"
    assert counts(api, ctx["gw"]) == before, "a refused request left a record behind"


@pytest.fixture(scope="module")
def mctx(server, api, ctx):
    """Resources to modify: two single-tunnel connections, a dual-tunnel one without BGP, a route, a policy route."""
    plain = api("CreateVpnConnection", **single(ctx["gw"], ctx["cgw"]))["VpnConnectionId"]
    other = api("CreateVpnConnection", **single(ctx["gw"], ctx["cgw_asn2"]))["VpnConnectionId"]
    pair = api("CreateVpnConnection", **dual(ctx["gw"], ctx["cgw_asn"], ctx["cgw_asn2"]))["VpnConnectionId"]
    t1 = tunnels(api("DescribeVpnConnection", VpnConnectionId=pair))[0]["TunnelId"]
    api("CreateVpnRouteEntry", VpnGatewayId=ctx["gw"], RouteDest="192.168.90.0/24", NextHop=plain, Weight=100,
        PublishVpc=False)
    api("CreateVpnPbrRouteEntry", VpnGatewayId=ctx["gw"], RouteSource="10.0.9.0/24", RouteDest="192.168.91.0/24",
        NextHop=plain, Weight=100, Priority=10, PublishVpc=False)
    return {**ctx, "plain": plain, "other": other, "pair": pair, "t1": t1}


def tunnel_mod(c, **spec):
    return ("ModifyTunnelAttribute", {"VpnConnectionId": c["pair"], "TunnelId": c["t1"],
                                      "TunnelOptionsSpecification": spec})


def conn_mod(c, which="plain", **fields):
    return ("ModifyVpnConnectionAttribute", {"VpnConnectionId": c[which], "Name": "must-not-stick",
                                             **{k: json.dumps(v) if isinstance(v, dict) else v
                                                for k, v in fields.items()}})


MODIFY_CASES = [
    ("mod-ike-lifetime-86401", lambda c: conn_mod(c, IkeConfig={"IkeLifetime": 86401}), ["IkeLifetime"]),
    ("mod-psk-space", lambda c: conn_mod(c, IkeConfig={"Psk": "a b"}), ["Psk"]),
    ("mod-ipsec-enc-unknown", lambda c: conn_mod(c, IpsecConfig={"IpsecEncAlg": "rc4"}), ["IpsecEncAlg"]),
    ("mod-two-cidrs-with-ikev1", lambda c: conn_mod(c, LocalSubnet="10.0.0.0/24,10.0.1.0/24"),
     ["LocalSubnet", "IkeVersion"]),
    ("mod-tunnel-cidr-taken-on-gateway", lambda c: conn_mod(c, "other", BgpConfig={
        "EnableBgp": True, "TunnelCidr": "169.254.40.0/30", "LocalBgpIp": "169.254.40.2"}), ["TunnelCidr"]),
    ("mod-bgp-cgw-without-asn", lambda c: conn_mod(c, BgpConfig={
        "EnableBgp": True, "TunnelCidr": "169.254.92.0/30", "LocalBgpIp": "169.254.92.1"}), ["Asn"]),
    ("tunnel-psk-101-chars", lambda c: tunnel_mod(c, TunnelIkeConfig={"Psk": "k" * 101}), ["Psk"]),
    ("tunnel-remote-id-space", lambda c: tunnel_mod(c, TunnelIkeConfig={"RemoteId": "a b"}), ["RemoteId"]),
    ("tunnel-customer-gateway-fixed-on-vpn-gateway", lambda c: tunnel_mod(c, CustomerGatewayId=c["cgw"]),
     ["CustomerGatewayId"]),
    ("tunnel-bgp-before-connection-bgp", lambda c: tunnel_mod(c, TunnelBgpConfig={
        "TunnelCidr": "169.254.93.0/30", "LocalBgpIp": "169.254.93.1"}), ["Bgp"]),
    ("tunnel-unknown-id", lambda c: ("ModifyTunnelAttribute", {
        "VpnConnectionId": c["pair"], "TunnelId": "tun-doesnotexist0000",
        "TunnelOptionsSpecification": {"EnableDpd": False}}), ["Tunnel"]),
    ("route-new-weight-50", lambda c: ("ModifyVpnRouteEntryWeight", {
        "VpnGatewayId": c["gw"], "RouteDest": "192.168.90.0/24", "NextHop": c["plain"], "Weight": 100,
        "NewWeight": 50}), ["Weight"]),
    ("pbr-new-priority-0", lambda c: ("ModifyVpnPbrRouteEntryPriority", {
        "VpnGatewayId": c["gw"], "RouteSource": "10.0.9.0/24", "RouteDest": "192.168.91.0/24",
        "NextHop": c["plain"], "Weight": 100, "Priority": 10, "NewPriority": 0}), ["Priority"]),
    ("cgw-auth-key-space", lambda c: ("ModifyCustomerGatewayAttribute", {
        "CustomerGatewayId": c["cgw"], "Name": "must-not-stick", "AuthKey": "md5 key"}), ["AuthKey"]),
]


def everything(api, c):
    """The configuration of every resource the modify cases touch, without negotiation state."""
    return [config_view(api(a, **k)) for a, k in (
        ("DescribeVpnConnection", {"VpnConnectionId": c["plain"]}),
        ("DescribeVpnConnection", {"VpnConnectionId": c["other"]}),
        ("DescribeVpnConnection", {"VpnConnectionId": c["pair"]}),
        ("DescribeCustomerGateway", {"CustomerGatewayId": c["cgw"]}),
        ("DescribeVpnRouteEntries", {"VpnGatewayId": c["gw"], "PageSize": 50}),
        ("DescribeVpnPbrRouteEntries", {"VpnGatewayId": c["gw"], "PageSize": 50}))]


@pytest.mark.parametrize("build,fields", [c[1:] for c in MODIFY_CASES], ids=[c[0] for c in MODIFY_CASES])
def test_invalid_modify_is_refused_and_changes_nothing(api, mctx, build, fields):
    action, request = build(mctx)
    before = everything(api, mctx)
    err = api.fails(action, **request)
    assert 400 <= err.status_code < 500, (err.status_code, err.data)
    assert any(error_names(err, f) for f in fields), f"error names none of {fields}: {err.data}"
    assert everything(api, mctx) == before, "a refused modify changed something"
