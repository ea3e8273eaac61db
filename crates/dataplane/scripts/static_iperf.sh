#!/usr/bin/env bash
# iperf3 TCP through a static-key tunnel (examples/static_tunnel.rs), no IKE involved:
#   h1 10.1.0.2 -- gw1 192.0.2.1 ==ESP== 192.0.2.2 gw2 -- 10.2.0.2 h2   (four network namespaces)
# Usage: static_iperf.sh [udp|raw] [aes-sha1|aes128gcm16|aes256-sha256] [seconds]
# Needs root and target/release/examples/static_tunnel (built here if missing). Cleans up on exit.
set -euo pipefail
mode=${1:-udp} suite=${2:-aes-sha1} secs=${3:-10}
cd "$(dirname "$0")/../../.."
bin=${STATIC_TUNNEL_BIN:-target/release/examples/static_tunnel}
[ -x "$bin" ] || cargo build --release -q -p strait-dataplane --example static_tunnel
p="dpb$$"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for n in h1 gw1 gw2 h2; do ip netns del "$p-$n" 2>/dev/null || true; done
}
trap cleanup EXIT
for n in h1 gw1 gw2 h2; do
  ip netns add "$p-$n"
  ip -n "$p-$n" link set lo up
  ip netns exec "$p-$n" sysctl -qw net.ipv4.ip_forward=1
done
link() { # ns_a addr_a ns_b addr_b
  ip link add "$p$5a" netns "$p-$1" type veth peer name "$p$5b" netns "$p-$3"
  ip -n "$p-$1" addr add "$2" dev "$p$5a"; ip -n "$p-$1" link set "$p$5a" up
  ip -n "$p-$3" addr add "$4" dev "$p$5b"; ip -n "$p-$3" link set "$p$5b" up
}
link h1 10.1.0.2/24 gw1 10.1.0.1/24 x
link gw1 192.0.2.1/24 gw2 192.0.2.2/24 y
link gw2 10.2.0.1/24 h2 10.2.0.2/24 z
ip -n "$p-h1" route add default via 10.1.0.1
ip -n "$p-h2" route add default via 10.2.0.1
udp=""; [ "$mode" = udp ] && udp="--udp"
ip netns exec "$p-gw1" "$bin" --side a --local 192.0.2.1 --remote 192.0.2.2 --local-net 10.1.0.0/24 \
  --remote-net 10.2.0.0/24 --suite "$suite" $udp >/dev/null & pids+=($!)
ip netns exec "$p-gw2" "$bin" --side b --local 192.0.2.2 --remote 192.0.2.1 --local-net 10.2.0.0/24 \
  --remote-net 10.1.0.0/24 --suite "$suite" $udp >/dev/null & pids+=($!)
for _ in $(seq 50); do ip netns exec "$p-h1" ping -c 1 -W 1 10.2.0.2 >/dev/null 2>&1 && break; sleep 0.2; done
ip netns exec "$p-h2" iperf3 -s -1 >/dev/null & pids+=($!)
sleep 0.5
gbps=$(ip netns exec "$p-h1" timeout $((secs + 20)) iperf3 -c 10.2.0.2 -t "$secs" -J |
  python3 -c "import json,sys; print('%.3f' % (json.load(sys.stdin)['end']['sum_received']['bits_per_second'] / 1e9))")
echo "static_tunnel mode=$mode suite=$suite gbps=$gbps"
