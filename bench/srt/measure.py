#!/usr/bin/env python3
"""SRT benchmark (bench/srt/run): ffmpeg callers publish a fixed 8 Mbit/s MPEG-TS file to
srt-live-transmit origins directly, through stream-proxy, and through nginx's stream module
(`listen ... udp`, an L4 UDP relay), in the same run.

Each round runs every scenario on every path, the paths in a rotated order (round r starts with
path r mod 3), each with a fresh relay process and fresh origins. The publishers loop the file
(`-stream_loop -1`), so a session lasts as long as the bench wants: the figures are taken over a
steady window (WINDOW s, after WARMUP s), so neither the handshake nor the close (SRT live mode
does not linger: the last packets in flight are lost) is counted.

In the window: delivered bytes (the growth of the origins' files), bitrate, and the relay's
on-CPU time (per thread, /proc/PID/task/TID/schedstat) with its user/system split (utime/stime
of the same threads), per GiB delivered and per million data packets (delivered bytes / 1316,
the payload of one SRT data packet here; the relay also carries the ACK/ACKACK control packets,
which are not counted). "others' CPU" is the machine's busy time minus the relay, the peers
(ffmpeg, srt-live-transmit) and this script: a high value means the figures are disturbed.

Subcommands: `run` (rounds, one JSON line per measurement), `report` (medians, ranges, the
table and the RESULTS.md section). Python standard library only."""

import argparse, json, os, signal, socket, statistics, subprocess, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from benchlib import CLK_TCK, fail, fmt, machine_busy_s, thread_times, tree, write_section  # noqa: E402

PATHS = ["direct", "stream-proxy", "nginx-udp"]
PAYLOAD = 1316


def free_udp_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def delta(a, b):
    """CPU of the threads in snapshot `b` since snapshot `a` (threads born in between count whole)."""
    ns = ut = st = 0
    for k, (n, u, s) in b.items():
        n0, u0, s0 = a.get(k, (0, 0, 0))
        ns, ut, st = ns + n - n0, ut + u - u0, st + s - s0
    return ns / 1e9, ut / CLK_TCK, st / CLK_TCK


def stop(procs, sig=signal.SIGINT, timeout=3.0):
    for p in procs:
        if p.poll() is None:
            p.send_signal(sig)
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_udp(port, timeout=10.0):
    want = f"0100007F:{port:04X}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open("/proc/net/udp") as f:
            if any(line.split()[1] == want for line in f.readlines()[1:]):
                return
        time.sleep(0.05)
    fail(f"nothing listens on udp 127.0.0.1:{port} after {timeout} s")


class Relay:
    """The relay of one run (None for direct): a fresh stream-proxy or nginx, stopped after the run."""

    def __init__(self, path, a, work, origin_ports, origin_pids, tag):
        self.proc, self.targets, self.log = None, origin_ports, None
        n = len(origin_ports)
        if path == "stream-proxy":
            api, srt = free_tcp_port(), free_udp_ports(1)[0]
            conf = os.path.join(work, f"{tag}-proxy.yaml")
            with open(conf, "w") as f:
                f.write(f"system_api: {{ listen: 127.0.0.1:{api} }}\nmodules:\n  rtmp: {{ enabled: false }}\n"
                        f"  http-flv: {{ enabled: false }}\n  srt: {{ listen: 127.0.0.1:{srt}, session_rate: 100000, session_burst: 100000{a.srt_extra} }}\n")
            self.log = open(os.path.join(work, f"{tag}-proxy.log"), "wb")
            self.proc = subprocess.Popen([a.proxy_bin, "--config", conf, "--log-level", "warning"], stdout=self.log, stderr=self.log)
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", api), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or self.proc.poll() is not None:
                        fail(f"stream-proxy did not start (see {self.log.name})")
                    time.sleep(0.05)
            wait_udp(srt)
            for i, (p, pid) in enumerate(zip(origin_ports, origin_pids)):
                body = json.dumps({"ip": "127.0.0.1", "server": f"o{i}", "service": "slt", "pid": str(pid), "srt": [str(p)]})
                subprocess.run(["curl", "-s", "-f", "-o", "/dev/null", "-X", "POST", f"http://127.0.0.1:{api}/api/v1/srs/register", "-d", body], check=True)
            self.targets = [srt] * n
        elif path == "nginx-udp":
            listen = free_udp_ports(n)
            servers = "".join(f"server {{ listen 127.0.0.1:{l} udp; proxy_pass 127.0.0.1:{o}; proxy_timeout 10s; }}\n"
                              for l, o in zip(listen, origin_ports))
            conf = os.path.join(work, f"{tag}-nginx.conf")
            with open(conf, "w") as f:
                f.write("load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n"
                        f"daemon off; master_process on; worker_processes 1; user root; pid {work}/{tag}-nginx.pid; error_log stderr notice;\n"
                        "events { worker_connections 4096; }\nstream {\n" + servers + "}\n")
            self.log = open(os.path.join(work, f"{tag}-nginx.log"), "wb")
            self.proc = subprocess.Popen(["nginx", "-p", work, "-c", conf, "-e", "stderr"], stdout=self.log, stderr=self.log)
            for l in listen:
                wait_udp(l)
            self.targets = listen

    def pids(self):
        return tree(self.proc.pid) if self.proc else []

    def close(self):
        if self.proc:
            stop([self.proc], signal.SIGTERM, 10.0)
            self.log.close()


