"""The strongSwan configuration Strait renders loads into a real charon and brings tunnels up against a
strongSwan built from the DownloadVpnConnectionConfig body; the libreswan one passes libreswan's parsers."""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import subprocess
from pathlib import Path

import pytest

from helpers.netns import REPO, Topology, sh, wait_until
from peer_config.cases import CASES, build, sweep

RENDER = REPO / "target" / "release" / "examples" / "render"
# libreswan cannot be installed beside strongSwan (it conflicts with strongswan-libcharon), so
# scripts/install-deps.sh unpacks its package here just for its configuration parsers.
LIBRESWAN = Path("/opt/libreswan-parser/usr/libexec/ipsec")


def render_raw(case: dict, device: str) -> subprocess.CompletedProcess:
    """Runs the crate's example renderer for a device (or `standard`); the caller judges the outcome."""
    return subprocess.run([str(RENDER), device], input=json.dumps(case), capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="session")
def render():
    """Renders a case for a device (or `standard`), failing the test if rendering fails."""
    sh(["cargo", "build", "--release", "--locked", "-p", "strait-peer-config", "--example", "render"],
       timeout=900, cwd=REPO)

    def run(case: dict, device: str) -> str:
        r = render_raw(case, device)
        assert r.returncode == 0, f"render {device} failed: {r.stderr}"
        return r.stdout

    return run


def strongswan_conf(d: Path) -> str:
    # Routes are not the point here (and 0.0.0.0/0 selectors would capture IKE itself); kernel-libipsec
    # still routes narrowed selectors to its TUN, from an address inside the local selector.
    return f"""charon {{
  install_routes = no
  i_dont_care_about_security_and_use_aggressive_mode_psk = yes
  load = random nonce aes sha1 sha2 md5 hmac gmp gcm pem pkcs1 x509 pubkey kdf openssl kernel-libipsec kernel-netlink socket-default vici updown
  plugins {{
    vici {{
      socket = unix://{d}/charon.vici
    }}
  }}
  filelog {{
    f {{
      path = {d}/charon.log
      default = 1
      ike = 2
    }}
  }}
}}
swanctl {{
  socket = unix://{d}/charon.vici
}}
"""


class Charon:
    """One charon in its own namespace (and mount namespace, for /run/charon.pid)."""

    def __init__(self, topo: Topology, ns: str, d: Path):
        self.topo, self.ns, self.d = topo, ns, d
        d.mkdir(parents=True, exist_ok=True)
        (d / "strongswan.conf").write_text(strongswan_conf(d))
        topo.spawn(ns, f"unshare -m sh -c 'mount -t tmpfs tmpfs /run && exec /usr/lib/ipsec/charon'",
                   log=d / "charon.out", env={"STRONGSWAN_CONF": str(d / "strongswan.conf")})
        wait_until(lambda: (d / "charon.vici").exists(), 15, what=f"charon vici socket in {ns}")

    def swanctl(self, args: str, check: bool = True) -> str:
        r = self.topo.run(self.ns, f"STRONGSWAN_CONF={self.d}/strongswan.conf swanctl {args}", check=check)
        return r.stdout + r.stderr

    def load(self, text: str) -> str:
        f = self.d / "swanctl.conf"
        f.write_text(text)
        return self.swanctl(f"--load-all --file {f}")


def connection_names(text: str) -> list[str]:
    """The connection sections of a rendered swanctl.conf (the four-space-indented `name {` lines)."""
    return re.findall(r"^    (\S+) \{$", text.split("secrets {")[0], re.M)


