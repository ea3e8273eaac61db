"""Create, describe, modify and delete every resource of issue #3 through the official SDK."""

import json

from api_builders import (IPSEC_DEFAULTS, PSK_CHARS, SINGLE_IKE_DEFAULTS, assert_fields, assert_not_found,
                          config_view, dual, make_cgw, make_gateway, single, tunnels)


def ids(items, key):
    return {i[key] for i in items}


def test_vpn_gateway_lifecycle(api):
    gw = make_gateway(api, Name="gw-one")
    assert gw.startswith("vpn-")
    body = api("DescribeVpnGateway", VpnGatewayId=gw)
    # Default zones: the first for InternetIp, the second for the disaster-recovery address.
    assert_fields(body, {"VpnGatewayId": gw, "Name": "gw-one", "VpcId": "vpc-local", "Status": "active",
                         "InternetIp": "203.0.113.1", "DisasterRecoveryInternetIp": "203.0.113.2"})

    swapped = make_gateway(api, Name="gw-two", VSwitchId="zone-b", DisasterRecoveryVSwitchId="zone-a")
    assert_fields(api("DescribeVpnGateway", VpnGatewayId=swapped),
                  {"InternetIp": "203.0.113.2", "DisasterRecoveryInternetIp": "203.0.113.1"})

    api("ModifyVpnGatewayAttribute", VpnGatewayId=gw, Name="gw-renamed", Description="edge of site one")
    assert_fields(api("DescribeVpnGateway", VpnGatewayId=gw), {"Name": "gw-renamed", "Description": "edge of site one",
                                                                "InternetIp": "203.0.113.1"})

    listed = api("DescribeVpnGateways", PageSize=50)["VpnGateways"]["VpnGateway"]
    assert {gw, swapped} <= ids(listed, "VpnGatewayId")

    api("DeleteVpnGateway", VpnGatewayId=gw)
    assert_not_found(api.fails("DescribeVpnGateway", VpnGatewayId=gw))
    assert gw not in ids(api("DescribeVpnGateways", PageSize=50)["VpnGateways"]["VpnGateway"], "VpnGatewayId")


def test_customer_gateway_lifecycle(server, api):
    cgw, ip = make_cgw(server, api, Asn="65530", Name="dc-edge", Description="rack 4")
    assert cgw.startswith("cgw-")
    assert_fields(api("DescribeCustomerGateway", CustomerGatewayId=cgw),
                  {"CustomerGatewayId": cgw, "IpAddress": ip, "Asn": 65530, "Name": "dc-edge",
                   "Description": "rack 4"})

    # asdot: 1.10 = 1 * 65536 + 10
    dotted, _ = make_cgw(server, api, Asn="1.10")
    assert_fields(api("DescribeCustomerGateway", CustomerGatewayId=dotted), {"Asn": 65546})

    api("ModifyCustomerGatewayAttribute", CustomerGatewayId=cgw, Name="dc-edge-2", Description="rack 5")
    assert_fields(api("DescribeCustomerGateway", CustomerGatewayId=cgw),
                  {"Name": "dc-edge-2", "Description": "rack 5", "IpAddress": ip, "Asn": 65530})

    listed = api("DescribeCustomerGateways", PageSize=50)["CustomerGateways"]["CustomerGateway"]
    assert {cgw, dotted} <= ids(listed, "CustomerGatewayId")

    api("DeleteCustomerGateway", CustomerGatewayId=cgw)
    assert_not_found(api.fails("DescribeCustomerGateway", CustomerGatewayId=cgw))
    assert cgw not in ids(api("DescribeCustomerGateways", PageSize=50)["CustomerGateways"]["CustomerGateway"],
                         "CustomerGatewayId")


