#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian 12 machine (run as root). Idempotent.
set -euo pipefail
APT_PKGS=(strongswan strongswan-swanctl libcharon-extra-plugins iperf3 nftables iproute2
          iputils-ping tcpdump netcat-openbsd python3-pip
          libnss3 libnspr4 libunbound8 libevent-2.1-7)  # the last four: libreswan's parsers, see below
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# libreswan conflicts with strongswan-libcharon, so only its configuration parsers are unpacked (for
# tests/peer_config): /opt/libreswan-parser/usr/libexec/ipsec/{addconn,readwriteconf,algparse}.
if [ ! -x /opt/libreswan-parser/usr/libexec/ipsec/addconn ]; then
  lsw_tmp=$(mktemp -d)
  (cd "$lsw_tmp" && { apt-get download -qq libreswan 2>/dev/null || { apt-get update -qq && apt-get download -qq libreswan 2>/dev/null; }; } && dpkg-deb -x libreswan_*.deb /opt/libreswan-parser)
  rm -rf "$lsw_tmp"
fi
# Debian's strongSwan unit would start a charon in the root namespace; tests run their own.
systemctl disable --now strongswan-starter strongswan 2>/dev/null || true
python3 -m pip install -q --disable-pip-version-check -r tests/requirements.txt
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install -q --locked cargo-fuzz
fi
