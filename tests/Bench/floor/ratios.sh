#!/usr/bin/env bash
# Target 2 estimates from a delegate.sh run (its raw.tsv) and a hostlocal.sh run (process floors):
#   overhead(design) = (design - bridge + P) / ptp, per-variant ADD+DEL medians of the same run.
#   P_now   = l4lb - today : dcos-l4lb's own two processes as they are (start-up, runtime, core,
#             veth creation/netlink set-up, System.Diagnostics.Process spawning overhead)
#   P_floor = 2 x (minimal Native AOT process, bash-timed) - 1 x (C process, bash-timed: the nldel
#             run that the plugin's in-process RTM_DELLINK replaces) + 2 ms of netlink set-up
#             (the plugin's own effect log: veth create 0.6-0.9, inspect 0.45, up/addresses/routes/
#             forwarding ~0.5): the least any .NET plugin process could add
#   bash tests/Bench/floor/ratios.sh DELEGATE_DIR HOSTLOCAL_DIR     (writes DELEGATE_DIR/ratios.txt)
set -euo pipefail
D=${1:?usage: ratios.sh DELEGATE_DIR HOSTLOCAL_DIR}; H=${2:?usage: ratios.sh DELEGATE_DIR HOSTLOCAL_DIR}
med() { sort -g | awk '{v[NR]=$1} END {print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }
m() { awk -F'\t' -v v="$1" '$1==v {print ($2+$3)/1000}' "$D/raw.tsv" | med; }
hm() { awk -F'\t' -v v="$1" '$1==v {print $2/1000}' "$H/raw.tsv" | med; }
a=$(m bridge); b=$(m ptp); today=$(m today)
l4lb=$(awk -F'\t' '$1=="l4lb"' "$D/raw.tsv" | grep -q . && m l4lb || echo nan)
aot=$(hm aot-base-VERSION); aots=$(hm aot-static-VERSION); cfl=$(hm c-floor-VERSION)
awk -v a="$a" -v b="$b" -v c="$l4lb" -v t="$today" -v aot="$aot" -v aots="$aots" -v cf="$cfl" -v D="$D" -v H="$H" -v hl="$(m hl)" \
    -v par="$(m par)" -v batch="$(m batch)" -v bp="$(m batchpar)" -v ip="$(m inproc)" -v ipp="$(m inprocpar)" '
BEGIN {
  pnow = c - t; pf = 2 * aot - cf + 2; pfs = 2 * aots - cf + 2
  printf "runs: %s (load: see load.txt) and %s\n", D, H
  printf "a (bridge) = %.2f ms, b (ptp) = %.2f ms, c (dcos-l4lb) = %.2f ms -> (c-a)/b = %.2f\n", a, b, c, (c - a) / b
  printf "c - a = %.2f ms = Spartan IPAM processes (host-local ADD+DEL alone) %.2f + veth deletion in sequence (today - bridge - hl) %.2f + dcos-l4lb own processes P_now %.2f\n", c - a, hl, t - a - hl, pnow
  printf "P_now = %.2f ms; P_floor = 2 x %.2f - %.2f + 2 = %.2f ms (static AOT: %.2f ms)\n", pnow, aot, cf, pf, pfs
  printf "%-52s %8s %9s %9s %9s %14s\n", "design (Spartan work, without our process)", "delta ms", "P_now", "P_floor", "P_static", "P for 0.5 (ms)"
  n = split("today|par|batch|batchpar|inproc|inprocpar", k, "|")
  v["today"] = t; v["par"] = par; v["batch"] = batch; v["batchpar"] = bp; v["inproc"] = ip; v["inprocpar"] = ipp
  d["today"] = "as today (sequential, host-local, 2 deletions)"
  d["par"] = "steps concurrent with the delegate"
  d["batch"] = "one group deletion {spartan, eth0}"
  d["batchpar"] = "group deletion + host-local concurrent"
  d["inproc"] = "in-process IPAM + group deletion"
  d["inprocpar"] = "in-process IPAM + concurrent deletion"
  for (i = 1; i <= n; i++) { x = v[k[i]] - a
    printf "%-52s %8.2f %9.2f %9.2f %9.2f %14.2f\n", k[i] ": " d[k[i]], x, (x + pnow) / b, (x + pf) / b, (x + pfs) / b, 0.5 * b - x }
}' | tee "$D/ratios.txt"