def test_single_tunnel_defaults(server, api):
    gw = make_gateway(api)
    cgw, ip = make_cgw(server, api)
    created = api("CreateVpnConnection", **single(gw, cgw, Name="plain"))
    vco = created["VpnConnectionId"]
    assert vco.startswith("vco-") and created["Name"] == "plain"

    body = api("DescribeVpnConnection", VpnConnectionId=vco)
    assert_fields(body, {"VpnConnectionId": vco, "VpnGatewayId": gw, "CustomerGatewayId": cgw, "Name": "plain",
                         "LocalSubnet": "10.0.0.0/16", "RemoteSubnet": "192.168.0.0/24",
                         "EffectImmediately": False, "EnableDpd": False, "EnableNatTraversal": False})
    # Spec §2: the seeds' defaults win over the SDK comments (sha1, not md5).
    assert_fields(body["IkeConfig"], {**SINGLE_IKE_DEFAULTS, "LocalId": "203.0.113.1", "RemoteId": ip}, "IkeConfig")
    assert_fields(body["IpsecConfig"], IPSEC_DEFAULTS, "IpsecConfig")
    assert_fields(body.get("VpnBgpConfig") or {"EnableBgp": "false"}, {"EnableBgp": "false"}, "VpnBgpConfig")
    # Health check: off, retry interval 3 s, 3 retries.
    assert_fields(body["VcoHealthCheck"], {"Enable": "false", "Interval": 3, "Retry": 3}, "VcoHealthCheck")
    psk = body["IkeConfig"]["Psk"]
    assert len(psk) == 16 and PSK_CHARS.match(psk), psk

    # The generated key is random, not a constant: a second connection gets another one.
    other = api("CreateVpnConnection", **single(gw, make_cgw(server, api)[0]))["VpnConnectionId"]
    assert api("DescribeVpnConnection", VpnConnectionId=other)["IkeConfig"]["Psk"] != psk


def test_single_tunnel_every_field_round_trips(server, api):
    gw = make_gateway(api)
    cgw, _ = make_cgw(server, api, Asn="65001")
    ike = {"Psk": "s3cr3t!@#$%^&*()_-+={}[]|;:',.<>/?~`", "IkeVersion": "ikev2", "IkeEncAlg": "aes256",
           "IkeAuthAlg": "sha256", "IkePfs": "group14", "IkeLifetime": 3600, "LocalId": "gw.example.net",
           "RemoteId": "dc.example.net"}
    ipsec = {"IpsecEncAlg": "aes192", "IpsecAuthAlg": "sha512", "IpsecPfs": "disabled", "IpsecLifetime": 1800}
    bgp = {"EnableBgp": True, "LocalAsn": 65100, "TunnelCidr": "169.254.20.0/30", "LocalBgpIp": "169.254.20.1"}
    health = {"enable": True, "dip": "192.168.0.10", "sip": "10.0.0.10", "interval": 5, "retry": 4}
    vco = api("CreateVpnConnection", **single(
        gw, cgw, Name="everything", LocalSubnet="10.0.0.0/16,10.1.0.0/16", RemoteSubnet="192.168.0.0/24",
        EffectImmediately=True, EnableDpd=True, EnableNatTraversal=True, IkeConfig=ike, IpsecConfig=ipsec,
        BgpConfig=bgp, HealthCheckConfig=health))["VpnConnectionId"]

    body = api("DescribeVpnConnection", VpnConnectionId=vco)
    assert_fields(body, {"Name": "everything", "LocalSubnet": "10.0.0.0/16,10.1.0.0/16", "EffectImmediately": True,
                         "EnableDpd": True, "EnableNatTraversal": True})
    assert_fields(body["IkeConfig"], ike, "IkeConfig")
    assert_fields(body["IpsecConfig"], ipsec, "IpsecConfig")
    assert_fields(body["VpnBgpConfig"], {"EnableBgp": "true", "LocalAsn": 65100, "TunnelCidr": "169.254.20.0/30",
                                         "LocalBgpIp": "169.254.20.1", "PeerAsn": 65001}, "VpnBgpConfig")
    assert_fields(body["VcoHealthCheck"], {"Enable": "true", "Dip": "192.168.0.10", "Sip": "10.0.0.10",
                                           "Interval": 5, "Retry": 4}, "VcoHealthCheck")


def test_boundary_values_are_accepted(server, api):
    gw = make_gateway(api)
    top, _ = make_cgw(server, api, Asn="4294967295")
    dotted_top, _ = make_cgw(server, api, Asn="65535.65535")
    for cgw in (top, dotted_top):
        assert_fields(api("DescribeCustomerGateway", CustomerGatewayId=cgw), {"Asn": 4294967295})
    psk = ("Ab1~`!@#$%^&*()_-+={}[]\\|;:',.<>/?\"" * 4)[:100]
    made = []
    for cgw, cidr, bgp_ip, lifetime in ((top, "169.254.7.0/30", "169.254.7.2", 0),
                                        (dotted_top, "169.254.169.248/30", "169.254.169.249", 86400)):
        made.append((api("CreateVpnConnection", **single(
            gw, cgw, IkeConfig={"Psk": psk, "IkeLifetime": lifetime}, IpsecConfig={"IpsecLifetime": lifetime},
            BgpConfig={"EnableBgp": True, "LocalAsn": 4294967294, "TunnelCidr": cidr, "LocalBgpIp": bgp_ip}))[
            "VpnConnectionId"], cidr, lifetime))
    for vco, cidr, lifetime in made:
        body = api("DescribeVpnConnection", VpnConnectionId=vco)
        assert_fields(body["IkeConfig"], {"Psk": psk, "IkeLifetime": lifetime}, "IkeConfig")
        assert_fields(body["IpsecConfig"], {"IpsecLifetime": lifetime}, "IpsecConfig")
        assert_fields(body["VpnBgpConfig"], {"TunnelCidr": cidr, "LocalAsn": 4294967294,
                                             "PeerAsn": 4294967295}, "VpnBgpConfig")


