#!/usr/bin/env python3
"""Off-CPU time of nldel by wait site, from `perf script` of sched:sched_switch with -g.
A wait starts when nldel is switched out (prev_pid) and ends when it is switched in (next_pid)."""
import sys, re, collections
SKIP = {"__schedule", "schedule", "schedule_preempt_disabled", "schedule_timeout", "__wait_for_common",
        "wait_for_completion", "__mutex_lock.constprop.0", "__mutex_lock", "mutex_lock", "__cond_resched",
        "preempt_schedule_common", "io_schedule", "do_nanosleep", "hrtimer_nanosleep"}
events = []; cur = None
for line in sys.stdin:
    if not line.strip():
        if cur: events.append(cur); cur = None
        continue
    if not line[0].isspace():
        m = re.search(r"\s([\d.]+): sched:sched_switch: prev_comm=(.*?) prev_pid=(\d+).* prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)", line)
        cur = m and {"t": float(m.group(1)), "prev_comm": m.group(2), "prev": int(m.group(3)), "state": m.group(4), "next_comm": m.group(5), "next": int(m.group(6)), "st": []}
    elif cur is not None:
        p = line.split()
        if len(p) >= 2: cur["st"].append(p[1].split("+")[0])
if cur: events.append(cur)
out = {}; tot = collections.Counter(); cnt = collections.Counter()
for e in events:
    if e["prev_comm"] == "nldel":
        frames = [f for f in e["st"] if f not in SKIP]
        # name the site by the lock/wait primitive and its caller
        raw = e["st"]
        site = " <- ".join(frames[:2]) if frames else "?"
        if "__mutex_lock.constprop.0" in raw or "__mutex_lock" in raw: site = "mutex in " + (frames[0] if frames else "?")
        if e["state"] in ("R", "R+"): site = "preempted (runnable) in " + (frames[0] if frames else "?")
        out[e["prev"]] = (e["t"], site)
    if e["next"] in out:
        t0, site = out.pop(e["next"]); tot[site] += (e["t"] - t0) * 1000; cnt[site] += 1
n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
for site, ms in tot.most_common(12):
    print(f"{ms / n:8.2f} ms per deletion  ({cnt[site]:4d} waits)  {site}")
print(f"{sum(tot.values()) / n:8.2f} ms per deletion off CPU in total")
