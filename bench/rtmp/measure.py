#!/usr/bin/env python3
"""Measuring helper for bench/rtmp/run (python3 standard library only).

Subcommands (each prints one JSON object or plain lines on stdout, errors on stderr, exit 1 on failure):

  freeports N                     N distinct free TCP ports on 127.0.0.1, one per line
  waitlisten PORT TIMEOUT         wait until something listens on 127.0.0.1:PORT (reads /proc/net/tcp)
  busy SECONDS                    percent of the machine's CPU (all cores) in use over SECONDS
  load ...                        run N concurrent ffmpeg publishers, measure wall time, bytes, CPU
  idle ...                        open N idle TCP connections to a relay, measure its RSS before/with them
  report ...                      medians, the results table (stdout) and the RESULTS.md section

A "process tree" is a root PID and all its descendants (an nginx master and its workers); CPU
(per-thread on-CPU time from /proc/PID/task/TID/schedstat, with
utime+stime from /proc/PID/stat recorded alongside), RSS (VmRSS) and open descriptors are summed over it.
"""

import argparse
import json
import os
import re
import resource
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from benchlib import (alive, cmd_busy, cmd_freeports, cmd_waitlisten, cpu_ns, cpu_ticks, fail, fd_count, fmt,  # noqa: E402
                      machine_busy_s, ratio, rss_kib, tree, write_section)

CLK_TCK = os.sysconf("SC_CLK_TCK")
CHILDREN = []  # publishers started by `load`, killed if this helper is stopped


def _stop(signum, frame):
    for p in CHILDREN:
        if p.poll() is None:
            p.kill()
    for p in CHILDREN:
        p.wait()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _stop)
signal.signal(signal.SIGINT, _stop)
GIB = 1024 ** 3


# ---------------------------------------------------------------- /proc helpers

def io_chars(pids):
    r = w = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/io") as f:
                d = dict(line.split(": ") for line in f.read().splitlines())
            r += int(d["rchar"])
            w += int(d["wchar"])
        except OSError:
            pass
    return r, w


# ---------------------------------------------------------------- freeports / waitlisten

# ---------------------------------------------------------------- sink statistics