def test_bgp_local_asn_defaults_to_45104_and_accepts_asdot(server, api):
    gw = make_gateway(api)
    made = []
    for n, local_asn in enumerate((None, "123.456")):
        cgw, _ = make_cgw(server, api, Asn="65530")
        bgp = {"EnableBgp": True, "TunnelCidr": f"169.254.{60 + n}.0/30", "LocalBgpIp": f"169.254.{60 + n}.1"}
        if local_asn:
            bgp["LocalAsn"] = local_asn
        made.append(api("CreateVpnConnection", **single(gw, cgw, BgpConfig=bgp))["VpnConnectionId"])
    for vco, expected in zip(made, (45104, 123 * 65536 + 456)):
        assert_fields(api("DescribeVpnConnection", VpnConnectionId=vco)["VpnBgpConfig"],
                      {"EnableBgp": "true", "LocalAsn": expected, "PeerAsn": 65530}, "VpnBgpConfig")


def test_modify_single_tunnel_keeps_what_was_not_sent(server, api):
    gw = make_gateway(api)
    cgw, _ = make_cgw(server, api)
    vco = api("CreateVpnConnection", **single(gw, cgw, IkeConfig={"Psk": "first-key", "IkeEncAlg": "aes256"}))[
        "VpnConnectionId"]

    api("ModifyVpnConnectionAttribute", VpnConnectionId=vco, Name="renamed", RemoteSubnet="192.168.5.0/24")
    body = api("DescribeVpnConnection", VpnConnectionId=vco)
    assert_fields(body, {"Name": "renamed", "RemoteSubnet": "192.168.5.0/24", "LocalSubnet": "10.0.0.0/16"})
    assert_fields(body["IkeConfig"], {"Psk": "first-key", "IkeEncAlg": "aes256"}, "IkeConfig after rename")

    api("ModifyVpnConnectionAttribute", VpnConnectionId=vco,
        IkeConfig=json.dumps({"Psk": "second-key", "IkePfs": "group14"}),
        IpsecConfig=json.dumps({"IpsecPfs": "group5", "IpsecLifetime": 600}), EnableDpd=True)
    body = api("DescribeVpnConnection", VpnConnectionId=vco)
    assert_fields(body, {"Name": "renamed", "EnableDpd": True})
    assert_fields(body["IkeConfig"], {"Psk": "second-key", "IkePfs": "group14"}, "IkeConfig after modify")
    assert_fields(body["IpsecConfig"], {"IpsecPfs": "group5", "IpsecLifetime": 600}, "IpsecConfig after modify")


def test_dual_tunnel_defaults(server, api):
    gw = make_gateway(api)
    cgw1, ip1 = make_cgw(server, api)
    cgw2, ip2 = make_cgw(server, api)
    vco = api("CreateVpnConnection", **dual(gw, cgw1, cgw2, t1={"TunnelIkeConfig": {"Psk": "tunnel-one-key"}},
                                            Name="pair"))["VpnConnectionId"]
    body = api("DescribeVpnConnection", VpnConnectionId=vco)
    # Spec §2: dual-tunnel mode negotiates at once, and has DPD and NAT-T on.
    assert_fields(body, {"Name": "pair", "EffectImmediately": True})
    t1, t2 = tunnels(body)
    assert t1["TunnelId"].startswith("tun-") and t2["TunnelId"].startswith("tun-") and t1["TunnelId"] != t2["TunnelId"]
    # The two tunnels terminate in the two zones.
    assert_fields(t1, {"Role": "master", "CustomerGatewayId": cgw1, "InternetIp": "203.0.113.1",
                       "EnableDpd": True, "EnableNatTraversal": True}, "tunnel 1")
    assert_fields(t2, {"Role": "slave", "CustomerGatewayId": cgw2, "InternetIp": "203.0.113.2",
                       "EnableDpd": True, "EnableNatTraversal": True}, "tunnel 2")
    dual_ike = {**SINGLE_IKE_DEFAULTS, "IkeVersion": "ikev2"}
    dual_ike.pop("IkeMode")
    assert_fields(t1["TunnelIkeConfig"], {**dual_ike, "Psk": "tunnel-one-key", "LocalId": "203.0.113.1",
                                          "RemoteId": ip1}, "tunnel 1 IKE")
    assert_fields(t2["TunnelIkeConfig"], {**dual_ike, "LocalId": "203.0.113.2", "RemoteId": ip2}, "tunnel 2 IKE")
    psk2 = t2["TunnelIkeConfig"]["Psk"]
    assert len(psk2) == 16 and PSK_CHARS.match(psk2), psk2
    assert_fields(t1["TunnelIpsecConfig"], IPSEC_DEFAULTS, "tunnel 1 IPsec")
    assert_fields(t2["TunnelIpsecConfig"], IPSEC_DEFAULTS, "tunnel 2 IPsec")


