#!/usr/bin/env python3
"""Holds a flood of TCP connections for AbuseTests, in a process of its own: the test process then
never holds thousands of descriptors itself (Foundation's Process.run, which other tests call to
start their peers meanwhile, has crashed copying a descriptor list that large).

    flood.py PORT:COUNT [PORT:COUNT ...]

Opens COUNT connections to 127.0.0.1:PORT for each argument, from 127.0.0.10-29 in turn; every
other one sends 64 junk bytes at once, the rest stay silent. Prints "held N" once all are open,
then holds them until it is killed (the kernel closes them all at once)."""

import os
import resource
import signal
import socket
import sys


def main():
    targets = [(int(p), int(c)) for p, c in (a.split(":") for a in sys.argv[1:])]
    total = sum(c for _, c in targets)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, total + 256)), hard))
    held = []
    for port, count in targets:
        for i in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((f"127.0.0.{10 + i % 20}", 0))
            s.connect(("127.0.0.1", port))
            if i % 2 == 0:
                s.send(os.urandom(64).translate(bytes(range(128, 256)) * 2))
            held.append(s)
    print(f"held {len(held)}", flush=True)
    signal.pause()


if __name__ == "__main__":
    main()