def sink_stat(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        root = ET.fromstring(r.read())
    return int(root.findtext("bytes_in")), int(root.findtext("naccepted"))


def sink_drained(url, timeout=30.0):
    """Poll the sink's bytes_in until it has not moved for 0.5 s (data still in flight has arrived)."""
    deadline = time.monotonic() + timeout
    last, stable_since = sink_stat(url), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        cur = sink_stat(url)
        if cur[0] != last[0]:
            last, stable_since = cur, time.monotonic()
        elif time.monotonic() - stable_since >= 0.5:
            return cur
    fail(f"the sink's bytes_in kept changing for {timeout} s after the publishers exited")


# ---------------------------------------------------------------- load

def cmd_load(a):
    relay = tree(a.relay_root) if a.relay_root else []
    sink = tree(a.sink_root)
    if a.relay_root and not relay:
        fail(f"{a.path}: relay process {a.relay_root} is not running")
    names = [f"{a.prefix}-s{i}" for i in range(1, a.publishers + 1)]
    os.makedirs(a.logdir, exist_ok=True)

    def snapshot():
        """Counters read before and after a run; the run's figures are their differences."""
        sink_bytes, sink_accepted = sink_drained(a.stat_url)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            "sink_bytes": sink_bytes, "sink_accepted": sink_accepted,
            "relay_ns": cpu_ns(relay), "sink_ns": cpu_ns(sink),
            "relay_ticks": cpu_ticks(relay), "sink_ticks": cpu_ticks(sink), "relay_io": io_chars(relay),
            "children_cpu": children.ru_utime + children.ru_stime,
            "busy": machine_busy_s(), "self": time.process_time(),
        }

    before = snapshot()

    procs = []
    t0 = time.monotonic()
    for name in names:
        err = open(os.path.join(a.logdir, f"{name}.err"), "w")
        p = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", a.file,
             "-c", "copy", "-f", "flv", f"rtmp://127.0.0.1:{a.port}/live/{name}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        CHILDREN.append(p)
        procs.append((name, err, p))
    deadline = t0 + a.timeout
    failures = []
    for name, err, p in procs:
        try:
            rc = p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for _, _, q in procs:
                if q.poll() is None:
                    q.kill()
                    q.wait()
            fail(f"{a.path}: publishers still running after {a.timeout} s (killed); logs in {a.logdir}")
        if rc != 0:
            failures.append((name, rc))
    wall = time.monotonic() - t0
    for _, err, _ in procs:
        err.close()

    after = snapshot()
    delta = {k: after[k] - before[k] for k in after if k != "relay_io"}

    if failures:
        name, rc = failures[0]
        with open(os.path.join(a.logdir, f"{name}.err")) as f:
            text = f.read().strip()
        fail(f"{a.path}: {len(failures)} of {a.publishers} publishers failed; {name} exited {rc}: "
             f"{text[-600:] or '(no output)'}")
    if a.relay_root and not alive(a.relay_root):
        fail(f"{a.path}: relay process {a.relay_root} died during the run")

    # Every publish must show in the sink's log ("publish: name='...'", nginx-rtmp at info level).
    with open(a.sink_log, errors="replace") as f:
        seen = set(re.findall(r"publish: name='([^']*)'", f.read()))
    missing = [n for n in names if n not in seen]
    if missing:
        fail(f"{a.path}: the sink's log shows no publish for {len(missing)} of {a.publishers} streams "
             f"(first: {missing[0]}); see {a.sink_log}")

    bytes_in = delta["sink_bytes"]
    expected = a.publishers * os.path.getsize(a.file)
    ratio = bytes_in / expected
    if ratio < 0.98:
        fail(f"{a.path}: the sink received {bytes_in} bytes, {ratio:.1%} of the {expected} bytes published")
    relay_cpu = delta["relay_ns"] / 1e9
    if a.relay_root and relay_cpu <= 0:
        fail(f"{a.path}: the relay used no CPU: did the traffic really go through it?")
    sink_cpu = delta["sink_ns"] / 1e9
    pub_cpu = delta["children_cpu"]
    # CPU used by processes outside the bench while this run lasted (another build, a test suite...):
    # the machine's busy time minus the publishers, the sink, the relay and this helper.
    span = time.monotonic() - t0
    other_cpu = max(0.0, delta["busy"] - pub_cpu - sink_cpu - (relay_cpu if a.relay_root else 0) - delta["self"])
    other_pct = 100 * other_cpu / (span * os.cpu_count())
    gib = bytes_in / GIB
    relay_txt = f", relay {relay_cpu / gib:.2f} CPU-s/GiB" if a.relay_root else ""
    print(f"  round {a.round} {a.publishers:>2} x {a.path:<12} {wall:7.2f} s {bytes_in * 8 / wall / 1e6:9.0f} Mbit/s"
          f"{relay_txt}, sink {sink_cpu / gib:.2f} CPU-s/GiB, {bytes_in / expected:.3f} of published bytes, "
          f"others {other_pct:.0f}% CPU",
          file=sys.stderr)
    print(json.dumps({
        "kind": "load", "path": a.path, "publishers": a.publishers, "round": a.round,
        "wall_s": round(wall, 4), "sink_bytes_in": bytes_in, "expected_bytes": expected,
        "bytes_ratio": round(ratio, 5), "sink_accepted": delta["sink_accepted"],
        "mbit_s": round(bytes_in * 8 / wall / 1e6, 2),
        "relay_cpu_s": round(relay_cpu, 4) if a.relay_root else None,
        "relay_cpu_s_per_gib": round(relay_cpu / gib, 3) if a.relay_root else None,
        "relay_rchar": after["relay_io"][0] - before["relay_io"][0], "relay_wchar": after["relay_io"][1] - before["relay_io"][1],
        "relay_cpu_s_stat": delta["relay_ticks"] / CLK_TCK if a.relay_root else None,
        "sink_cpu_s": round(sink_cpu, 4), "sink_cpu_s_stat": delta["sink_ticks"] / CLK_TCK, "sink_cpu_s_per_gib": round(sink_cpu / gib, 3),
        "publishers_cpu_s": round(pub_cpu, 3), "other_cpu_s": round(other_cpu, 3),
        "other_cpu_pct": round(other_pct, 1),
    }))