def test_dual_tunnel_bgp_and_modify_tunnel(server, api):
    gw = make_gateway(api)
    cgw1, _ = make_cgw(server, api, Asn="65010")
    cgw2, _ = make_cgw(server, api, Asn="65020")
    vco = api("CreateVpnConnection", **dual(
        gw, cgw1, cgw2, EnableTunnelsBgp=True,
        t1={"TunnelBgpConfig": {"LocalAsn": 65200, "TunnelCidr": "169.254.30.0/30", "LocalBgpIp": "169.254.30.1"},
            "TunnelIpsecConfig": {"IpsecPfs": "group14"}},
        t2={"TunnelBgpConfig": {"LocalAsn": 65200, "TunnelCidr": "169.254.31.0/30", "LocalBgpIp": "169.254.31.1"},
            "TunnelIkeConfig": {"IkeVersion": "ikev1", "IkeMode": "aggressive", "Psk": "two"}}))["VpnConnectionId"]
    body = api("DescribeVpnConnection", VpnConnectionId=vco)
    assert_fields(body, {"EnableTunnelsBgp": True})
    t1, t2 = tunnels(body)
    assert_fields(t1["TunnelBgpConfig"], {"LocalAsn": 65200, "TunnelCidr": "169.254.30.0/30",
                                          "LocalBgpIp": "169.254.30.1", "PeerAsn": 65010}, "tunnel 1 BGP")
    assert_fields(t2["TunnelBgpConfig"], {"LocalAsn": 65200, "TunnelCidr": "169.254.31.0/30",
                                          "LocalBgpIp": "169.254.31.1", "PeerAsn": 65020}, "tunnel 2 BGP")
    assert_fields(t1["TunnelIpsecConfig"], {"IpsecPfs": "group14"}, "tunnel 1 IPsec")
    assert_fields(t2["TunnelIkeConfig"], {"IkeVersion": "ikev1", "IkeMode": "aggressive", "Psk": "two"}, "tunnel 2")

    api("ModifyTunnelAttribute", VpnConnectionId=vco, TunnelId=t2["TunnelId"], TunnelOptionsSpecification={
        "TunnelIkeConfig": {"Psk": "two-rotated", "IkeEncAlg": "aes256"},
        "TunnelIpsecConfig": {"IpsecAuthAlg": "sha256"}, "EnableDpd": False})
    n1, n2 = tunnels(api("DescribeVpnConnection", VpnConnectionId=vco))
    assert_fields(n2["TunnelIkeConfig"], {"Psk": "two-rotated", "IkeEncAlg": "aes256", "IkeMode": "aggressive"},
                  "tunnel 2 IKE after modify")
    assert_fields(n2["TunnelIpsecConfig"], {"IpsecAuthAlg": "sha256"}, "tunnel 2 IPsec after modify")
    assert_fields(n2, {"EnableDpd": False}, "tunnel 2 after modify")
    assert config_view(n1) == config_view(t1), "ModifyTunnelAttribute on tunnel 2 changed tunnel 1"


def test_delete_connection_then_its_gateways(server, api):
    gw = make_gateway(api)
    cgw, _ = make_cgw(server, api)
    vco = api("CreateVpnConnection", **single(gw, cgw))["VpnConnectionId"]
    api("DeleteVpnConnection", VpnConnectionId=vco)
    assert_not_found(api.fails("DescribeVpnConnection", VpnConnectionId=vco))
    listed = api("DescribeVpnConnections", VpnGatewayId=gw)["VpnConnections"]["VpnConnection"]
    assert vco not in ids(listed, "VpnConnectionId")
    api("DeleteCustomerGateway", CustomerGatewayId=cgw)
    api("DeleteVpnGateway", VpnGatewayId=gw)
    assert_not_found(api.fails("DescribeVpnGateway", VpnGatewayId=gw))


