"""Connections to render (the JSON shape of strait-model's VpnConnection and CustomerGateway)."""

from __future__ import annotations

import copy

# Every printable character the API allows in a PSK, so quoting is exercised.
NASTY_PSK = "Fd~`!@#$%^&*()_-+={}[]\\|;:',.<>/?9"


def cgw(n: int, ip: str, asn: int | None) -> dict:
    g = {"CustomerGatewayId": f"cgw-test{n:016d}", "IpAddress": ip, "CreateTime": 0}
    if asn is not None:
        g["Asn"] = asn
    return g


def tunnel(index: int, cgw_id: str, cgw_ip: str, gw_ip: str, psk: str, *, version="ikev2", mode="main",
           enc="aes", auth="sha1", dh="group14", pfs="group14", bgp_octet: int | None = None) -> dict:
    bgp = {"EnableBgp": False, "LocalAsn": 65531}
    if bgp_octet is not None:
        bgp = {"EnableBgp": True, "LocalAsn": 65531, "TunnelCidr": f"169.254.{bgp_octet}.0/30",
               "LocalBgpIp": f"169.254.{bgp_octet}.1"}
    return {
        "TunnelId": f"tun-test{index:016d}", "TunnelIndex": index, "Role": "master" if index == 1 else "slave",
        "CustomerGatewayId": cgw_id, "InternetIp": gw_ip, "ZoneNo": f"zone-{index}",
        "EnableDpd": True, "EnableNatTraversal": True,
        "TunnelIkeConfig": {"Psk": psk, "IkeVersion": version, "IkeMode": mode, "IkeEncAlg": enc,
                            "IkeAuthAlg": auth, "IkePfs": dh, "IkeLifetime": 86400,
                            "LocalId": gw_ip, "RemoteId": cgw_ip},
        "TunnelIpsecConfig": {"IpsecEncAlg": enc, "IpsecAuthAlg": auth, "IpsecPfs": pfs, "IpsecLifetime": 3600},
        "TunnelBgpConfig": bgp,
    }


def connection(cid: str, local: str, remote: str, tunnels: list[dict]) -> dict:
    return {
        "VpnConnectionId": cid, "AttachType": "CEN", "LocalSubnet": local, "RemoteSubnet": remote,
        "EffectImmediately": True, "AutoConfigRoute": True, "NetworkType": "public",
        "VcoHealthCheck": {"Enable": False, "Interval": 3, "Retry": 3, "Policy": "revoke_route"},
        "TunnelOptions": tunnels, "CreateTime": 0,
    }


def seed003(k: int) -> dict:
    """Seed 003's connection k (1..3): group14 both phases, BGP 65531/65530 on 169.254.(9+k).0/30."""
    gw = {1: "203.0.113.191", 2: "203.0.113.213", 3: "203.0.113.161"}[k]
    g = cgw(k, f"198.51.100.{k}", 65530)
    psk = {1: "fddsFF123****", 2: "fddsFF456****", 3: "fddsFF789****"}[k]
    t = tunnel(1, g["CustomerGatewayId"], g["IpAddress"], gw, psk, bgp_octet=9 + k)
    return {"Connection": connection(f"vco-seed003{k:013d}", "0.0.0.0/0", "0.0.0.0/0", [t]),
            "CustomerGateways": [g]}


def dual() -> dict:
    """A policy-based dual-tunnel connection on one device with two addresses."""
    g1, g2 = cgw(11, "198.51.100.11", None), cgw(12, "198.51.100.12", None)
    t1 = tunnel(1, g1["CustomerGatewayId"], g1["IpAddress"], "203.0.113.1", "master-key-1")
    t2 = tunnel(2, g2["CustomerGatewayId"], g2["IpAddress"], "203.0.113.2", "slave-key-2")
    return {"Connection": connection("vco-dual00000000000001", "10.0.0.0/16", "192.168.0.0/24,192.168.1.0/24",
                                     [t1, t2]),
            "CustomerGateways": [g1, g2]}


def aggressive_fqdn() -> dict:
    """IKEv1 aggressive mode, an FQDN for the device, no PFS, the every-character PSK."""
    g = cgw(21, "198.51.100.21", None)
    t = tunnel(1, g["CustomerGatewayId"], "dc1.example.com", "203.0.113.21", NASTY_PSK,
               version="ikev1", mode="aggressive", pfs="disabled", enc="aes256", auth="sha256")
    return {"Connection": connection("vco-aggr00000000000001", "10.1.0.0/16", "192.168.21.0/24", [t]),
            "CustomerGateways": [g]}


def gcm_ecp() -> dict:
    """IKEv2 with AES-GCM and ECP-256 in both phases, two networks on each side."""
    g = cgw(31, "198.51.100.31", None)
    t = tunnel(1, g["CustomerGatewayId"], g["IpAddress"], "203.0.113.31", NASTY_PSK,
               enc="aes256gcm16", auth="sha384", dh="group19", pfs="group19")
    return {"Connection": connection("vco-gcm000000000000001", "10.2.0.0/16,10.3.0.0/16",
                                     "192.168.31.0/24,192.168.32.0/24", [t]),
            "CustomerGateways": [g]}


def defaults() -> dict:
    """A single-tunnel connection on the cloud's defaults: IKEv1 main mode, aes/sha1, group2 in both phases."""
    g = cgw(41, "198.51.100.41", None)
    t = tunnel(1, g["CustomerGatewayId"], g["IpAddress"], "203.0.113.41", "default-key",
               version="ikev1", dh="group2", pfs="group2")
    t["EnableDpd"] = t["EnableNatTraversal"] = False
    return {"Connection": connection("vco-defaults000000000001", "10.4.0.0/16", "192.168.41.0/24", [t]),
            "CustomerGateways": [g]}


ENC = ["aes", "aes192", "aes256", "des", "3des", "aes128gcm16", "aes256gcm16"]
AUTH = ["md5", "sha1", "sha256", "sha384", "sha512"]
DH = ["group1", "group2", "group5", "group14", "group19", "group31"]


def sweep() -> list[tuple[str, dict]]:
    """One connection per (IKE version, setting, value): every algorithm the API accepts, one at a time,
    on an aes/sha1/group14 baseline."""
    out = []
    for version in ("ikev1", "ikev2"):
        for section, key, values in (("TunnelIkeConfig", "IkeEncAlg", ENC), ("TunnelIkeConfig", "IkeAuthAlg", AUTH),
                                     ("TunnelIkeConfig", "IkePfs", DH), ("TunnelIpsecConfig", "IpsecEncAlg", ENC),
                                     ("TunnelIpsecConfig", "IpsecAuthAlg", AUTH),
                                     ("TunnelIpsecConfig", "IpsecPfs", DH + ["disabled"])):
            for value in values:
                case = aggressive_fqdn()
                t = case["Connection"]["TunnelOptions"][0]
                t["TunnelIkeConfig"].update(IkeVersion=version, IkeMode="main", IkeEncAlg="aes", IkeAuthAlg="sha1")
                t["TunnelIpsecConfig"].update(IpsecEncAlg="aes", IpsecAuthAlg="sha1", IpsecPfs="group14")
                t[section][key] = value
                out.append((f"{version}-{key}-{value}", case))
    return out


CASES = {
    "seed003-1": lambda: seed003(1),
    "seed003-2": lambda: seed003(2),
    "seed003-3": lambda: seed003(3),
    "dual": dual,
    "ikev1-aggressive-fqdn": aggressive_fqdn,
    "gcm-ecp256": gcm_ecp,
    "defaults": defaults,
}


def build(name: str) -> dict:
    return copy.deepcopy(CASES[name]())
