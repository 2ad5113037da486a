#!/bin/sh
# PID 1 of the User-mode Linux guest that lane.sh boots to run the FullKernel suite on a
# kernel with dummy links and IPVS. The guest's root is the host's own filesystem
# (hostfs, read-write), so everything the run writes goes to tmpfs, except its results:
#   $fullkernel_out (from the kernel command line) is a temporary directory of lane.sh's;
#   it holds guest.env (REPO, DLL, DCOS_L4LB_BIN, SUITE_TIMEOUT: the suite's time limit in
#   seconds) and receives setup.log, suite.out, status (the suite's exit code) and times
#   (uptime at suite start and end).
# The guest's exit code does not come back to the host, hence the status file. The guest
# powers itself off at the end: PID 1 must not exit (that panics the kernel).
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
out=${fullkernel_out:-}

poweroff() {
    sync
    echo o > /proc/sysrq-trigger
    sleep 60
}

mount -t proc proc /proc
mount -t sysfs sys /sys
# /run: a fresh tmpfs (netns bind mounts, the default checkpoint path
# /var/run/dcos/cni/l4lb, the suite's scratch tmpfs mounts, the results directory)
mount -t tmpfs -o mode=0755 run /run
mkdir -p /run/netns /run/out /run/home /run/legacy-bin

if [ -z "$out" ] || ! mount --bind "$out" /run/out; then
    echo "guest: no results directory (fullkernel_out=$out)" > /dev/console
    poweroff
fi
exec > /run/out/setup.log 2>&1
set -x

# The checkout (and the plugin binary in it) may itself lie under /tmp, which gets a
# tmpfs of its own next: reach it through /run/repo instead
. /run/out/guest.env
mkdir -p /run/repo
mount --bind "$REPO" /run/repo || poweroff
under_repo() { case $1 in "$REPO"/*) echo "/run/repo${1#"$REPO"}" ;; *) echo "$1" ;; esac; }
DLL=$(under_repo "$DLL")
DCOS_L4LB_BIN=$(under_repo "$DCOS_L4LB_BIN")
REPO=/run/repo

# /tmp too, so that nothing the run writes (dotnet, python) lands on the host's disk
mount -t tmpfs -o mode=1777 tmp /tmp
# IPAM state: the reference host-local writes to /var/lib/cni
if [ -d /var/lib/cni ]; then
    mount -t tmpfs -o mode=0755 cni /var/lib/cni
else
    # no mount point on the host, and none may be made there: hide /var/lib as a whole
    # (nothing the suite runs needs the host's)
    mount -t tmpfs -o mode=0755 varlib /var/lib
    mkdir /var/lib/cni
fi
# /dev is the guest's own devtmpfs, which has no /dev/fd (bash process substitution
# needs it)
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr

# The guest kernel's modules (the host's /usr/lib/modules is an empty mount point)
mount --bind /usr/lib/uml/modules /usr/lib/modules
for m in dummy veth bridge ip_vs ip_vs_rr nf_conntrack ip_tables iptable_filter iptable_nat \
         xt_MASQUERADE xt_comment xt_addrtype xt_conntrack; do
    modprobe "$m"
done

# The guest kernel has no IPv4 nftables: the bridge plugin's ipMasq must find the
# legacy iptables first in PATH (the suite hands its PATH to the plugins)
for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -s "/usr/sbin/$(echo "$t" | sed 's/tables/tables-legacy/')" "/run/legacy-bin/$t"
done
ip link set lo up

cd "$REPO" || poweroff
read -r start _ < /proc/uptime
# the timeout guards against a hang, not a time limit: the suite takes about 2 minutes on
# a quiet machine; lane.sh gives it 19 minutes (SUITE_TIMEOUT)
env -i \
    PATH="/run/legacy-bin:$PATH" HOME=/run/home DOTNET_CLI_HOME=/run/home TMPDIR=/tmp \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_EnableDiagnostics=0 \
    PYTHONDONTWRITEBYTECODE=1 FULLKERNEL_PRIVATE_RUN=1 DCOS_L4LB_BIN="$DCOS_L4LB_BIN" \
    timeout -k 5 "${SUITE_TIMEOUT:-1140}" dotnet "$DLL" --summary > /run/out/suite.out 2>&1
echo $? > /run/out/status
read -r end _ < /proc/uptime
echo "$start $end" > /run/out/times
set +x
exec > /dev/null 2>&1
poweroff
