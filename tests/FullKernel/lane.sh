#!/usr/bin/env bash
# The FullKernel lane: the Minuteman path (a dummy link, the checkpoint file, a dcos-net-
# like watcher and consumer with IPVS) on a kernel that has dummy links and IPVS.
#
# It builds tests/FullKernel, then probes the running kernel in a throwaway netns. If it
# can make a dummy link and list IPVS services, the suite runs here, in a private mount
# namespace with a fresh tmpfs on /run (the default checkpoint path
# /var/run/dcos/cni/l4lb is the machine's own, which dcos-net would watch). Otherwise it
# boots User-mode Linux (Debian's user-mode-linux: a 6.1 kernel with those modules) on
# the host's root filesystem, with tests/FullKernel/guest-init.sh as PID 1, and reads the
# guest's results from a temporary directory. Either way it ends with the suite's line
# "fullkernel: N passed, N failed", or "fullkernel: 0 passed, 1 failed" when the suite
# did not report (no guest result within FULLKERNEL_TIMEOUT seconds, 1200 by default, a
# guard against a hang: the suite takes about 2 minutes on a quiet machine and near 4
# with the two cores busy; the suite itself gets a minute less, for the guest's boot and
# set-up),
# and exits non-zero unless every test passed.
#
# Needs root, bin/dcos-l4lb (make build; or DCOS_L4LB_BIN) and the Debian packages
# iproute2 util-linux containernetworking-plugins dnsmasq-base bind9-dnsutils python3
# ipvsadm, plus user-mode-linux and kmod for the guest. FULLKERNEL_BUILD=0 skips the
# build (for a run inside a guest of its own).
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
timeout_s=${FULLKERNEL_TIMEOUT:-1200}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

give_up() {
    echo "fullkernel: $*" >&2
    echo "fullkernel: 0 passed, 1 failed"
    exit 1
}

[ "$(id -u)" -eq 0 ] || give_up "needs root"
plugin=${DCOS_L4LB_BIN:-$repo/bin/dcos-l4lb}
plugin=$(realpath -m "$plugin")
[ -x "$plugin" ] || give_up "$plugin is missing: run make build first"

dll=$repo/tests/FullKernel/bin/Release/net10.0/Dcos.L4lb.FullKernel.dll
if [ "${FULLKERNEL_BUILD:-1}" != 0 ]; then
    if [ -z "${NUGET_FEED:-}" ]; then
        NUGET_FEED=$(dotnet nuget list source --format short 2>/dev/null | awk '$1 == "E" { print $2; exit }')
        export NUGET_FEED
    fi
    if ! build_log=$(dotnet build tests/FullKernel -c Release -v quiet -nologo 2>&1); then
        echo "$build_log"
        give_up "the build of tests/FullKernel failed"
    fi
fi
[ -f "$dll" ] || give_up "$dll is missing"

# Can this kernel make a dummy link, and does it have IPVS? Asked in a throwaway netns.
kernel_has_it() {
    local ns=l4fklane$$ ok=1
    ip netns add "$ns" 2>/dev/null || return 1
    if ip -n "$ns" link add probe type dummy 2>/dev/null &&
        ip netns exec "$ns" ipvsadm -L -n >/dev/null 2>&1; then
        ok=0
    fi
    ip netns del "$ns"
    return $ok
}

work=$(mktemp -d /tmp/l4lb-fullkernel-XXXXXX) || give_up "cannot make a temporary directory"
trap 'rm -rf "$work"' EXIT
started=$(date +%s%N)

if kernel_has_it; then
    echo "fullkernel: this kernel has dummy links and IPVS: running the suite natively"
    # shellcheck disable=SC2016
    unshare --mount --propagation private sh -c \
        'mount -t tmpfs -o mode=0755 fullkernel-run /run && mkdir /run/netns && exec "$@"' sh \
        env FULLKERNEL_PRIVATE_RUN=1 DCOS_L4LB_BIN="$plugin" \
        timeout -k 5 "$timeout_s" dotnet "$dll" --summary 2>&1 | tee "$work/suite.out"
    echo "${PIPESTATUS[0]}" > "$work/status"
    echo "fullkernel: the suite took $((($(date +%s%N) - started) / 1000000)) ms" >&2
