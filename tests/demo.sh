#!/usr/bin/env bash
# What the plugin does today, run as a runtime would run it.
set -u
cd "$(dirname "$0")/.."
plugin=bin/dcos-l4lb
show() { printf '\n$ %s\n' "$*"; }

show "$plugin    # run by hand"
$plugin

show "CNI_COMMAND=VERSION $plugin"
echo '{"cniVersion":"1.0.0"}' | CNI_COMMAND=VERSION $plugin; echo

good='{"cniVersion":"0.2.0","name":"spartan-net","type":"dcos-l4lb",
 "delegate":{"type":"bridge","bridge":"sprt-cni0","ipMasq":true,"isGateway":true,
  "ipam":{"type":"host-local","subnet":"192.168.30.0/24","routes":[{"dst":"10.0.0.0/8"}]}}}'
bad='{"cniVersion":"0.2.0","name":"spartan-net","type":"dcos-l4lb",
 "spartan":false,"minuteman":{"enable":false,"path":"var/run/l4lb"},
 "delegate":{"type":"../bridge"}}'
env=(CNI_COMMAND=ADD CNI_CONTAINERID=demo1 CNI_NETNS=/run/netns/demo CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni)

show "env ${env[*]} $plugin <<< \"\$bad\"    # three mistakes, all reported"
env "${env[@]}" $plugin <<< "$bad"; echo "  (exit $?)"

show "env ${env[*]} CNI_IFNAME=eth0:1 $plugin <<< \"\$good\"    # a bad environment"
env "${env[@]}" CNI_IFNAME=eth0:1 $plugin <<< "$good"; echo "  (exit $?)"

show "env ${env[*]} $plugin <<< \"\$good\"    # the seed README's config"
env "${env[@]}" $plugin <<< "$good"; echo "  (exit $?)"