@pytest.mark.parametrize("name", list(CASES))
def test_strongswan_config_loads_into_charon_as_is(topo, tmp_path, render, name):
    case = build(name)
    text = render(case, "strongswan")
    ns = topo.ns("peer")
    charon = Charon(topo, ns, tmp_path / "peer")
    out = charon.load(text)
    conns = connection_names(text)
    assert len(conns) == len(case["Connection"]["TunnelOptions"]), text
    for c in conns:
        assert f"loaded connection '{c}'" in out, out
        assert f"loaded ike secret 'ike-{c}'" in out, out
    assert f"successfully loaded {len(conns)} connections, 0 unloaded" in out, out
    # swanctl also reports its own plugins and credential directories it does not find; skip those.
    own = [ln for ln in out.splitlines() if not ln.startswith(("plugin '", "opening directory"))]
    assert not [ln for ln in own if "failed" in ln.lower() or "error" in ln.lower()], out
    listed = charon.swanctl("--list-conns")
    for c in conns:
        assert f"{c}: IKEv" in listed, listed


# strongSwan names for the API's algorithm names: the gateway side of the handshake below is built
# from the standard body with this table, independently of the Rust renderer's tables.
SWAN = {"aes": "aes128", "aes192": "aes192", "aes256": "aes256", "3des": "3des", "des": "des",
        "aes128gcm16": "aes128gcm16", "aes256gcm16": "aes256gcm16", "md5": "md5", "sha1": "sha1",
        "sha256": "sha256", "sha384": "sha384", "sha512": "sha512", "group1": "modp768",
        "group2": "modp1024", "group5": "modp1536", "group14": "modp2048", "group19": "ecp256"}


def gateway_side(body: dict) -> str:
    """A responder-only swanctl.conf for Strait's side, built from the DownloadVpnConnectionConfig body."""
    tunnels = body.get("TunnelsConfig", {}).get("TunnelConfig") or [
        {"TunnelId": "single", "Local": body["Local"], "Remote": body["Remote"],
         "IkeConfig": body["IkeConfig"], "IpsecConfig": body["IpsecConfig"]}]
    conns, secrets = [], []
    for i, t in enumerate(tunnels):
        ike, esp = t["IkeConfig"], t["IpsecConfig"]
        aead = ike["IkeEncAlg"].endswith("gcm16")
        prop = f"{SWAN[ike['IkeEncAlg']]}-{'prf' if aead else ''}{SWAN[ike['IkeAuthAlg']]}-{SWAN[ike['IkePfs']]}"
        esp_parts = [SWAN[esp["IpsecEncAlg"]]]
        if not esp["IpsecEncAlg"].endswith("gcm16"):
            esp_parts.append(SWAN[esp["IpsecAuthAlg"]])
        if esp["IpsecPfs"] != "disabled":
            esp_parts.append(SWAN[esp["IpsecPfs"]])
        aggressive = "yes" if ike["IkeMode"] == "aggressive" and ike["IkeVersion"] == "ikev1" else "no"
        conns.append(f"""    gw{i} {{
        version = {ike['IkeVersion'][-1]}
        aggressive = {aggressive}
        local_addrs = {t['Remote']}
        remote_addrs = {t['Local']}
        proposals = {prop}
        local {{
            auth = psk
            id = {ike['RemoteId']}
        }}
        remote {{
            auth = psk
            id = {ike['LocalId']}
        }}
        children {{
            gw{i} {{
                local_ts = {body['RemoteSubnet']}
                remote_ts = {body['LocalSubnet']}
                esp_proposals = {'-'.join(esp_parts)}
            }}
        }}
    }}""")
        psk = base64.b64encode(ike["Psk"].encode()).decode()
        secrets.append(f"""    ike-gw{i} {{
        id-1 = {ike['RemoteId']}
        id-2 = {ike['LocalId']}
        secret = 0s{psk}
    }}""")
    return "connections {\n" + "\n".join(conns) + "\n}\nsecrets {\n" + "\n".join(secrets) + "\n}\n"


