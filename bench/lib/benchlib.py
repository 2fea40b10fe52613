"""Helpers shared by the benchmarks' measuring scripts (bench/*/measure.py): process trees and
their CPU from /proc, free ports, number formatting. Python standard library only."""

import os
import socket
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")

def fail(msg):
    print(f"measure.py: {msg}", file=sys.stderr)
    sys.exit(1)


def tree(root):
    """root and all its descendants (via /proc/PID/task/TID/children)."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if not os.path.exists(f"/proc/{pid}"):
            continue
        out.append(pid)
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cmd_freeports(a):
    socks = []
    for _ in range(a.n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    for s in socks:
        print(s.getsockname()[1])
        s.close()


def fmt(x, nd=2):
    return "—" if x is None else f"{x:,.{nd}f}"


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def listening(port):
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            p = line.split()
            if p[1] == want and p[3] == "0A":
                return True
    return False


def machine_busy_s():
    """CPU time used by everything on the machine (/proc/stat, all cores), in seconds."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / CLK_TCK


def thread_times(pids):
    """{(pid, tid): (on-CPU ns, utime ticks, stime ticks)} of every thread of `pids`: the on-CPU
    time is sum_exec_runtime from /proc/PID/task/TID/schedstat (utime+stime without the clock-tick
    rounding); utime/stime from .../stat give the user/system split."""
    out = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    ns = int(f.read().split()[0])
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    st = f.read().rsplit(")", 1)[1].split()
                out[(pid, tid)] = (ns, int(st[11]), int(st[12]))
            except OSError:
                pass
    return out


def cpu_ns(pids):
    """On-CPU time of every thread, in ns. Threads that have exited are not counted; the relays'
    threads live as long as the process."""
    return sum(ns for ns, _, _ in thread_times(pids).values())


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def fd_count(pids):
    n = 0
    for pid in pids:
        try:
            n += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            pass
    return n


def cmd_waitlisten(a):
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        if listening(a.port):
            return
        time.sleep(0.05)
    fail(f"nothing listens on 127.0.0.1:{a.port} after {a.timeout} s")


def cmd_busy(a):
    b0 = machine_busy_s()
    time.sleep(a.seconds)
    print(round(100 * (machine_busy_s() - b0) / (a.seconds * os.cpu_count())))


def write_section(path, section, head):
    """Replaces the `head` section of RESULTS.md at `path` (or appends it), keeping the other sections."""
    if not os.path.exists(path):
        text = "# Benchmark results\n\nLatest figures of the benchmarks in bench/ (see bench/README.md).\n\n" + section
    else:
        lines = open(path).read().split("\n")
        try:
            start = next(i for i, l in enumerate(lines) if l.strip() == head)
        except StopIteration:
            text = "\n".join(lines).rstrip("\n") + "\n\n" + section
        else:
            end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
            rest = lines[end:]
            text = "\n".join(lines[:start] + section.rstrip("\n").split("\n") + ([""] + rest if rest else []))
    with open(path + ".tmp", "w") as f:
        f.write(text.rstrip("\n") + "\n")
    os.replace(path + ".tmp", path)
