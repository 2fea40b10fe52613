#!/usr/bin/env python3
"""SRT benchmark (bench/srt/run): ffmpeg callers publish a fixed 8 Mbit/s MPEG-TS file to
srt-live-transmit origins directly, through stream-proxy, and through nginx's stream module
(`listen ... udp`, an L4 UDP relay), in the same run. Reports delivered bytes (vs the bytes the
origin got on the direct path), bitrate, and the relay's CPU seconds per GiB and per million
packets (utime+stime from /proc/PID/stat; packets = delivered bytes / 1316, the data packets)."""

import argparse, json, os, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import benchlib  # noqa: E402


def free_udp_ports(n):
    import socket
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def start_origins(n, work, tag):
    ports = free_udp_ports(n)
    procs, files = [], []
    for i, p in enumerate(ports):
        out = os.path.join(work, f"{tag}-{i}.ts")
        f = open(out, "wb")
        procs.append(subprocess.Popen(["srt-live-transmit", "-a:no", "-q", f"srt://127.0.0.1:{p}?mode=listener&latency=200", "file://con"],
                                      stdout=f, stderr=subprocess.DEVNULL))
        files.append(out)
    time.sleep(0.3)
    return ports, procs, files


def run_flows(targets, src, readrate, stream_ids):
    cmds = []
    for (port, sid) in zip(targets, stream_ids):
        rate = ["-readrate", str(readrate)] if readrate else []
        cmds.append(subprocess.Popen(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error"] + rate + ["-i", src, "-c", "copy", "-f", "mpegts",
                     f"srt://127.0.0.1:{port}?streamid={sid}&latency=200000&pkt_size=1316"], stdin=subprocess.DEVNULL))
    t0 = time.time()
    for c in cmds:
        c.wait()
    return time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--proxy-pid", type=int, required=True)
    ap.add_argument("--proxy-port", type=int, required=True)
    ap.add_argument("--api", required=True)
    ap.add_argument("--nginx-pid", type=int, required=True)
    ap.add_argument("--nginx-conf", required=True)
    ap.add_argument("--nginx-ports", required=True, help="comma-separated listen ports written into the nginx config")
    ap.add_argument("--scenario", required=True, help="name:flows:readrate (readrate 0 = no limit)")
    a = ap.parse_args()
    name, flows, readrate = a.scenario.split(":")
    flows, readrate = int(flows), float(readrate)
    results = []
    for path in ["direct", "stream-proxy", "nginx-udp"]:
        ports, origins, files = start_origins(flows, a.work, f"{name}-{path}")
        sids = [f"#!::r=live/{name}-{path}-{i},m=publish" for i in range(flows)]
        if path == "direct":
            targets, pid = ports, None
        elif path == "stream-proxy":
            for i, p in enumerate(ports):
                body = json.dumps({"ip": "127.0.0.1", "server": f"o{i}{name}", "service": "slt", "pid": str(origins[i].pid), "srt": [str(p)]})
                subprocess.run(["curl", "-s", "-o", "/dev/null", "-X", "POST", f"{a.api}/api/v1/srs/register", "-d", body], check=True)
            targets, pid = [a.proxy_port] * flows, a.proxy_pid
        else:
            # nginx maps its listen port i to origin i: rewrite its config and reload.
            lp = [int(x) for x in a.nginx_ports.split(",")][:flows]
            servers = "".join(f"server {{ listen 127.0.0.1:{l} udp; proxy_pass 127.0.0.1:{o}; proxy_timeout 10s; }}\n" for l, o in zip(lp, ports))
            with open(a.nginx_conf) as f:
                conf = f.read()
            head = conf.split("stream {")[0]
            with open(a.nginx_conf, "w") as f:
                f.write(head + "stream {\n" + servers + "}\n")
            os.kill(a.nginx_pid, 1)
            time.sleep(1.0)
            targets, pid = lp, a.nginx_pid
        pids = benchlib.tree(pid) if pid else []
        cpu0 = benchlib.cpu_ticks(pids) if pid else 0
        wall = run_flows(targets, a.src, readrate, sids)
        for o in origins:
            try:
                o.wait(timeout=15)
            except subprocess.TimeoutExpired:
                o.kill()
        pids = benchlib.tree(pid) if pid else []
        cpu = (benchlib.cpu_ticks(pids) - cpu0) / benchlib.CLK_TCK if pid else 0.0
        delivered = sum(os.path.getsize(f) for f in files)
        results.append({"scenario": name, "path": path, "flows": flows, "readrate": readrate, "bytes": delivered, "wall_s": round(wall, 2),
                        "mbit_s": round(delivered * 8 / wall / 1e6, 1) if wall > 0 else 0, "cpu_s": round(cpu, 2),
                        "cpu_s_per_gib": round(cpu / (delivered / 2**30), 2) if pid and delivered else None,
                        "cpu_s_per_mpkt": round(cpu / (delivered / 1316 / 1e6), 2) if pid and delivered else None})
        for f in files:
            os.remove(f)
    direct = results[0]["bytes"]
    offered = flows * os.path.getsize(a.src)
    for r in results:
        r["delivered_pct"] = round(100.0 * r["bytes"] / direct, 1) if direct else None
        r["of_input_pct"] = round(100.0 * r["bytes"] / offered, 1)
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