@pytest.mark.parametrize("name", ["seed003-1", "dual", "ikev1-aggressive-fqdn", "gcm-ecp256", "defaults"])
def test_rendered_strongswan_peer_establishes_with_a_gateway_built_from_the_standard_body(topo, tmp_path, render,
                                                                                          name):
    case = build(name)
    body = json.loads(render(case, "standard"))
    peer_text = render(case, "strongswan")
    tunnels = body.get("TunnelsConfig", {}).get("TunnelConfig") or [body]
    peer, gw = topo.ns("peer"), topo.ns("gw")
    if_p, if_g = topo.link(peer, "", gw, "")
    for t in tunnels:
        topo.run(peer, f"ip addr add {t['Local']}/32 dev {if_p} && ip route replace {t['Remote']}/32 dev {if_p}")
        topo.run(gw, f"ip addr add {t['Remote']}/32 dev {if_g} && ip route replace {t['Local']}/32 dev {if_g}")
    # A host address inside each protected network, as the machines behind each side would have.
    for ns, nets in ((peer, body["LocalSubnet"]), (gw, body["RemoteSubnet"])):
        for net in ipaddress_list(nets):
            if net.prefixlen:
                topo.run(ns, f"ip addr add {next(net.hosts())}/{net.prefixlen} dev lo")
    gw_charon = Charon(topo, gw, tmp_path / "gw")
    gw_out = gw_charon.load(gateway_side(body))
    assert "0 unloaded" in gw_out, gw_out
    peer_charon = Charon(topo, peer, tmp_path / "peer")
    peer_charon.load(peer_text)  # start_action = start: the peer initiates every tunnel itself.
    conns = connection_names(peer_text)

    def all_up():
        sas = peer_charon.swanctl("--list-sas", check=False)
        return all(re.search(rf"^{re.escape(c)}: #\d+, ESTABLISHED", sas, re.M) for c in conns) and \
            sas.count("INSTALLED, TUNNEL") >= len(conns) and sas

    try:
        sas = wait_until(all_up, 30, interval=0.5, what="every tunnel's IKE and CHILD SA")
    except TimeoutError:
        log = (tmp_path / "peer" / "charon.log").read_text()[-4000:]
        pytest.fail(f"tunnels did not come up\npeer config:\n{peer_text}\npeer log tail:\n{log}")
    # The peer is where the rendered identities and selectors were used: check they are the negotiated ones.
    for t in tunnels:
        assert t["IkeConfig"]["LocalId"] in sas and t["IkeConfig"]["RemoteId"] in sas, sas
    for net in body["LocalSubnet"].split(","):
        assert net in sas, sas


def ipaddress_list(text: str) -> list[ipaddress.IPv4Network]:
    """A comma-separated CIDR list, as the API writes subnets."""
    return [ipaddress.IPv4Network(n) for n in text.split(",")]


def libreswan_parts(text: str) -> tuple[str, str]:
    """Splits the rendered libreswan text into its ipsec.conf and ipsec.secrets parts."""
    conf, marker, secrets = text.partition(".secrets ----\n")
    assert marker, text
    return conf, secrets


def algparse(version: str, pfs: bool, proposal: str) -> bool:
    """Whether libreswan's own algorithm parser accepts a proposal line."""
    r = sh([str(LIBRESWAN / "algparse"), f"-{version[-2:]}", f"-pfs={'yes' if pfs else 'no'}", proposal], check=False)
    return r.returncode == 0 and "ERROR" not in r.stdout + r.stderr