# ---------------------------------------------------------------- idle

def cmd_idle(a):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.count + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(4096, want), hard), hard))
    pids = tree(a.root)
    if not pids:
        fail(f"{a.path}: process {a.root} is not running")

    def settle(target_ok, what, timeout=20.0):
        """Wait until the tree's descriptor count satisfies target_ok and has not changed for 1 s."""
        deadline = time.monotonic() + timeout
        last, since = fd_count(pids), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            cur = fd_count(pids)
            if cur != last:
                last, since = cur, time.monotonic()
            elif target_ok(cur) and time.monotonic() - since >= 1.0:
                return cur
        fail(f"{a.path}: {what}: descriptor count {last} did not settle within {timeout} s")

    fds0 = settle(lambda c: True, "before")
    rss0 = rss_kib(pids)
    t0 = time.monotonic()
    socks = []
    try:
        for _ in range(a.count):
            socks.append(socket.create_connection(("127.0.0.1", a.port), timeout=5))
    except OSError as e:
        fail(f"{a.path}: connection {len(socks) + 1} of {a.count} failed: {e}")
    fds1 = settle(lambda c: c >= fds0 + a.count, "with connections open")
    rss1 = rss_kib(pids)
    held = time.monotonic() - t0
    # None of them may have been closed by the relay (or, through an L4 relay, by the origin).
    closed = 0
    readable, _, _ = select.select(socks, [], [], 0)
    for s in readable:
        try:
            if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                closed += 1
        except OSError:
            closed += 1
    if closed:
        fail(f"{a.path}: {closed} of {a.count} idle connections were closed during the measurement")
    # Close politely (FIN) and see whether the relay lets go within 3 s; then reset whatever is left
    # (SO_LINGER 0 sends RST) so that the next measurement starts from a clean process.
    for s in socks:
        s.shutdown(socket.SHUT_WR)
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and fd_count(pids) > fds0 + 8:
        time.sleep(0.1)
    left_after_fin = max(0, fd_count(pids) - fds0)
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    settle(lambda c: c <= fds0 + 8, "after closing")
    print(json.dumps({
        "kind": "idle", "path": a.path, "connections": a.count, "rss_before_kib": rss0,
        "rss_with_kib": rss1, "kib_per_conn": round((rss1 - rss0) / a.count, 2),
        "fds_added": fds1 - fds0, "fds_left_3s_after_fin": left_after_fin, "held_s": round(held, 1), "processes": len(pids),
    }))


# ---------------------------------------------------------------- report

LABELS = {"direct": "direct to nginx-rtmp", "proxy": "stream-proxy", "haproxy": "haproxy (mode tcp)",
          "nginx-stream": "nginx stream"}
ORDER = ["direct", "proxy", "haproxy", "nginx-stream"]