def one_run(a, path, scenario, rnd):
    name, flows, rate = scenario
    tag = f"r{rnd}-{name}-{path}"
    ports = free_udp_ports(flows)
    files = [os.path.join(a.work, f"{tag}-{i}.ts") for i in range(flows)]
    outs = [open(f, "wb") for f in files]
    origins = [subprocess.Popen(["srt-live-transmit", "-a:no", "-q", f"srt://127.0.0.1:{p}?mode=listener&latency=200", "file://con"],
                                stdout=o, stderr=subprocess.DEVNULL) for p, o in zip(ports, outs)]
    for p in ports:
        wait_udp(p)
    relay = Relay(path, a, a.work, ports, [o.pid for o in origins], tag)
    pubs = []
    for i, port in enumerate(relay.targets):
        pace = ["-readrate", str(rate)] if rate else []
        url = f"srt://127.0.0.1:{port}?streamid=#!::r=live/{tag}-{i},m=publish&latency=200000&pkt_size={PAYLOAD}"
        if not rate:
            url += f"&maxbw={a.maxbw}"
        pubs.append(subprocess.Popen(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-stream_loop", "-1"] + pace +
                                     ["-i", a.src, "-c", "copy", "-f", "mpegts", url], stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    peers = lambda: [p.pid for p in pubs + origins if p.poll() is None]

    def snap():
        return {"t": time.monotonic(), "bytes": sum(os.path.getsize(f) for f in files), "relay": thread_times(relay.pids()),
                "peers": thread_times(peers()), "busy": machine_busy_s(), "self": time.process_time()}

    time.sleep(a.warmup)
    s0 = snap()
    time.sleep(a.window)
    s1 = snap()
    stop(pubs)
    stop(origins, signal.SIGTERM)
    relay.close()
    for o in outs:
        o.close()
    for f in files:
        os.remove(f)
    wall = s1["t"] - s0["t"]
    got = s1["bytes"] - s0["bytes"]
    cpu, ut, st = delta(s0["relay"], s1["relay"])
    peers_cpu = delta(s0["peers"], s1["peers"])[0]
    others = max(0.0, (s1["busy"] - s0["busy"]) - cpu - peers_cpu - (s1["self"] - s0["self"]))
    relayed = path != "direct"
    return {"round": rnd, "scenario": name, "flows": flows, "readrate": rate, "path": path, "window_s": round(wall, 2),
            "bytes": got, "mbit_s": round(got * 8 / wall / 1e6, 2),
            "offered_mbit_s": round(flows * rate * a.src_mbit, 2) if rate else None,
            "cpu_s": round(cpu, 3) if relayed else None,
            "user_pct": round(100 * ut / (ut + st), 1) if relayed and ut + st else None,
            "cpu_s_per_gib": round(cpu / (got / 2**30), 3) if relayed and got else None,
            "cpu_s_per_mpkt": round(cpu / (got / PAYLOAD / 1e6), 3) if relayed and got else None,
            "peers_cpu_s": round(peers_cpu, 2), "others_cpu_pct": round(100 * others / (wall * os.cpu_count()), 1)}


def parse_scenarios(text):
    out = []
    for s in text.split():
        name, flows, rate = s.split(":")
        out.append((name, int(flows), float(rate)))
    return out


def cmd_run(a):
    src_bytes = os.path.getsize(a.src)
    a.src_mbit = src_bytes * 8 / a.src_seconds / 1e6
    scenarios = parse_scenarios(a.scenarios)
    with open(a.out, "a") as out:
        for rnd in range(a.rounds):
            order = PATHS[rnd % 3:] + PATHS[:rnd % 3]
            for sc in scenarios:
                for path in order:
                    print(f"measure.py: round {rnd + 1}/{a.rounds} {sc[0]} {path}", file=sys.stderr, flush=True)
                    r = one_run(a, path, sc, rnd)
                    print(f"measure.py:   {r['mbit_s']} Mbit/s, relay {r['cpu_s']} CPU-s ({r['user_pct']}% user), "
                          f"{r['cpu_s_per_gib']} CPU-s/GiB, others {r['others_cpu_pct']}%", file=sys.stderr, flush=True)
                    out.write(json.dumps(r) + "\n")
                    out.flush()


def med(xs):
    xs = [x for x in xs if x is not None]
    return (statistics.median(xs), min(xs), max(xs)) if xs else (None, None, None)


def cell(t, nd=1):
    m, lo, hi = t
    return "—" if m is None else f"{fmt(m, nd)} ({fmt(lo, nd)}–{fmt(hi, nd)})"


def cmd_report(a):
    rows = [json.loads(l) for l in open(a.jsonl)]
    direct = {(r["round"], r["scenario"]): r for r in rows if r["path"] == "direct"}
    for r in rows:
        d = direct.get((r["round"], r["scenario"]))
        r["vs_direct_pct"] = 100.0 * r["bytes"] / d["bytes"] if d and d["bytes"] else None
        r["of_offered_pct"] = 100.0 * r["mbit_s"] / r["offered_mbit_s"] if r["offered_mbit_s"] else None
    rounds = len({r["round"] for r in rows})
    lines = ["| scenario | path | delivered vs direct | of offered | Mbit/s | relay CPU-s/GiB | CPU-s per M packets | user % | others' CPU (max) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["scenario"] for r in rows):
        for path in PATHS:
            rs = [r for r in rows if r["scenario"] == name and r["path"] == path]
            if not rs:
                continue
            r0 = rs[0]
            label = f"{name} ({r0['flows']} flow{'s' if r0['flows'] > 1 else ''}, " + (
                f"readrate {r0['readrate']:g}, {fmt(r0['offered_mbit_s'], 0)} Mbit/s offered)" if r0["readrate"] else f"no readrate, maxbw {a.maxbw_mbit} Mbit/s)")
            lines.append(f"| {label} | {path} | {cell(med([r['vs_direct_pct'] for r in rs]))}% | "
                         f"{cell(med([r['of_offered_pct'] for r in rs]))}{'%' if r0['readrate'] else ''} | {cell(med([r['mbit_s'] for r in rs]))} | "
                         f"{cell(med([r['cpu_s_per_gib'] for r in rs]), 2)} | {cell(med([r['cpu_s_per_mpkt'] for r in rs]), 2)} | "
                         f"{cell(med([r['user_pct'] for r in rs]), 0)} | {fmt(max(r['others_cpu_pct'] for r in rs), 0)}% |")
    table = "\n".join(lines)
    print(table)
    meta = json.load(open(a.meta))
    section = f"""## SRT (bench/srt/run)

Measured {meta['date']} on {os.cpu_count()} cores, commit {meta['commit']} (binary built {meta['built']}).
- Rounds: R={rounds}, every path once per scenario and round, the paths in a rotated order each round, each
  run with a fresh relay and fresh origins; figures are medians (min–max over the rounds in brackets).
- Publishers: ffmpeg (libsrt 1.5.1) `-stream_loop -1 -c copy` of a fixed {meta['src_seconds']} s MPEG-TS file at
  {meta['src_mbit']:.2f} Mbit/s (8 Mbit/s video, mux rate 8.4 Mbit/s), pkt_size 1316, latency 200 ms, to srt-live-transmit
  origins (one per flow); nginx stream `listen ... udp` with one worker; stream-proxy with its defaults (but session_rate and session_burst raised: every flow comes from 127.0.0.1){meta['srt_extra_note']}.
- Measured over a steady window of {meta['window']} s after {meta['warmup']} s of warm-up (handshake and close excluded).
  Relay CPU is the on-CPU time of all the relay's threads in the window (`/proc/PID/task/TID/schedstat`), per GiB
  delivered and per million data packets (delivered bytes / 1316); "user %" is its user-mode share (utime/stime).
  "others' CPU" is the machine's busy time not used by the relay, the peers or the bench (max over the rounds).
- "no readrate": ffmpeg reads as fast as the SRT socket takes the data, paced only by libsrt's `maxbw`
  ({meta['maxbw_mbit']} Mbit/s). With libsrt's default (maxbw -1, a 1 Gbit/s ceiling in live mode) or any pacing above
  ~250 Mbit/s, the sender stalls on this machine after its first send buffer (~10.6 MB, 8192 packets) on every path,
  direct included (ffmpeg blocks, nothing more is sent), so that setting measures nothing.

{table}
"""
    if a.results:
        write_section(a.results, section, "## SRT (bench/srt/run)")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(required=True)
    p = sub.add_parser("run")
    p.add_argument("--src", required=True)
    p.add_argument("--src-seconds", type=float, required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--proxy-bin", required=True)
    p.add_argument("--srt-extra", default="", help="extra keys for modules.srt in the proxy's config, e.g. ', read_delay: 0ms'")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--window", type=float, default=10.0)
    p.add_argument("--maxbw", type=int, default=25_000_000, help="libsrt maxbw (bytes/s) for the no-readrate scenario")
    p.add_argument("--scenarios", default="one:1:10 ten:10:1 unlimited:1:0", help="name:flows:readrate (readrate 0 = none)")
    p.set_defaults(f=cmd_run)
    p = sub.add_parser("report")
    p.add_argument("--jsonl", required=True)
    p.add_argument("--meta", required=True)
    p.add_argument("--maxbw-mbit", type=int, default=200)
    p.add_argument("--results", default="")
    p.set_defaults(f=cmd_report)
    a = ap.parse_args()
    a.f(a)


if __name__ == "__main__":
    main()
