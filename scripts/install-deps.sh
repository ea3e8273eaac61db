#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian 12 machine (run as root). Idempotent.
set -euo pipefail
APT_PKGS=(strongswan strongswan-swanctl libcharon-extra-plugins iperf3 nftables iproute2
          iputils-ping tcpdump netcat-openbsd python3-pip frr bird2)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Debian's strongSwan unit would start a charon in the root namespace; tests run their own.
systemctl disable --now strongswan-starter strongswan 2>/dev/null || true
# Likewise FRR and BIRD: the BGP interop tests run their own bgpd/bird inside namespaces.
systemctl disable --now frr bird 2>/dev/null || true
python3 -m pip install -q --disable-pip-version-check -r tests/requirements.txt
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install -q --locked cargo-fuzz
fi