def cmd_report(a):
    rows = [json.loads(line) for line in open(a.jsonl) if line.strip()]
    meta = json.load(open(a.meta))
    loads = [r for r in rows if r["kind"] == "load"]
    idles = {r["path"]: r for r in rows if r["kind"] == "idle"}
    out = []
    out.append("## RTMP (bench/rtmp/run)")
    out.append("")
    out.append(f"- Date: {meta['date']}")
    out.append(f"- Machine: {meta['nproc']} cores, {meta['cpu_model']}, kernel {meta['kernel']}")
    out.append(f"- Software: stream-proxy {meta['proxy_version']} (release build of {meta['built']}; HEAD at run "
               f"time {meta['commit']}), "
               f"{meta['nginx']} + libnginx-mod-rtmp {meta['rtmp_module']} (sink and nginx stream), "
               f"{meta['haproxy']}, ffmpeg {meta['ffmpeg']}")
    out.append(f"- Rounds: R={meta['rounds']} per configuration, paths in a rotated order each round; "
               f"figures are medians (the range is min–max over the rounds)")
    out.append(f"- Source: {meta['file_name']}, {meta['file_seconds']:.1f} s of testsrc2 1280x720 25 fps "
               f"H.264 (x264 ultrafast, 20M target) + AAC, {meta['file_bytes'] / 1e6:.1f} MB, "
               f"{meta['file_mbit']:.1f} Mbit/s; each publisher sends the whole file with "
               f"`ffmpeg -i FILE -c copy -f flv rtmp://...` without -re (as fast as it can)")
    out.append("- Sink: one nginx-rtmp origin (1 worker, `live on; record off; chunk_size 4096`). "
               "Bytes are the sink's `bytes_in` delta (`rtmp_stat`), so every path is counted at the same "
               "place; a run is accepted only when every publisher exits 0, the sink's log shows each "
               "publish, and at least 98% of the published bytes arrived.")
    out.append("- Relays: stream-proxy (NIO, one event loop per core), haproxy `mode tcp` (one thread per "
               "core), nginx stream `proxy_pass` (`worker_processes auto` = one per core). CPU is the "
               "on-CPU time of all the relay's threads and processes (`/proc/PID/task/TID/schedstat`: "
               "utime+stime without the 10 ms clock-tick rounding of `/proc/PID/stat`, which is recorded "
               "too) per GiB arrived at the sink; the publishers, the sink and the relay share the same "
               "cores. Wall time runs from starting the publishers until the last one exits, ffmpeg's "
               "start-up included. \"Others' CPU\" is the share of the machine (all cores) used by processes "
               "outside the bench during the runs (median, max); high values mean the figures are disturbed.")
    disturbed = [r for r in loads if r["other_cpu_pct"] > meta["max_others"]]
    out.append(f"- Quiet machine: a run during which processes outside the bench used more than "
               f"{meta['max_others']}% of the CPU is repeated (up to {meta['retries']} times); "
               f"{len(disturbed)} of the {len(loads)} reported runs were still above that.")
    out.append("")
    for n in meta["publishers"]:
        sel = [r for r in loads if r["publishers"] == n]
        med = {}
        for p in ORDER:
            rs = [r for r in sel if r["path"] == p]
            if not rs:
                continue
            m = lambda k: statistics.median([r[k] for r in rs]) if rs[0][k] is not None else None
            med[p] = {"mbit": m("mbit_s"), "lo": min(r["mbit_s"] for r in rs), "hi": max(r["mbit_s"] for r in rs),
                      "cpu": m("relay_cpu_s_per_gib"), "sink": m("sink_cpu_s_per_gib"), "wall": m("wall_s"),
                      "pub": m("publishers_cpu_s"), "n": len(rs),
                      "other": m("other_cpu_pct"), "othermax": max(r["other_cpu_pct"] for r in rs),
                      "cpulo": min(r["relay_cpu_s_per_gib"] for r in rs) if rs[0]["relay_cpu_s_per_gib"] is not None else None,
                      "cpuhi": max(r["relay_cpu_s_per_gib"] for r in rs) if rs[0]["relay_cpu_s_per_gib"] is not None else None}
        d = med.get("direct", {}).get("mbit")
        h = med.get("haproxy", {}).get("cpu")
        ns = med.get("nginx-stream", {}).get("cpu")
        out.append(f"### {n} publisher{'s' if n != 1 else ''} ({n} x {meta['file_bytes'] / 1e6:.1f} MB)")
        out.append("")
        out.append("| path | Mbit/s (median) | range | vs direct | relay CPU-s/GiB (median) | range | "
                   "vs haproxy | vs nginx stream | sink CPU-s/GiB | publishers CPU-s | wall s | others' CPU (max) |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for p in ORDER:
            if p not in med:
                continue
            x = med[p]
            rng = f"{x['lo']:,.0f}–{x['hi']:,.0f}"
            crng = "—" if x["cpu"] is None else f"{x['cpulo']:.2f}–{x['cpuhi']:.2f}"
            out.append(f"| {LABELS[p]} | {x['mbit']:,.0f} | {rng} | {fmt(ratio(x['mbit'], d))} | {fmt(x['cpu'])} | "
                       f"{crng} | {fmt(ratio(x['cpu'], h))} | {fmt(ratio(x['cpu'], ns))} | {fmt(x['sink'])} | "
                       f"{x['pub']:.2f} | {x['wall']:.2f} | {x['other']:.0f}% ({x['othermax']:.0f}%) |")
        out.append("")
    if idles:
        out.append(f"### Idle connections: RSS per connection")
        out.append("")
        out.append("Each relay, freshly started and before any load, gets "
                   f"{next(iter(idles.values()))['connections']:,} TCP connections that send nothing; RSS "
                   "(VmRSS summed over the relay's processes) is read before and once its descriptor count has "
                   "settled. stream-proxy runs with `modules.rtmp.handshake_timeout: 60s` (default 10 s) so "
                   "that none is closed during the measurement; the bench checks that none was. The L4 relays "
                   "dial the origin for every accepted connection (two sockets each); stream-proxy dials only "
                   "after publish/play, so an idle connection holds one socket.")
        out.append("")
        out.append("| relay | RSS before KiB | RSS with connections KiB | KiB per connection | descriptors added | "
                   "descriptors still open 3 s after the clients' FIN |")
        out.append("|---|---:|---:|---:|---:|---:|")
        for p in ORDER:
            if p in idles:
                x = idles[p]
                out.append(f"| {LABELS[p]} | {x['rss_before_kib']:,} | {x['rss_with_kib']:,} | "
                           f"{x['kib_per_conn']:.2f} | {x['fds_added']:,} | {x['fds_left_3s_after_fin']:,} |")
        out.append("")
    section = "\n".join(out)
    print(section)
    if a.results:
        write_section(a.results, section, "## RTMP (bench/rtmp/run)")


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("freeports"); p.add_argument("n", type=int); p.set_defaults(f=cmd_freeports)
    p = sub.add_parser("waitlisten"); p.add_argument("port", type=int); p.add_argument("timeout", type=float)
    p.set_defaults(f=cmd_waitlisten)
    p = sub.add_parser("busy"); p.add_argument("seconds", type=float); p.set_defaults(f=cmd_busy)
    p = sub.add_parser("load")
    for k, t in (("--path", str), ("--port", int), ("--publishers", int), ("--file", str), ("--prefix", str),
                 ("--relay-root", int), ("--sink-root", int), ("--stat-url", str), ("--sink-log", str),
                 ("--logdir", str), ("--timeout", float), ("--round", int)):
        p.add_argument(k, type=t, required=k != "--relay-root")
    p.set_defaults(f=cmd_load)
    p = sub.add_parser("idle")
    for k, t in (("--path", str), ("--port", int), ("--root", int), ("--count", int)):
        p.add_argument(k, type=t, required=True)
    p.set_defaults(f=cmd_idle)
    p = sub.add_parser("report")
    p.add_argument("--jsonl", required=True); p.add_argument("--meta", required=True)
    p.add_argument("--results")
    p.set_defaults(f=cmd_report)
    a = ap.parse_args()
    a.f(a)


if __name__ == "__main__":
    main()