else
    echo "fullkernel: this kernel has no dummy links or no IPVS: running the suite in User-mode Linux"
    command -v linux >/dev/null || give_up "user-mode-linux is not installed (the linux command)"
    [ -d /usr/lib/uml/modules ] || give_up "/usr/lib/uml/modules is missing (user-mode-linux)"
    # the guest replaces /tmp with a tmpfs of its own; it reaches the checkout through a
    # bind mount, but a binary elsewhere under /tmp would be out of its sight
    case $plugin/ in
    "$repo"/*) ;;
    /tmp/*) give_up "$plugin lies under /tmp, which the guest replaces with a tmpfs of its own" ;;
    esac
    # the guest binds its modules here; an empty directory on the host
    [ -d /usr/lib/modules ] || mkdir -p /usr/lib/modules
    {
        printf 'REPO=%q\n' "$repo"
        printf 'DLL=%q\n' "$dll"
        printf 'DCOS_L4LB_BIN=%q\n' "$plugin"
        printf 'SUITE_TIMEOUT=%q\n' "$((timeout_s - 60))"
    } > "$work/guest.env"

    # The kernel hands unknown name=value parameters to init as environment variables
    # (the name must have no dot); everything after "--" becomes init's arguments. uml_dir
    # keeps UML's own runtime files (pid, mconsole socket) in the temporary directory.
    # timeout runs UML in a process group of its own and kills the whole group if the
    # guest hangs.
    timeout -k 10 "$timeout_s" linux mem=1G root=/dev/root rootfstype=hostfs rootflags=/ rw \
        con=null con0=fd:0,fd:1 uml_dir="$work" umid=fullkernel \
        fullkernel_out="$work" init=/bin/sh -- "$repo/tests/FullKernel/guest-init.sh" \
        < /dev/null > "$work/console" 2>&1
    uml_status=$?
    elapsed_ms=$((($(date +%s%N) - started) / 1000000))
    if [ -f "$work/suite.out" ]; then
        cat "$work/suite.out"
        # Expecto may end on a colour reset without a newline
        [ -z "$(tail -c 1 "$work/suite.out")" ] || echo
    fi
    if [ -f "$work/times" ]; then
        read -r suite_start suite_end < "$work/times"
        echo "fullkernel: the guest booted and was set up in ${suite_start} s, the suite ran" \
            "$(awk -v a="$suite_start" -v b="$suite_end" 'BEGIN { printf "%.1f", b - a }') s," \
            "UML ${elapsed_ms} ms in all" >&2
    fi
    if [ ! -f "$work/status" ] && { [ "$uml_status" -eq 124 ] || [ "$uml_status" -eq 137 ]; }; then
        echo "fullkernel: the guest did not finish within ${timeout_s} s" >&2
    fi
fi

# (Expecto may put a colour reset before the line: no ^ anchor)
summary=$(grep -oaE 'fullkernel: [0-9]+ passed, [0-9]+ failed' "$work/suite.out" 2>/dev/null | tail -n 1)
if [ ! -f "$work/status" ] || [ -z "$summary" ]; then
    echo "fullkernel: no result from the suite; what there is of the console and setup log:" >&2
    [ -f "$work/console" ] && tail -n 30 "$work/console" >&2
    [ -f "$work/setup.log" ] && tail -n 30 "$work/setup.log" >&2
    echo "fullkernel: 0 passed, 1 failed"
    exit 1
fi

status=$(cat "$work/status")
if [ "$status" != 0 ] && [ -f "$work/setup.log" ]; then
    echo "fullkernel: the suite exited $status in the guest; the end of its setup log:" >&2
    tail -n 10 "$work/setup.log" >&2
fi
# the suite's own summary line, repeated last (Expecto lists the tests after it)
echo "$summary"
[ "$status" = 0 ]
