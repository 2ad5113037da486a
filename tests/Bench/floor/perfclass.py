#!/usr/bin/env python3
"""Classifies perf samples (`perf script -F comm,tid,ip,sym,dso` with call chains) by what
the process was doing: user-space DSO, page fault, or the system call (for read: which
/proc or /sys file generator).  usage: perf script -i X -F comm,tid,ip,sym,dso | perfclass.py"""
import sys, re, collections
READERS = ["show_mountinfo", "show_map", "show_smap", "memcg_stat_show", "memory_stat_show",
           "meminfo_proc_show", "proc_cgroup_show", "cgroup_seqfile_show", "kernfs_seq_show",
           "kernfs_fop_read_iter", "seq_read_iter", "filemap_read", "pipe_read"]
def classify(frames):
    if not frames: return "?"
    if frames[0][1] != "[kernel.kallsyms]":
        return "user " + frames[0][1].split("/")[-1]
    syms = [s for s, d in frames if d == "[kernel.kallsyms]"]
    for s in reversed(syms):                      # outermost first
        m = re.match(r"(?:__x64_sys_|__do_sys_|__se_sys_|ksys_)(\w+?)(?:_pgoff)?$", s)
        if m:
            name = m.group(1)
            if name == "read":
                for r in READERS:
                    if r in syms: return "sys read: " + r
            return "sys " + name
        if s in ("exc_page_fault", "asm_exc_page_fault"): return "page fault"
    for s in reversed(syms):
        if "execve" in s or s == "load_elf_binary": return "sys execve"
        if s in ("do_exit", "do_group_exit"): return "exit"
    return "kernel other (" + syms[-1] + ")"
EXCLUDE = {"bash", "seq", "perf", "sh"}   # the driving loop, not the process measured
cnt = collections.Counter(); total = 0; frames = []; keep = True
def flush():
    global total
    if frames and keep: cnt[classify(frames)] += 1; total += 1
for line in sys.stdin:
    if not line.strip():
        flush(); frames = []; continue
    if line[0] in "\t ":
        p = line.strip().split(None, 2)
        if len(p) >= 2: frames.append((p[1].split("+")[0], p[2].strip("()") if len(p) > 2 else ""))
    else:
        frames = []; comm = line.rsplit(None, 1)[0].strip() if len(line.split()) > 1 else line.strip()
        keep = comm not in EXCLUDE
flush()
for k, v in cnt.most_common(40): print(f"{100 * v / total:6.2f}%  {v:6d}  {k}")
print(f"total samples {total}")
