"""Driver of bench/webrtc/run: starts the sink, the fake origin, stream-proxy and nginx stream,
makes the sessions through the proxy's signalling, runs the load generator per path and load,
and prints and records packets relayed per CPU second."""
import argparse, http.server, json, os, random, re, string, subprocess, sys, threading, time, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from benchlib import cpu_ticks, CLK_TCK, fail, listening, tree, write_section  # noqa: E402
import socket  # noqa: E402

SIZE = 1300


def free_ports(n):
    """n ports free for both TCP and UDP on 127.0.0.1."""
    out = []
    while len(out) < n:
        t = socket.socket()
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
            if port not in out:
                out.append(port)
        except OSError:
            pass
        t.close()
        u.close()
    return out


def fake_origin(port, sink_port):
    """Answers every WHIP offer with a new ufrag and one host candidate on the sink's port."""
    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            ufrag = "".join(random.choice(string.ascii_letters) for _ in range(8))
            body = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
                    "c=IN IP4 127.0.0.1\r\na=ice-ufrag:%s\r\na=ice-pwd:0123456789012345678901\r\n"
                    "a=candidate:1 1 udp 2130706431 127.0.0.1 %d typ host\r\n" % (ufrag, sink_port)).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/sdp")
            self.send_header("Location", "/whip/r/" + ufrag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def signal(api_port, n):
    users = []
    for i in range(n):
        ufrag = "c%07d" % i
        offer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-ufrag:%s\r\na=ice-pwd:x\r\n" % ufrag
        req = urllib.request.Request("http://127.0.0.1:%d/rtc/v1/whip/?app=live&stream=b%d" % (api_port, i), data=offer.encode(),
                                     headers={"Content-Type": "application/sdp"})
        answer = urllib.request.urlopen(req, timeout=10).read().decode()
        users.append(re.search(r"a=ice-ufrag:(\S+)", answer).group(1) + ":" + ufrag)
    return users


def run_load(a, target_port, sink_port, sessions, pps, users, pids):
    sink = subprocess.Popen([a.udpload, "sink", str(sink_port), str(a.seconds + 5)], stdout=subprocess.PIPE, text=True)
    if sink.stdout.readline().strip() != "sink ready":
        fail("the sink did not start")
    t0 = cpu_ticks(pids) if pids else 0
    out = subprocess.run([a.udpload, "send", str(target_port), str(sessions), str(pps), str(a.seconds), str(SIZE)] + users,
                         capture_output=True, text=True, check=True).stdout
    # The sink also gets each session's Binding Request (relayed like any datagram): not load.
    received = int(sink.communicate()[0].split()[-1]) - len(users)
    cpu = (cpu_ticks(pids) - t0) / CLK_TCK if pids else 0.0
    sent = int(out.split()[-1])
    return sent, received, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin"), ap.add_argument("--udpload"), ap.add_argument("--work"), ap.add_argument("--results")
    ap.add_argument("--seconds", type=float, default=5)
    a = ap.parse_args()
    sys_port, api_port, udp_port, origin_port, nginx_port, sink_port = free_ports(6)
    fake_origin(origin_port, sink_port)
    conf = os.path.join(a.work, "proxy.yaml")
    with open(conf, "w") as f:
        f.write("system_api: { listen: 127.0.0.1:%d }\nmodules:\n  rtmp: { enabled: false }\n  http-flv: { enabled: false }\n"
                "  srt: { enabled: false }\n  webrtc: { enabled: true, api_listen: 127.0.0.1:%d, udp_listen: 127.0.0.1:%d, candidate: 127.0.0.1, session_rate: 100000, session_burst: 100000 }\n"
                % (sys_port, api_port, udp_port))
    proxy = subprocess.Popen([a.bin, "--config", conf], stdout=open(os.path.join(a.work, "proxy.log"), "w"), stderr=subprocess.STDOUT)
    nconf = os.path.join(a.work, "nginx.conf")
    with open(nconf, "w") as f:
        f.write("load_module /usr/lib/nginx/modules/ngx_stream_module.so;\ndaemon off;\nuser root;\nmaster_process on;\nworker_processes auto;\n"
                "pid %s/nginx.pid;\nerror_log stderr error;\nevents { worker_connections 4096; }\nstream {\n  server {\n"
                "    listen 127.0.0.1:%d udp;\n    proxy_pass 127.0.0.1:%d;\n    proxy_responses 0;\n    proxy_timeout 30s;\n  }\n}\n"
                % (a.work, nginx_port, sink_port))
    nginx = subprocess.Popen(["nginx", "-p", a.work, "-c", nconf], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if listening(sys_port) and listening(api_port):
                break
            time.sleep(0.1)
        else:
            fail("stream-proxy did not start: " + open(os.path.join(a.work, "proxy.log")).read())
        reg = json.dumps({"ip": "127.0.0.1", "server": "bench", "service": "fake", "pid": "1", "api": [str(origin_port)],
                          "rtc": ["udp://127.0.0.1:%d" % sink_port]}).encode()
        urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%d/api/v1/srs/register" % sys_port, data=reg), timeout=5).read()
        rows = []
        loads = [("1 session, max rate", 1, 0), ("50 sessions, max rate", 50, 0), ("50 sessions x 2 Mbit/s", 50, 2_000_000 / 8 / SIZE)]
        for label, sessions, pps in loads:
            for path in ("direct", "stream-proxy", "nginx stream"):
                if path == "direct":
                    r = run_load(a, sink_port, sink_port, sessions, pps, [], None)
                elif path == "stream-proxy":
                    r = run_load(a, udp_port, sink_port, sessions, pps, signal(api_port, sessions), tree(proxy.pid))
                else:
                    r = run_load(a, nginx_port, sink_port, sessions, pps, [], tree(nginx.pid))
                sent, received, cpu = r
                per_cpu = received / cpu if cpu > 0 else 0
                rows.append((label, path, sent, received, cpu, per_cpu))
                print("%-24s %-13s sent %9d received %9d loss %6.2f%% cpu %6.2f s  %s pkt/CPU-s" % (
                    label, path, sent, received, 100 * (sent - received) / max(sent, 1), cpu, "%.0f" % per_cpu if cpu else "-"), flush=True)
        head = "## WebRTC (bench/webrtc/run)"
        lines = [head, "", "UDP datagrams of %d bytes, %g s per load, 127.0.0.1, %d cores; stream-proxy sessions made through its WHIP "
                 "signalling, then STUN Binding Request + RTP-like datagrams (bench/webrtc/udpload.c, sendmmsg) to a counting sink. "
                 "pkt/CPU-s = datagrams that reached the sink / the relay's CPU seconds (user+sys from /proc)." % (SIZE, a.seconds, os.cpu_count()), "",
                 "| load | path | sent | received | loss | relay CPU s | pkt per CPU-s |", "|---|---|---:|---:|---:|---:|---:|"]
        for label, path, sent, received, cpu, per_cpu in rows:
            lines.append("| %s | %s | %d | %d | %.2f%% | %s | %s |" % (label, path, sent, received, 100 * (sent - received) / max(sent, 1),
                                                                  "%.2f" % cpu if cpu else "-", "%.0f" % per_cpu if cpu else "-"))
        write_section(a.results, "\n".join(lines) + "\n", head)
    finally:
        proxy.terminate()
        nginx.terminate()
        proxy.wait(timeout=30)


if __name__ == "__main__":
    main()