def test_customer_gateway_in_use_is_not_deleted(server, api):
    gw = make_gateway(api)
    cgw, ip = make_cgw(server, api)
    vco = api("CreateVpnConnection", **single(gw, cgw))["VpnConnectionId"]
    err = api.fails("DeleteCustomerGateway", CustomerGatewayId=cgw)
    assert 400 <= err.status_code < 500, err.data
    assert_fields(api("DescribeCustomerGateway", CustomerGatewayId=cgw), {"IpAddress": ip})
    assert_fields(api("DescribeVpnConnection", VpnConnectionId=vco), {"CustomerGatewayId": cgw})


def test_seed_003_set_reads_back_exactly(server, api):
    gw = make_gateway(api, Name="seed-003")
    made = []
    for n in range(3):
        ip = f"198.51.100.{n + 1}"
        cgw, _ = make_cgw(server, api, IpAddress=ip, Asn="65530", Name=f"dc-{n + 1}")
        vco = api("CreateVpnConnection", **single(
            gw, cgw, Name=f"ecmp-{n + 1}", LocalSubnet="0.0.0.0/0", RemoteSubnet="0.0.0.0/0",
            IkeConfig={"IkePfs": "group14"}, IpsecConfig={"IpsecPfs": "group14"},
            BgpConfig={"EnableBgp": True, "LocalAsn": 65531, "TunnelCidr": f"169.254.{10 + n}.0/30",
                       "LocalBgpIp": f"169.254.{10 + n}.1"}))["VpnConnectionId"]
        made.append((n, ip, cgw, vco))

    for n, ip, cgw, vco in made:
        assert_fields(api("DescribeCustomerGateway", CustomerGatewayId=cgw),
                      {"IpAddress": ip, "Asn": 65530, "Name": f"dc-{n + 1}"})
        body = api("DescribeVpnConnection", VpnConnectionId=vco)
        assert_fields(body, {"Name": f"ecmp-{n + 1}", "VpnGatewayId": gw, "CustomerGatewayId": cgw,
                             "LocalSubnet": "0.0.0.0/0", "RemoteSubnet": "0.0.0.0/0"})
        assert_fields(body["IkeConfig"], {**SINGLE_IKE_DEFAULTS, "IkePfs": "group14", "RemoteId": ip}, "IkeConfig")
        assert_fields(body["IpsecConfig"], {**IPSEC_DEFAULTS, "IpsecPfs": "group14"}, "IpsecConfig")
        assert_fields(body["VpnBgpConfig"], {"EnableBgp": "true", "LocalAsn": 65531, "PeerAsn": 65530,
                                             "TunnelCidr": f"169.254.{10 + n}.0/30",
                                             "LocalBgpIp": f"169.254.{10 + n}.1"}, "VpnBgpConfig")

    listed = api("DescribeVpnConnections", VpnGatewayId=gw)
    assert ids(listed["VpnConnections"]["VpnConnection"], "VpnConnectionId") == {vco for *_, vco in made}


def test_modify_dual_tunnel_connection_by_tunnel_id(server, api):
    gw = make_gateway(api)
    cgw1, _ = make_cgw(server, api)
    cgw2, _ = make_cgw(server, api)
    vco = api("CreateVpnConnection", **dual(gw, cgw1, cgw2, Name="pair-before"))["VpnConnectionId"]
    t1, t2 = tunnels(api("DescribeVpnConnection", VpnConnectionId=vco))

    echoed = api("ModifyVpnConnectionAttribute", VpnConnectionId=vco, Name="pair-after", TunnelOptionsSpecification=[
        {"TunnelId": t1["TunnelId"], "TunnelIkeConfig": {"Psk": "master-key", "IkePfs": "group14"}},
        {"TunnelId": t2["TunnelId"], "TunnelIpsecConfig": {"IpsecEncAlg": "aes256"}}])
    # The response echoes the full connection.
    assert_fields(echoed, {"VpnConnectionId": vco, "Name": "pair-after"}, "modify response")

    body = api("DescribeVpnConnection", VpnConnectionId=vco)
    assert_fields(body, {"Name": "pair-after"})
    n1, n2 = tunnels(body)
    assert (n1["TunnelId"], n2["TunnelId"]) == (t1["TunnelId"], t2["TunnelId"])
    assert_fields(n1["TunnelIkeConfig"], {"Psk": "master-key", "IkePfs": "group14", "IkeVersion": "ikev2"}, "tunnel 1")
    assert_fields(n2["TunnelIpsecConfig"], {"IpsecEncAlg": "aes256", "IpsecPfs": "group2"}, "tunnel 2 IPsec")
    assert n2["TunnelIkeConfig"] == t2["TunnelIkeConfig"], "tunnel 2 IKE changed though not sent"