def check_libreswan(tmp_path: Path, case: dict, text: str) -> None:
    """The rendered libreswan text passes addconn, readwriteconf and algparse, with one conn and secret per tunnel."""
    conf, secrets = libreswan_parts(text)
    f = tmp_path / "ipsec.conf"
    f.write_text("config setup\n    uniqueids=yes\n\n" + conf)
    check = sh([str(LIBRESWAN / "addconn"), "--config", str(f), "--checkconfig"], check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    parsed = sh([str(LIBRESWAN / "readwriteconf"), "--config", str(f)]).stdout
    names = re.findall(r"^conn (\S+)", conf, re.M)
    assert len(names) == len(case["Connection"]["TunnelOptions"])
    for n in names:
        assert f"conn {n}" in parsed, parsed
    # addconn does not judge algorithms; algparse is libreswan's own proposal parser.
    for block in conf.split("\nconn ")[1:]:
        version = "ikev2" if "ikev2=yes" in block else "ikev1"
        for prop in re.findall(r"^    ((?:ike|esp)=\S+)$", block, re.M):
            assert algparse(version, "pfs=yes" in block, prop), f"libreswan rejects {prop} ({version})\n{block}"
    lines = [ln for ln in secrets.splitlines() if ln and not ln.startswith("#")]
    assert len(lines) == len(names)
    for ln, t in zip(lines, case["Connection"]["TunnelOptions"]):
        assert ln.endswith(f': PSK "{t["TunnelIkeConfig"]["Psk"]}"'), ln


def require_libreswan() -> None:
    if not (LIBRESWAN / "addconn").exists():
        pytest.fail(f"{LIBRESWAN}/addconn missing: run scripts/install-deps.sh")


# "defaults" uses DH group 2, which libreswan 4 refuses (see the sweep below).
@pytest.mark.parametrize("name", [n for n in CASES if n != "defaults"])
def test_libreswan_config_passes_libreswans_own_parsers(tmp_path, render, name):
    require_libreswan()
    case = build(name)
    check_libreswan(tmp_path, case, render(case, "libreswan"))


# How libreswan spells each value Strait refuses to render for it.
LSW_SPELLING = {"des": "des", "aes128gcm16": "aes_gcm128", "aes256gcm16": "aes_gcm256", "group1": "modp768",
                "group2": "modp1024", "group19": "dh19", "group31": "dh31"}


def test_every_algorithm_libreswan_gets_is_one_libreswan_accepts_and_every_refusal_is_libreswans_own(tmp_path, render):
    require_libreswan()
    refused = []
    for label, case in sweep():
        r = render_raw(case, "libreswan")
        if r.returncode == 0:
            check_libreswan(tmp_path, case, r.stdout)
            continue
        assert "libreswan cannot express" in r.stderr, f"{label}: {r.stderr}"
        version, key, value = label.split("-", 2)
        slots = {"EncAlg": "aes128", "AuthAlg": "sha1", "Pfs": "modp2048"}
        slot = next(k for k in slots if key.endswith(k))
        slots[slot] = LSW_SPELLING[value]
        proposal = f"{'ike' if key.startswith('Ike') else 'esp'}={slots['EncAlg']}-{slots['AuthAlg']};{slots['Pfs']}"
        assert not algparse(version, True, proposal), f"{label}: refused, yet libreswan accepts {proposal}"
        refused.append(label)
    # The refusals are the ones libreswan 4 has: DES, MODP-768/1024, AEAD IKE SAs and ECP/Curve25519 PFS over IKEv1.
    assert "ikev1-IkePfs-group2" in refused and "ikev2-IpsecEncAlg-des" in refused, refused
    assert len(refused) < len(sweep()) // 3, refused


def test_every_algorithm_strongswan_gets_loads_into_charon_and_only_ikev1_aead_ike_is_refused(topo, tmp_path, render):
    charon = Charon(topo, topo.ns("peer"), tmp_path / "peer")
    refused = []
    for label, case in sweep():
        r = render_raw(case, "strongswan")
        if r.returncode != 0:
            assert "strongswan cannot express" in r.stderr, f"{label}: {r.stderr}"
            refused.append(label)
            continue
        out = charon.load(r.stdout)
        assert "successfully loaded 1 connections, 0 unloaded" in out, f"{label}\n{out}"
    assert sorted(refused) == ["ikev1-IkeEncAlg-aes128gcm16", "ikev1-IkeEncAlg-aes256gcm16"], refused
