#!/usr/bin/env python3
"""Watches a Minuteman checkpoint directory the way dcos-net's l4lb does.

dcos-net (dcos_l4lb_netns_watcher) puts an inotify watch on the directory for
IN_CLOSE_WRITE and IN_DELETE only, ignores names that start with '.', and on a
close-write reads the file whole: its name is the container ID, its content the
netns path, used verbatim. This script does the same and prints one JSON line
per event on stdout:

  {"event": "ready"}                                  the watch is in place
  {"event": "close-write", "name": N, "content": HEX}  the file's bytes, read at the event
  {"event": "close-write", "name": N, "error": E}      ... or why it could not be read
  {"event": "delete", "name": N}
  {"event": "ignored", "name": N, "mask": M}           a dot-name (dcos-net drops these)
  {"event": "overflow"} / {"event": "watch-gone"}      the queue overflowed / the watch went
  {"event": "expired"}                                 the lifetime ran out

Usage: checkpoint-watcher.py DIR LIFETIME_SECONDS. It exits when its stdin
closes or the lifetime runs out, so it can never outlive its test for long.
"""
import ctypes
import json
import os
import select
import struct
import sys
import time

IN_CLOSE_WRITE = 0x00000008
IN_DELETE = 0x00000200
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_CLOEXEC = 0o2000000
EVENT_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len

libc = ctypes.CDLL("libc.so.6", use_errno=True)


def emit(record):
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def fail(what):
    err = ctypes.get_errno()
    emit({"event": "error", "error": f"{what}: {os.strerror(err)}"})
    sys.exit(2)


def handle(directory, mask, raw_name):
    if mask & IN_Q_OVERFLOW:
        emit({"event": "overflow"})
    if mask & IN_IGNORED:
        emit({"event": "watch-gone"})
    if not raw_name:
        return
    name = os.fsdecode(raw_name)
    if raw_name.startswith(b"."):
        emit({"event": "ignored", "name": name, "mask": mask})
        return
    if mask & IN_CLOSE_WRITE:
        try:
            with open(os.path.join(directory, raw_name.decode("utf-8", "surrogateescape")), "rb") as f:
                content = f.read()
            emit({"event": "close-write", "name": name, "content": content.hex()})
        except OSError as e:
            emit({"event": "close-write", "name": name, "error": str(e)})
    if mask & IN_DELETE:
        emit({"event": "delete", "name": name})


def main():
    directory, lifetime = sys.argv[1], float(sys.argv[2])
    fd = libc.inotify_init1(IN_CLOEXEC)
    if fd < 0:
        fail("inotify_init1")
    if libc.inotify_add_watch(fd, os.fsencode(directory), IN_CLOSE_WRITE | IN_DELETE) < 0:
        fail(f"inotify_add_watch {directory}")
    emit({"event": "ready"})

    deadline = time.monotonic() + lifetime
    stdin = sys.stdin.fileno()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            emit({"event": "expired"})
            return
        readable, _, _ = select.select([fd, stdin], [], [], remaining)
        if fd in readable:
            buf = os.read(fd, 65536)
            offset = 0
            while offset < len(buf):
                _, mask, _, length = EVENT_HEADER.unpack_from(buf, offset)
                start = offset + EVENT_HEADER.size
                raw_name = buf[start:start + length].rstrip(b"\0")
                offset = start + length
                handle(directory, mask, raw_name)
        if stdin in readable and not os.read(stdin, 4096):
            return  # the test closed our stdin: stop


if __name__ == "__main__":
    main()
