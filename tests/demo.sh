#!/usr/bin/env bash
# The main job on the README's example config, end to end, in throwaway namespaces:
# an "agent" netns plays the DC/OS host (a `spartan` link holding 198.51.100.1-3, with
# dnsmasq standing in for Spartan), a "container" netns is attached with ADD, looked at,
# asked for a DNS name through Spartan, and detached with DEL. Everything it makes is
# removed at the end, also when a step fails.
set -uo pipefail
cd "$(dirname "$0")/.."
plugin=$PWD/bin/dcos-l4lb

if [ "$(id -u)" -ne 0 ]; then
  echo "make demo needs root: it creates network namespaces and links (try: sudo make demo)" >&2
  exit 1
fi

agent=l4demo-agent
ctr=l4demo-ctr
state=$(mktemp -d)
cleanup() {
  [ -f "$state/dnsmasq.pid" ] && kill "$(cat "$state/dnsmasq.pid")" 2>/dev/null
  ip netns del "$ctr" 2>/dev/null
  ip netns del "$agent" 2>/dev/null
  rm -rf "$state"
}
trap cleanup EXIT
show() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

echo "== the agent: a 'spartan' link with Spartan's addresses, dnsmasq as Spartan"
ip netns add "$agent" && ip netns add "$ctr"
ip -n "$agent" link set lo up && ip -n "$ctr" link set lo up
# this kernel may lack the dummy link type DC/OS uses; a bridge without ports holds
# the addresses just as well
ip -n "$agent" link add spartan type bridge
for a in 1 2 3; do ip -n "$agent" addr add "198.51.100.$a/32" dev spartan; done
ip -n "$agent" link set spartan up
ip netns exec "$agent" dnsmasq --listen-address=198.51.100.1 --bind-interfaces --no-resolv --no-hosts \
  --address=/spartan.demo/10.9.8.7 --pid-file="$state/dnsmasq.pid" --user=root
show ip -n "$agent" -br addr show spartan

minuteman=true
if ! ip -n "$agent" link add l4probe type dummy 2>/dev/null; then
  minuteman=false
  echo
  echo "note: this kernel has no 'dummy' link type, so Minuteman is off for this demo"
  echo "      (make test runs the Minuteman path under User-mode Linux)"
fi
ip -n "$agent" link del l4probe 2>/dev/null

config=$(cat <<JSON
{
  "cniVersion": "0.2.0",
  "name": "spartan-net",
  "type": "dcos-l4lb",
  "minuteman": {"enable": $minuteman, "path": "$state/l4lb"},
  "delegate": {
    "type": "bridge",
    "bridge": "sprt-cni0",
    "ipMasq": true,
    "isGateway": true,
    "ipam": {
      "type": "host-local",
      "subnet": "192.168.30.0/24",
      "routes": [ { "dst": "10.0.0.0/8" } ]
    }
  }
}
JSON
)

# The plugin runs inside the agent netns, with IPAM state in a private /var/lib/cni
# (a tmpfs and a bind mount that only this process sees), so the machine's own state,
# /var/lib/cni included, is never touched.
mkdir -p "$state/cni"
cni() {
  echo "$config" | unshare --mount --propagation private sh -c \
    "mount -t tmpfs l4demo /var/lib && mkdir /var/lib/cni && mount --bind '$state/cni' /var/lib/cni && exec ip netns exec $agent env \
     CNI_COMMAND=$1 CNI_CONTAINERID=demo-container CNI_NETNS=/run/netns/$ctr CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni $plugin"
}

echo
echo "== ADD (the config is the README's example)"
cni ADD || { echo "ADD failed" >&2; exit 1; }
echo
show ip -n "$ctr" -br addr
show ip -n "$ctr" route
show ip -n "$agent" route
$minuteman && show cat "$state/l4lb/demo-container" && echo

echo
echo "== a DNS query from inside the container, answered by 'Spartan'"
show ip netns exec "$ctr" dig +short +time=2 +tries=1 @198.51.100.1 spartan.demo

echo
echo "== DEL"
cni DEL && echo "(DEL succeeded)"
show ip -n "$ctr" -br link
show ip -n "$agent" route
show ls -A "$state/cni/networks/spartan-network"
echo
echo "nothing of the container is left; the demo's namespaces are removed on exit"
