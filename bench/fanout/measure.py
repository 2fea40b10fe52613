#!/usr/bin/env python3
"""Measuring helper for bench/fanout/run (python3 standard library only).

Subcommands (each prints one JSON object or plain lines on stdout, errors on stderr, exit 1 on failure):

  freeports N                     N distinct free TCP ports on 127.0.0.1, one per line
  waitlisten PORT TIMEOUT         wait until something listens on 127.0.0.1:PORT (reads /proc/net/tcp)
  busy SECONDS                    percent of the machine's CPU (all cores) in use over SECONDS
  waithls PORT TARGET TIMEOUT     wait until the HLS playlist TARGET lists at least 2 segments
  flv-load ...                    one HTTP-FLV run (scenarios A, B, D): a primer holding the stream at the
                                  origin, N players in --procs worker processes for --settle + --hold
                                  seconds; relay/origin CPU and RSS, origin /stats, the relay's /metrics
  hls-load ...                    one HLS run (scenario C): N players polling the playlist and fetching
                                  every new segment; origin requests per segment from nginx's access log
  flv-worker / hls-worker ...     (internal) the players of one worker process; one JSON line when done
  report ...                      medians, the results tables (stdout) and the RESULTS.md section

Times: every process uses CLOCK_MONOTONIC (time.monotonic(), asyncio's loop.time()), which is one clock
for the whole machine, so the load process hands its workers absolute times: connect from T0 over RAMP
seconds, the measured window (the hold) from WS to WE. CPU is the on-CPU time of every thread of a
process tree (/proc/PID/task/TID/schedstat); "others" is the machine's busy time in the window minus
that of the bench's whole process tree (the driver script and everything it started).
"""

import argparse
import asyncio
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from benchlib import (alive, cmd_busy, cmd_freeports, cmd_waitlisten, cpu_ns, fail, fmt,  # noqa: E402
                      machine_busy_s, ratio, rss_kib, tree, write_section)

GIB = 1024 ** 3
READ_SIZE = 1 << 20   # one shared receive buffer per worker process (the bytes are discarded)
SLOW_TICK = 0.1       # slow players get a read budget every SLOW_TICK seconds


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < want:
        fail(f"needs {want} descriptors, the hard limit is {hard}")


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(p / 100 * len(v) + 0.5)) - 1))]


def med(values):
    return statistics.median(values) if values else None


def http_get(port, target, timeout=3.0):
    """(status, body) of GET http://127.0.0.1:PORT/TARGET, or (None, b"") when it cannot be reached."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{target}", timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""
    except (OSError, ValueError):
        return None, b""


def origin_stats(port):
    status, body = http_get(port, "/stats")
    if status != 200:
        fail(f"the live FLV origin's /stats answered {status}")
    return json.loads(body)


METRIC = re.compile(r"^(?:stream_proxy_)?(http_flv_(?:fanout|hls_cache)_[a-z_]+)(?:\{[^}]*\})?\s+(\S+)")


def scrape(api_port):
    """The fan-out and HLS-cache families of the relay's /metrics (summed over labels); {} when absent."""
    if not api_port:
        return {}
    status, body = http_get(api_port, "/metrics")
    if status != 200:
        return {}
    out = {}
    for line in body.decode("utf-8", "replace").splitlines():
        m = METRIC.match(line)
        if m:
            try:
                out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(2))
            except ValueError:
                pass
    return out


def metric_delta(m0, m1, gauges, family):
    """Counters (…_total) as their increase over the run, gauges as read halfway through the hold; only
    the scenario's family (fanout or hls_cache)."""
    out = {}
    for k, v in m1.items():
        if f"_{family}_" not in k:
            continue
        out[k] = v - m0.get(k, 0.0) if k.endswith("_total") else gauges.get(k, v)
    return out


def cmd_waithls(a):
    deadline = time.monotonic() + a.timeout
    last = None
    while time.monotonic() < deadline:
        status, body = http_get(a.port, a.target)
        last = status
        if status == 200 and sum(1 for ln in body.decode("latin-1").splitlines() if ln and not ln.startswith("#")) >= 2:
            return
        time.sleep(0.25)
    fail(f"no HLS playlist with 2 segments at 127.0.0.1:{a.port}{a.target} after {a.timeout} s (last status {last})")


# ---------------------------------------------------------------- HTTP-FLV players (flv-worker)

class FlvPlayer(asyncio.BufferedProtocol):
    """One HTTP-FLV player: parses the response head and its framing (chunked, Content-Length or up to
    the close), then walks the FLV tags by their headers only (and the first two data bytes of audio
    and video tags, which say keyframe / sequence header), counting payload bytes. Slow players read
    at most `budget` bytes per SLOW_TICK."""

    BUF = memoryview(bytearray(READ_SIZE))

    def __init__(self, w, slow):
        self.w = w
        self.slow = slow
        self.budget = w.slow_budget if slow else READ_SIZE
        self.paused = False
        self.transport = None
        self.t_connect = None
        self.t_head = None
        self.error = None
        self.closed = False
        # HTTP
        self.state = "head"
        self.head = bytearray()
        self.line = bytearray()
        self.remaining = 0
        self.after_chunk = False
        self.framing = None
        # FLV
        self.payload = 0
        self.bytes_ws = None
        self.bytes_we = None
        self.fstate = "sig"
        self.need = 9
        self.hbuf = bytearray()
        self.skip = 0
        self.cur = None
        self.first_video_key = None
        self.first_kf = None
        self.video_tags = 0
        self.dmin_start = None
        self.dmin_end = None
        self.now = 0.0

    # -- transport

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.w.request)

    def get_buffer(self, sizehint):
        return self.BUF if not self.slow else self.BUF[:max(1, min(READ_SIZE, self.budget))]

    def buffer_updated(self, n):
        if self.error is not None:
            return
        self.now = self.w.loop.time()
        if self.slow:
            self.budget -= n
            if self.budget <= 0 and not self.paused:
                self.paused = True
                self.transport.pause_reading()
        try:
            self._http(self.BUF[:n])
        except ValueError as e:
            self._fail(f"bad response: {e}")

    def refill(self):
        self.budget = self.w.slow_budget
        if self.paused and not self.closed and self.error is None:
            self.paused = False
            self.transport.resume_reading()

    def eof_received(self):
        self._ended("the server closed the connection")
        return False

    def connection_lost(self, exc):
        self.closed = True
        if not self.w.stopping:
            self._ended(f"connection lost ({exc})" if exc else "the server closed the connection")

    def _ended(self, why):
        if self.w.stopping or self.error is not None:
            return
        self._fail(f"{why} {self.now - self.w.t0:.1f} s into the run, after {self.payload} payload bytes")

    def _fail(self, msg):
        if self.error is None:
            self.error = msg
        if self.transport is not None:
            self.transport.abort()

    # -- HTTP framing

    def _http(self, data):
        pos, n = 0, len(data)
        while pos < n:
            st = self.state
            if st == "data" or st == "length":
                take = min(self.remaining, n - pos)
                self._flv(data[pos:pos + take])
                pos += take
                self.remaining -= take
                if self.remaining == 0:
                    if st == "length":
                        return self._ended("the response ended (Content-Length)")
                    self.state, self.after_chunk = "line", True
            elif st == "close":
                self._flv(data[pos:])
                return
            elif st == "head":
                prev = len(self.head)
                self.head += data[pos:]
                i = self.head.find(b"\r\n\r\n")
                if i < 0:
                    if len(self.head) > 65536:
                        raise ValueError("response head over 64 KiB")
                    return
                pos += i + 4 - prev
                del self.head[i + 4:]
                self._parse_head()
                if self.error is not None:
                    return
            else:  # "line": a chunk size, or the CRLF after a chunk
                chunk = bytes(data[pos:pos + 256])
                j = chunk.find(b"\n")
                if j < 0:
                    self.line += chunk
                    pos += len(chunk)
                    if len(self.line) > 1024:
                        raise ValueError("chunk line over 1 KiB")
                    continue
                self.line += chunk[:j]
                pos += j + 1
                line = bytes(self.line).rstrip(b"\r")
                self.line.clear()
                if self.after_chunk:
                    if line:
                        raise ValueError("no CRLF after a chunk")
                    self.after_chunk = False
                else:
                    size = int(line.split(b";")[0].strip(), 16)
                    if size == 0:
                        return self._ended("the response ended (chunked terminator)")
                    self.state, self.remaining = "data", size

    def _parse_head(self):
        self.t_head = self.now
        lines = bytes(self.head).decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ValueError(f"status line {lines[0][:80]!r}")
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if status != 200:
            return self._fail(f"status {status}")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self.framing, self.state = "chunked", "line"
        elif "content-length" in headers:
            self.framing, self.state = "length", "length"
            self.remaining = int(headers["content-length"])
        else:
            self.framing, self.state = "close", "close"

    # -- FLV

    def _flv(self, mv):
        n = len(mv)
        self.payload += n
        pos = 0
        while pos < n:
            if self.skip:
                take = min(self.skip, n - pos)
                self.skip -= take
                pos += take
                continue
            take = min(self.need - len(self.hbuf), n - pos)
            self.hbuf += mv[pos:pos + take]
            pos += take
            if len(self.hbuf) < self.need:
                return
            h = self.hbuf
            if self.fstate == "tag":
                ttype = h[0] & 0x1F
                size = (h[1] << 16) | (h[2] << 8) | h[3]
                ts = ((h[4] << 16) | (h[5] << 8) | h[6]) | (h[7] << 24)
                if ttype not in (8, 9, 18):
                    raise ValueError(f"FLV tag type {ttype} after {self.payload} bytes")
                if ttype != 18 and size > 0:
                    self.cur = (ttype, size, ts)
                    self.fstate, self.need = "data", min(2, size)
                else:
                    self.skip = size + 4
                    self.need = 11
                h.clear()
            elif self.fstate == "data":
                ttype, size, ts = self.cur
                if ttype == 9:
                    self._video(h[0], h[1] if len(h) > 1 else None, ts)
                self.skip = size - len(h) + 4
                self.fstate, self.need = "tag", 11
                h.clear()
            else:  # "sig"
                if bytes(h[:3]) != b"FLV":
                    raise ValueError(f"the body does not start with an FLV signature ({bytes(h[:9])!r})")
                self.skip = int.from_bytes(h[5:9], "big") - 9 + 4
                self.fstate, self.need = "tag", 11
                h.clear()

    def _video(self, b0, b1, ts):
        if b0 & 0x80:
            seq = b0 & 0x0F == 0
        else:
            seq = b0 & 0x0F in (7, 12) and b1 == 0
        if seq:
            return
        key = (b0 >> 4) & 0x07 == 1
        if self.first_video_key is None:
            self.first_video_key = key
        if key and self.first_kf is None:
            self.first_kf = self.now - self.t_connect
        self.video_tags += 1
        # Latency: arrival minus the tag's media time; its minimum over the first and the last
        # DRIFT_SPAN seconds of the hold (the minimum filters the batching jitter).
        w = self.w
        now = self.now
        if w.ws <= now <= w.ws + w.span:
            d = now - ts / 1000.0
            if self.dmin_start is None or d < self.dmin_start:
                self.dmin_start = d
        elif w.we - w.span <= now <= w.we:
            d = now - ts / 1000.0
            if self.dmin_end is None or d < self.dmin_end:
                self.dmin_end = d


class FlvWorker:
    def __init__(self, a):
        self.a = a
        self.loop = None
        self.t0, self.ws, self.we = a.t0, a.ws, a.we
        self.span = min(3.0, max(0.5, (a.we - a.ws) / 4))
        self.slow_budget = max(1, int(a.slow_bps * SLOW_TICK))
        self.stopping = False
        self.request = (f"GET {a.target} HTTP/1.1\r\nHost: 127.0.0.1:{a.port}\r\nUser-Agent: bench-fanout\r\n"
                        f"Accept: */*\r\n\r\n").encode()
        self.players = []

    async def connect(self, p, at):
        await asyncio.sleep(max(0.0, at - self.loop.time()))
        p.t_connect = self.loop.time()
        p.now = p.t_connect
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if p.slow:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.a.slow_rcvbuf)
        s.setblocking(False)
        try:
            await self.loop.sock_connect(s, ("127.0.0.1", self.a.port))
            await self.loop.create_connection(lambda: p, sock=s)
        except OSError as e:
            s.close()
            p.error = f"connect failed: {e}"

    async def run(self):
        self.loop = asyncio.get_running_loop()
        a = self.a
        n = a.players
        for i in range(n):  # the slow ones spread evenly over the connect order
            self.players.append(FlvPlayer(self, (i * a.slow) // n != ((i + 1) * a.slow) // n))
        slow = [p for p in self.players if p.slow]
        ticker = None
        if slow:
            def tick():
                nonlocal ticker
                for p in slow:
                    p.refill()
                ticker = self.loop.call_later(SLOW_TICK, tick)
            tick()

        def snap(attr):
            for p in self.players:
                setattr(p, attr, p.payload)
        self.loop.call_at(self.ws, snap, "bytes_ws")
        cpu = {}
        self.loop.call_at(self.ws, lambda: cpu.__setitem__("ws", time.process_time()))
        tasks = [asyncio.ensure_future(self.connect(p, self.t0 + a.ramp * i / max(1, n))) for i, p in enumerate(self.players)]
        await asyncio.sleep(max(0.0, self.we - self.loop.time()))
        snap("bytes_we")
        cpu["we"] = time.process_time()
        self.stopping = True
        if ticker:
            ticker.cancel()
        for t in tasks:
            t.cancel()
        for p in self.players:
            if p.transport is not None:
                p.transport.abort()
        await asyncio.sleep(0.05)
        out = []
        for p in self.players:
            wb = None if p.bytes_ws is None or p.bytes_we is None else p.bytes_we - p.bytes_ws
            drift = None if p.dmin_start is None or p.dmin_end is None else round(p.dmin_end - p.dmin_start, 4)
            out.append([int(p.slow), p.error, None if p.first_kf is None else round(p.first_kf, 4), p.first_video_key,
                        wb, drift, p.payload, p.framing, p.video_tags])
        return {"players": out, "cpu_s": round(cpu.get("we", 0) - cpu.get("ws", 0), 4)}


def cmd_flv_worker(a):
    raise_nofile(a.players + 64)
    result = asyncio.run(FlvWorker(a).run())
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    sys.stdin.read()  # stays alive (its CPU counted as the bench's) until the load process has read /proc


# ---------------------------------------------------------------- HLS players (hls-worker)

class HLSPlayer:
    """One HLS player on one keep-alive connection (reopened when the server closes it): reloads the
    playlist every POLL seconds, fetches each segment it has not fetched yet (the newest one only at
    the first load), follows redirects (stream-proxy's 302 to ?spsid=)."""

    def __init__(self, w):
        self.w = w
        self.reader = self.writer = None
        self.error = None
        self.redirects = 0
        self.playlists = 0
        self.segments = 0
        self.segments_window = 0
        self.bytes_window = 0
        self.bytes = 0

    async def close(self):
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def request(self, target, keep_body):
        """(status, headers, body or None); counts body bytes (those read inside the hold separately)."""
        w = self.w
        for attempt in (1, 2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", w.a.port, limit=1 << 20)
                fresh = True
            else:
                fresh = False
            self.writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{w.a.port}\r\nUser-Agent: bench-fanout\r\n"
                              f"Accept: */*\r\n\r\n".encode())
            try:
                head = await self.reader.readuntil(b"\r\n\r\n")
                break
            except (asyncio.IncompleteReadError, ConnectionError):
                await self.close()
                if fresh or attempt == 2:
                    raise
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        body = bytearray() if keep_body else None
        loop = w.loop

        def count(data):
            self.bytes += len(data)
            now = loop.time()
            if w.a.ws <= now <= w.a.we:
                self.bytes_window += len(data)
            if body is not None:
                body.extend(data)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                left = size
                while left:
                    data = await self.reader.read(min(left, 1 << 18))
                    if not data:
                        raise ConnectionError("connection closed mid-chunk")
                    left -= len(data)
                    count(data)
                await self.reader.readexactly(2)
        elif "content-length" in headers:
            left = int(headers["content-length"])
            while left:
                data = await self.reader.read(min(left, 1 << 18))
                if not data:
                    raise ConnectionError("connection closed mid-body")
                left -= len(data)
                count(data)
        elif status not in (204, 304) and not (100 <= status < 200):
            while data := await self.reader.read(1 << 18):
                count(data)
            await self.close()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, headers, body

    async def run(self, start_at):
        w = self.w
        loop = w.loop
        await asyncio.sleep(max(0.0, start_at - loop.time()))
        target = w.a.target
        last_seq = None
        try:
            while loop.time() < w.a.we:
                t_poll = loop.time()
                status, headers, body = await self.request(target, True)
                if status in (301, 302, 303, 307, 308):
                    self.redirects += 1
                    if self.redirects > 10:
                        raise ValueError("more than 10 redirects")
                    target = resolve(target, headers.get("location", ""))
                    continue
                if status != 200:
                    raise ValueError(f"playlist {target}: status {status}")
                self.playlists += 1
                seq0, uris = parse_playlist(body.decode("latin-1"))
                if not uris:
                    raise ValueError(f"playlist {target} lists no segment")
                items = list(enumerate(uris, seq0))
                if last_seq is None:
                    items = items[-1:]
                for seq, uri in items:
                    if last_seq is not None and seq <= last_seq:
                        continue
                    status, _, _ = await self.request(resolve(target, uri), False)
                    if status != 200:
                        raise ValueError(f"segment {uri}: status {status}")
                    self.segments += 1
                    if w.a.ws <= loop.time() <= w.a.we:
                        self.segments_window += 1
                    last_seq = seq
                    if loop.time() >= w.a.we:
                        break
                await asyncio.sleep(max(0.0, min(t_poll + w.a.poll, w.a.we) - loop.time()))
        except asyncio.CancelledError:
            pass
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
            if loop.time() < w.a.we:
                self.error = f"{type(e).__name__}: {e} {loop.time() - w.a.t0:.1f} s into the run"
        finally:
            await self.close()


def resolve(base, ref):
    u = urllib.parse.urlsplit(urllib.parse.urljoin("http://h" + base, ref))
    return u.path + ("?" + u.query if u.query else "")


def parse_playlist(text):
    seq0, uris = 0, []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            seq0 = int(line.split(":", 1)[1])
        elif line and not line.startswith("#"):
            uris.append(line)
    return seq0, uris


class HLSWorker:
    def __init__(self, a):
        self.a = a
        self.loop = None

    async def run(self):
        self.loop = asyncio.get_running_loop()
        a = self.a
        players = [HLSPlayer(self) for _ in range(a.players)]
        cpu = {}
        self.loop.call_at(a.ws, lambda: cpu.__setitem__("ws", time.process_time()))
        tasks = [asyncio.ensure_future(p.run(a.t0 + a.ramp * i / max(1, a.players))) for i, p in enumerate(players)]
        await asyncio.sleep(max(0.0, a.we - self.loop.time()))
        cpu["we"] = time.process_time()
        await asyncio.sleep(0.5)  # a fetch under way at the end finishes (its bytes count up to WE only)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return {"players": [[p.error, p.segments_window, p.bytes_window, p.playlists, p.redirects, p.segments]
                            for p in players],
                "cpu_s": round(cpu.get("we", 0) - cpu.get("ws", 0), 4)}


def cmd_hls_worker(a):
    raise_nofile(a.players + 64)
    result = asyncio.run(HLSWorker(a).run())
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    sys.stdin.read()


# ---------------------------------------------------------------- the load process (flv-load, hls-load)

class Primer(threading.Thread):
    """One player straight at the origin that holds the stream from before the run until its end, so
    the origin's source (one ffmpeg) is running when the players come and they join it live."""

    def __init__(self, port, target):
        super().__init__(daemon=True)
        self.port, self.target = port, target
        self.got = 0
        self.stop = threading.Event()
        self.error = None
        self.sock = None
        self.got_ws = 0

    def run(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=15)
            self.sock = s
            s.sendall(f"GET {self.target} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUser-Agent: bench-fanout-primer\r\n\r\n".encode())
            buf = bytearray(1 << 16)
            while not self.stop.is_set():
                n = s.recv_into(buf)
                if not n:
                    if not self.stop.is_set():
                        self.error = f"the origin ended the stream after {self.got} bytes"
                    return
                self.got += n
        except OSError as e:
            if not self.stop.is_set():
                self.error = f"{type(e).__name__}: {e}"

    def close(self):
        self.stop.set()
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()


def spawn_workers(a, sub, per_worker_args):
    procs = []
    for extra in per_worker_args:
        procs.append(subprocess.Popen([sys.executable, os.path.abspath(__file__), sub, *extra],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    return procs


def collect_workers(procs, timeout, what):
    results = []
    deadline = time.monotonic() + timeout
    for p in procs:
        line = None
        # Each worker prints one line then waits for its stdin to close.
        box = []
        t = threading.Thread(target=lambda: box.append(p.stdout.readline()), daemon=True)
        t.start()
        t.join(max(0.1, deadline - time.monotonic()))
        line = box[0] if box else None
        if not line:
            for q in procs:
                q.kill()
            fail(f"{what}: a player process (pid {p.pid}) gave no result (exit {p.poll()})")
        results.append(json.loads(line))
    for p in procs:
        try:
            p.stdin.close()
        except OSError:
            pass
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
    return results


def split(n, k):
    k = max(1, min(k, n))
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


class Window:
    """CPU, RSS and busy readings at the window's start and end, RSS sampled in between."""

    def __init__(self, a, relay):
        self.a = a
        self.relay = relay
        self.rss_max = 0

    def snapshot(self):
        origin = tree(self.a.origin_root)
        return {"relay": cpu_ns(self.relay) if self.relay else 0,
                "origin": cpu_ns([self.a.origin_root]), "origin_tree": cpu_ns(origin),
                "bench": cpu_ns(tree(self.a.bench_root)), "busy": machine_busy_s(), "irq": irq_s(), "t": time.monotonic()}

    def hold(self, ws, we, primer=None, mid=None):
        """Readings at WS (returned), RSS sampled until WE; `mid` is called once halfway."""
        time.sleep(max(0.0, ws - time.monotonic()))
        s0 = self.snapshot()
        if primer is not None:
            primer.got_ws = primer.got
        half = ws + (we - ws) / 2
        while time.monotonic() < we:
            if mid is not None and time.monotonic() >= half:
                mid()
                mid = None
            if self.relay:
                self.rss_max = max(self.rss_max, rss_kib(self.relay))
            time.sleep(min(0.25, max(0.0, we - time.monotonic())))
        if self.relay:
            self.rss_max = max(self.rss_max, rss_kib(self.relay))
        return s0

    def delta(self, s0, s1):
        busy = s1["busy"] - s0["busy"]
        ours = (s1["bench"] - s0["bench"]) / 1e9
        wall = s1["t"] - s0["t"]
        irq = s1["irq"] - s0["irq"]
        other = max(0.0, busy - ours - irq)
        return {"irq_cpu_s": irq, "irq_cpu_pct": 100 * irq / (wall * os.cpu_count()),"relay_cpu_s": (s1["relay"] - s0["relay"]) / 1e9, "origin_cpu_s": (s1["origin"] - s0["origin"]) / 1e9,
                "origin_tree_cpu_s": (s1["origin_tree"] - s0["origin_tree"]) / 1e9,
                "other_cpu_s": other, "other_cpu_pct": 100 * other / (wall * os.cpu_count()), "wall_s": wall}


def irq_s():
    """Machine time in hard and soft interrupts (/proc/stat), in seconds: loopback TCP is processed in
    softirq context, which no process's schedstat includes."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[5] + v[6]) / os.sysconf("SC_CLK_TCK")


def schedule(a):
    t0 = time.monotonic() + 1.0  # the workers' start-up
    ws = t0 + a.ramp + a.settle
    return t0, ws, ws + a.hold


def cmd_flv_load(a):
    raise_nofile(256)
    what = f"scenario {a.scenario}, {a.path}"
    relay = tree(a.relay_root) if a.relay_root else []
    if a.relay_root and not relay:
        fail(f"{what}: relay process {a.relay_root} is not running")
    primer = Primer(a.origin_port, a.target)
    primer.start()
    deadline = time.monotonic() + 15
    while primer.got < 4096 and primer.error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if primer.got < 4096:
        fail(f"{what}: the origin's source did not start ({primer.error or 'no bytes after 15 s'})")
    time.sleep(a.warm)  # the source runs for a while: the players join it at an arbitrary point of a GOP
    stats0 = origin_stats(a.origin_port)
    m0 = scrape(a.metrics_port)
    rss0 = rss_kib(relay) if relay else 0
    path_primer = None
    if a.join == "warm":
        # One player through the path under test first, held until the end: the players join a stream
        # the path already carries (through fan-out: an upstream with a GOP in its cache). Until the
        # first keyframe a player gets only the FLV header and the sequence headers (under 32 KiB).
        path_primer = Primer(a.port, a.target)
        path_primer.start()
        deadline = time.monotonic() + 15
        while path_primer.got < 32768 and path_primer.error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if path_primer.got < 32768:
            fail(f"{what}: the path primer got no keyframe ({path_primer.error or 'under 32 KiB after 15 s'})")
        time.sleep(0.5)
    t0, ws, we = schedule(a)
    sizes = split(a.players, a.procs)
    slows = split(a.slow, len(sizes)) if a.slow else [0] * len(sizes)
    common = ["--port", str(a.port), "--target", a.target, "--t0", repr(t0), "--ramp", repr(a.ramp * 1.0),
              "--ws", repr(ws), "--we", repr(we), "--slow-bps", str(a.slow_bps), "--slow-rcvbuf", str(a.slow_rcvbuf)]
    procs = spawn_workers(a, "flv-worker", [common + ["--players", str(n), "--slow", str(min(s, n))]
                                            for n, s in zip(sizes, slows)])
    win = Window(a, relay)
    gauges = {}
    s0 = win.hold(ws, we, primer, lambda: gauges.update(scrape(a.metrics_port)))
    primer_window = primer.got - primer.got_ws  # what the source sent in the hold (and chunk framing, ~0.1%)
    s1 = win.snapshot()
    m1 = scrape(a.metrics_port)
    stats1 = origin_stats(a.origin_port)
    results = collect_workers(procs, a.timeout, what)
    primer.close()
    if primer.error:
        fail(f"{what}: the primer (a direct player holding the source) failed: {primer.error}")
    if path_primer is not None:
        path_primer.close()
        if path_primer.error:
            fail(f"{what}: the path primer (a player through the path holding the stream) failed: {path_primer.error}")
    if a.relay_root and not alive(a.relay_root):
        fail(f"{what}: relay process {a.relay_root} died during the run")
    d = win.delta(s0, s1)

    players = [p for r in results for p in r["players"]]
    normal = [p for p in players if not p[0]]
    slow = [p for p in players if p[0]]
    errors = [p[1] for p in normal if p[1]]
    if errors:
        fail(f"{what}: {len(errors)} of {len(normal)} players failed; first: {errors[0]}")
    no_video = [p for p in players if p[3] is None and not (p[0] and p[1])]
    if no_video:
        fail(f"{what}: {len(no_video)} players received no video tag at all")
    not_key = [p for p in players if p[3] is False]
    if not_key:
        fail(f"{what}: {len(not_key)} of {len(players)} players' first video tag after the sequence headers "
             f"was not a keyframe")
    if any(p[4] is None for p in normal):
        fail(f"{what}: a player had no byte count for the window")
    hold = we - ws
    window_bytes = sum(p[4] or 0 for p in players)
    gib = window_bytes / GIB
    ttk = [p[2] * 1000 for p in normal if p[2] is not None]
    mbit = [p[4] * 8 / hold / 1e6 for p in normal]
    # A player's bytes in the hold over the source's (the primer's, straight from the origin, in the same
    # window): ~1.0 for a player that keeps up, whatever the encoder's bitrate did in that window.
    share = [p[4] / primer_window for p in normal] if primer_window else []
    slow_share = [(p[4] or 0) / primer_window for p in slow] if primer_window else []
    drift = [p[5] * 1000 for p in normal if p[5] is not None]
    slow_mbit = [(p[4] or 0) * 8 / hold / 1e6 for p in slow]
    path_reqs = stats1["requests"].get(a.target.split("?")[0], 0) - stats0["requests"].get(a.target.split("?")[0], 0)
    rss_per = (win.rss_max - rss0) / a.players if relay else None
    players_cpu = sum(r["cpu_s"] for r in results)
    print(json.dumps({
        "kind": "flv", "scenario": a.scenario, "path": a.path, "round": a.round, "players": a.players,
        "slow": len(slow), "hold_s": round(hold, 2), "target": a.target,
        "origin_connections": stats1["connections"] - stats0["connections"], "origin_path_requests": path_reqs,
        "origin_slow_disconnects": stats1.get("slow_disconnects", 0) - stats0.get("slow_disconnects", 0),
        "window_bytes": window_bytes,
        "relay_cpu_s": round(d["relay_cpu_s"], 4) if relay else None,
        "relay_cpu_s_per_gib": round(d["relay_cpu_s"] / gib, 4) if relay and gib else None,
        "relay_rss_before_kib": rss0 if relay else None, "relay_rss_peak_kib": win.rss_max if relay else None,
        "relay_rss_kib_per_player": round(rss_per, 1) if rss_per is not None else None,
        "origin_cpu_s": round(d["origin_cpu_s"], 4), "origin_cpu_s_per_gib": round(d["origin_cpu_s"] / gib, 4) if gib else None,
        "encoder_cpu_s": round(d["origin_tree_cpu_s"] - d["origin_cpu_s"], 4),
        "players_cpu_s": round(players_cpu, 3), "other_cpu_s": round(d["other_cpu_s"], 3),
        "other_cpu_pct": round(d["other_cpu_pct"], 1), "irq_cpu_pct": round(d["irq_cpu_pct"], 1),
        "ttk_med_ms": round(med(ttk), 1) if ttk else None, "ttk_p95_ms": round(pct(ttk, 95), 1) if ttk else None,
        "keyframe_first": sum(1 for p in players if p[3]), "framing": sorted({p[7] for p in players if p[7]}),
        "mbit_med": round(med(mbit), 4), "mbit_p5": round(pct(mbit, 5), 4), "mbit_min": round(min(mbit), 4),
        "source_mbit": round(primer_window * 8 / hold / 1e6, 4),
        "share_med": round(med(share), 4) if share else None, "share_p5": round(pct(share, 5), 4) if share else None,
        "slow_share_med": round(med(slow_share), 4) if slow_share else None,
        "drift_med_ms": round(med(drift), 1) if drift else None, "drift_p95_ms": round(pct(drift, 95), 1) if drift else None,
        "slow_mbit_med": round(med(slow_mbit), 4) if slow_mbit else None,
        "slow_dropped": sum(1 for p in slow if p[1]),
        "metrics": metric_delta(m0, m1, gauges, "fanout") if m1 else {}, "join": a.join,
    }))


def read_log(path, offset):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode("latin-1").splitlines()


def cmd_hls_load(a):
    raise_nofile(256)
    what = f"scenario {a.scenario}, {a.path}"
    relay = tree(a.relay_root) if a.relay_root else []
    if a.relay_root and not relay:
        fail(f"{what}: relay process {a.relay_root} is not running")
    log_offset = os.path.getsize(a.access_log)
    m0 = scrape(a.metrics_port)
    rss0 = rss_kib(relay) if relay else 0
    t0, ws, we = schedule(a)
    epoch = time.time() - time.monotonic()  # nginx's $msec is wall-clock time
    sizes = split(a.players, a.procs)
    common = ["--port", str(a.port), "--target", a.target, "--t0", repr(t0), "--ramp", repr(a.ramp * 1.0),
              "--ws", repr(ws), "--we", repr(we), "--poll", repr(a.poll)]
    procs = spawn_workers(a, "hls-worker", [common + ["--players", str(n)] for n in sizes])
    win = Window(a, relay)
    gauges = {}
    s0 = win.hold(ws, we, mid=lambda: gauges.update(scrape(a.metrics_port)))
    s1 = win.snapshot()
    m1 = scrape(a.metrics_port)
    results = collect_workers(procs, a.timeout, what)
    if a.relay_root and not alive(a.relay_root):
        fail(f"{what}: relay process {a.relay_root} died during the run")
    time.sleep(0.3)  # nginx logs a request when it has been answered
    d = win.delta(s0, s1)
    players = [p for r in results for p in r["players"]]
    errors = [p[0] for p in players if p[0]]
    if errors:
        fail(f"{what}: {len(errors)} of {len(players)} HLS players failed; first: {errors[0]}")
    # Origin requests per segment: every request (of the whole run) for each segment that was first
    # asked for inside the hold, but not in its last POLL + 1 seconds (requests for it may still come).
    first, count = {}, {}
    playlists = 0
    for line in read_log(a.access_log, log_offset):
        parts = line.split(" ")
        if len(parts) < 5:
            continue
        t = float(parts[0]) - epoch
        path = parts[2].split("?")[0]
        if path.endswith(".ts"):
            count[path] = count.get(path, 0) + 1
            first.setdefault(path, t)
        elif path.endswith(".m3u8") and ws <= t <= we:
            playlists += 1
    segs = [p for p, t in first.items() if ws <= t <= we - a.poll - 1]
    per_seg = [count[p] for p in segs]
    hold = we - ws
    window_bytes = sum(p[2] for p in players)
    gib = window_bytes / GIB
    seg_win = [p[1] for p in players]
    rss_per = (win.rss_max - rss0) / a.players if relay else None
    print(json.dumps({
        "kind": "hls", "scenario": a.scenario, "path": a.path, "round": a.round, "players": a.players,
        "hold_s": round(hold, 2), "segments_counted": len(segs),
        "origin_requests_per_segment_med": med(per_seg), "origin_requests_per_segment_max": max(per_seg) if per_seg else None,
        "origin_playlist_requests_per_s": round(playlists / hold, 2),
        "window_bytes": window_bytes, "mbit_total": round(window_bytes * 8 / hold / 1e6, 2),
        "segments_per_player_med": med(seg_win), "segments_per_player_min": min(seg_win) if seg_win else None,
        "redirects": sum(p[4] for p in players),
        "relay_cpu_s": round(d["relay_cpu_s"], 4) if relay else None,
        "relay_cpu_s_per_gib": round(d["relay_cpu_s"] / gib, 4) if relay and gib else None,
        "relay_rss_kib_per_player": round(rss_per, 1) if rss_per is not None else None,
        "origin_cpu_s": round(d["origin_tree_cpu_s"], 4),
        "origin_cpu_s_per_gib": round(d["origin_tree_cpu_s"] / gib, 4) if gib else None,
        "players_cpu_s": round(sum(r["cpu_s"] for r in results), 3), "other_cpu_s": round(d["other_cpu_s"], 3),
        "other_cpu_pct": round(d["other_cpu_pct"], 1), "irq_cpu_pct": round(d["irq_cpu_pct"], 1),
        "metrics": metric_delta(m0, m1, gauges, "hls_cache") if m1 else {},
    }))


# ---------------------------------------------------------------- report

LABELS = {"direct": "direct to the origin", "proxy": "stream-proxy (fan-out)", "nginx": "nginx proxy_pass",
          "proxy-nofanout": "stream-proxy (fan-out off)"}
SECTION = "## Edge fan-out (bench/fanout/run)"
SHORT = {"http_flv_fanout_streams": "streams", "http_flv_fanout_players": "players",
         "http_flv_fanout_upstream_bytes_total": "upstream B", "http_flv_fanout_delivered_bytes_total": "delivered B",
         "http_flv_fanout_slow_skips_total": "slow skips", "http_flv_fanout_slow_disconnects_total": "slow disconnects",
         "http_flv_hls_cache_hits_total": "cache hits", "http_flv_hls_cache_misses_total": "cache misses",
         "http_flv_hls_cache_coalesced_total": "coalesced", "http_flv_hls_cache_bytes": "cached B"}


def cmd_report(a):
    rows = [json.loads(line) for line in open(a.jsonl) if line.strip()]
    meta = json.load(open(a.meta))
    by = {}
    for r in rows:
        by.setdefault((r["scenario"], r["path"]), []).append(r)

    def m(sc, p, k):
        rs = by.get((sc, p), [])
        v = [r[k] for r in rs if r.get(k) is not None]
        return statistics.median(v) if v else None

    def rng(sc, p, k, nd=2):
        v = [r[k] for r in by.get((sc, p), []) if r.get(k) is not None]
        return "—" if not v else f"{min(v):,.{nd}f}–{max(v):,.{nd}f}"

    def others(sc, p):
        v = [r["other_cpu_pct"] for r in by.get((sc, p), [])]
        return f"{statistics.median(v):.0f}% ({max(v):.0f}%)" if v else "—"

    def metrics(sc, p):
        ms = [r.get("metrics") or {} for r in by.get((sc, p), [])]
        keys = sorted({k for x in ms for k in x})
        if not keys:
            return "—"
        parts = []
        for k in keys:
            v = statistics.median([x.get(k, 0.0) for x in ms])
            parts.append(f"{SHORT.get(k, k)} {v:,.0f}")
        return ", ".join(parts)

    out = [SECTION, ""]
    if meta.get("quick"):
        out += ["**Quick smoke run (`--quick`): few players, short holds, one round; not a measurement.**", ""]
    out.append(f"- Date: {meta['date']}")
    out.append(f"- Machine: {meta['nproc']} cores, {meta['cpu_model']}, kernel {meta['kernel']}")
    sw = f"- Software: {meta['nginx']} (reference relay; nginx-rtmp for HLS), {meta['ffmpeg']}, Python {meta['python']} (origin and players)"
    if meta.get("proxy_version"):
        sw += f", stream-proxy {meta['proxy_version']} (build of {meta['built']}; HEAD at run time {meta['commit']}, `event_loops: {meta['event_loops']}`)"
    out.append(sw)
    out.append(f"- Paths: {', '.join(meta['paths'])}; scenarios {' '.join(meta['scenarios'])}; R={meta['rounds']} rounds, "
               f"the paths in a rotated order each round; figures are medians (range min–max over the rounds)")
    out.append(f"- Source: `Tests/Peers/live_flv_origin.py` (one Python asyncio process; one ffmpeg per stream: testsrc2 "
               f"{meta['size']} {meta['fps']} fps, x264 ultrafast zerolatency {meta['bitrate']}, GOP {meta['gop']} frames, "
               f"AAC 64k, `-re`), writes merged every {meta['merge_ms']:g} ms"
               f"{', with its own GOP cache' if meta['origin_gop_cache'] else ', no GOP cache at the origin (a player starts at the next keyframe)'}. "
               f"Each run has a stream of its own, started by a primer player (straight at the origin, not counted) "
               f"{meta['warm']:g} s before the players come.")
    out.append(f"- HTTP-FLV players: {meta['procs']} Python asyncio processes walking the FLV tag headers (bytes counted, "
               f"never kept), connecting over {meta['ramp']:g} s, then {meta['settle']:g} s to settle and {meta['hold']:g} s held "
               f"(the measured window). "
               + (f"Warm join: before the players, one more player (the path primer, not counted) comes through the path "
                  f"under test and holds the stream from its first keyframe on, so the players join a stream the path "
                  f"already carries (origin connections count it: the players + 1). "
                  if meta['join'] == 'warm' else
                  "Cold join: the players are the path's first; through fan-out they all wait for the new upstream's "
                  "first keyframe. ")
               + f"Time to keyframe: from a player's connect to its first video keyframe tag. "
               f"Drift: the growth over the hold of (arrival time − FLV timestamp), its minimum over the first and the last "
               f"seconds of the hold compared. Relay CPU is the on-CPU time of all its threads over the hold per GiB the "
               f"players received in it; RSS/player is the relay's peak VmRSS in the hold minus its VmRSS before the "
               f"players came (each run starts a fresh relay).")
    out.append(f"- stream-proxy with fan-out: `gop_cache_bytes: {meta['gop_cache_bytes']}`, `gop_cache_duration: {meta['gop_cache_duration']}`, "
               f"`player_queue_bytes: {meta['player_queue_bytes']}`, `slow_player: {meta['slow_player']}`, `linger: {meta['linger']}`; "
               f"HLS through it with `hls_cache: {'true' if meta['hls_cache'] else 'false'}`. nginx: `proxy_pass` with "
               f"`proxy_buffering off`, HTTP/1.1 keep-alive upstream, one process.")
    disturbed = [r for r in rows if r["other_cpu_pct"] > meta["max_others"]]
    out.append(f"- Quiet machine: \"others' CPU\" is the machine's busy time in the hold minus that of the bench's processes "
               f"and of interrupts (loopback TCP runs in softirq; recorded apart as `irq_cpu_pct`). A run during which processes "
               f"outside the bench used more than {meta['max_others']}% of the "
               f"CPU is repeated (up to {meta['retries']} times); {len(disturbed)} of the {len(rows)} reported runs were still above that.")
    out.append("")
    verdict = []
    flv_paths = [p for p in ("direct", "proxy", "nginx") if p in meta["paths"]]

    if "A" in meta["scenarios"]:
        n = meta["players_a"]
        out.append(f"### A: {n:,} HTTP-FLV players of one stream, {meta['hold']:g} s held")
        out.append("")
        out.append("| path | origin connections | relay CPU-s/GiB | range | vs nginx | relay RSS KiB/player | time to keyframe ms "
                   "(median / p95) | first video tag a keyframe | Mbit/s per player (median) | share of the source (median / p5) | "
                   "drift ms (median / p95) | "
                   "origin CPU-s/GiB | players CPU-s | relay metrics (median) | others' CPU (max) |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
        ng = m("A", "nginx", "relay_cpu_s_per_gib")
        for p in flv_paths:
            if ("A", p) not in by:
                continue
            kf = by[("A", p)]
            ok = all(r["keyframe_first"] == r["players"] for r in kf)
            out.append(f"| {LABELS[p]} | {fmt(m('A', p, 'origin_connections'), 0)} | {fmt(m('A', p, 'relay_cpu_s_per_gib'))} | "
                       f"{rng('A', p, 'relay_cpu_s_per_gib')} | {fmt(ratio(m('A', p, 'relay_cpu_s_per_gib'), ng))} | "
                       f"{fmt(m('A', p, 'relay_rss_kib_per_player'), 1)} | {fmt(m('A', p, 'ttk_med_ms'), 0)} / {fmt(m('A', p, 'ttk_p95_ms'), 0)} | "
                       f"{'all' if ok else 'NO'} | {fmt(m('A', p, 'mbit_med'), 3)} | {fmt(m('A', p, 'share_med'), 3)} / {fmt(m('A', p, 'share_p5'), 3)} | "
                       f"{fmt(m('A', p, 'drift_med_ms'), 0)} / {fmt(m('A', p, 'drift_p95_ms'), 0)} | {fmt(m('A', p, 'origin_cpu_s_per_gib'))} | "
                       f"{fmt(m('A', p, 'players_cpu_s'))} | {metrics('A', p)} | {others('A', p)} |")
        out.append("")
        c = m("A", "proxy", "origin_connections")
        if c is not None:
            verdict.append(f"A: stream-proxy opened {c:g} origin connection(s) for {n:,} players (target 1)")

    if "B" in meta["scenarios"]:
        n = meta["players_a"]
        out.append(f"### B: as A, with {meta['slow_pct']}% of the players reading at half the stream's bitrate")
        out.append("")
        out.append(f"The slow players read at most {meta['slow_bps'] * 8 / 1e6:.3f} Mbit/s ({meta['slow_bps'] * SLOW_TICK:,.0f} bytes "
                   f"every {SLOW_TICK * 1000:.0f} ms, `SO_RCVBUF` {meta['slow_rcvbuf']:,}). The other players' figures are compared "
                   f"with scenario A on the same path (target: their bitrate within 2%). The share of the source is a player's "
                   f"bytes in the hold over those a primer player straight at the origin received in the same window, so the "
                   f"encoder's own variation (keyframes in or out of the window) cancels out.")
        out.append("")
        out.append("| path | others' Mbit/s per player (median) | others' share of the source (median / p5) | vs A | drift ms "
                   "(median / p95) | drift vs A ms | slow players' Mbit/s (median) | slow players dropped | relay CPU-s/GiB | "
                   "relay metrics (median) | others' CPU (max) |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
        for p in flv_paths:
            if ("B", p) not in by:
                continue
            rb = ratio(m("B", p, "share_med"), m("A", p, "share_med"))
            da, db = m("A", p, "drift_med_ms"), m("B", p, "drift_med_ms")
            out.append(f"| {LABELS[p]} | {fmt(m('B', p, 'mbit_med'), 3)} | {fmt(m('B', p, 'share_med'), 3)} / {fmt(m('B', p, 'share_p5'), 3)} | {fmt(rb, 3)} | "
                       f"{fmt(db, 0)} / {fmt(m('B', p, 'drift_p95_ms'), 0)} | {fmt(None if da is None or db is None else db - da, 0)} | "
                       f"{fmt(m('B', p, 'slow_mbit_med'), 3)} | {fmt(m('B', p, 'slow_dropped'), 0)} | {fmt(m('B', p, 'relay_cpu_s_per_gib'))} | "
                       f"{metrics('B', p)} | {others('B', p)} |")
            if p == "proxy" and rb is not None:
                verdict.append(f"B: through stream-proxy the other players' received share of the source is {rb:.3f}x scenario A's "
                               f"({'meets' if abs(1 - rb) <= 0.02 else 'MISSES'} the 2% target)")
        out.append("")

    if "C" in meta["scenarios"]:
        n = meta["players_c"]
        out.append(f"### C: {n:,} HLS players of one stream, {meta['hold']:g} s held")
        out.append("")
        out.append(f"Origin: nginx-rtmp (`hls on`, `hls_fragment {meta['hls_fragment']}`) fed by one ffmpeg `-re` publish of the "
                   f"same kind of source; nginx http serves its HLS directory and logs every request. Each player reloads the "
                   f"playlist every {meta['hls_poll']:g} s on one keep-alive connection and fetches every segment it has not fetched "
                   f"(the newest one only at its first load), following stream-proxy's 302 to `?spsid=`. Origin requests "
                   f"per segment: every request in nginx's access log for each segment first asked for in the hold.")
        out.append("")
        out.append("| path | origin requests per segment (median / max) | origin playlist requests/s | players' Mbit/s (all) | "
                   "segments per player | relay CPU-s/GiB | range | relay RSS KiB/player | origin CPU-s/GiB | relay metrics (median) | others' CPU (max) |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
        for p in flv_paths:
            if ("C", p) not in by:
                continue
            out.append(f"| {LABELS[p]} | {fmt(m('C', p, 'origin_requests_per_segment_med'), 0)} / {fmt(m('C', p, 'origin_requests_per_segment_max'), 0)} | "
                       f"{fmt(m('C', p, 'origin_playlist_requests_per_s'), 1)} | {fmt(m('C', p, 'mbit_total'), 0)} | "
                       f"{fmt(m('C', p, 'segments_per_player_med'), 0)} | {fmt(m('C', p, 'relay_cpu_s_per_gib'))} | {rng('C', p, 'relay_cpu_s_per_gib')} | "
                       f"{fmt(m('C', p, 'relay_rss_kib_per_player'), 1)} | {fmt(m('C', p, 'origin_cpu_s_per_gib'))} | {metrics('C', p)} | {others('C', p)} |")
        out.append("")
        c = m("C", "proxy", "origin_requests_per_segment_med")
        if c is not None:
            verdict.append(f"C: {c:g} origin request(s) per segment through stream-proxy for {n:,} players")

    if "D" in meta["scenarios"]:
        n = meta["players_d"]
        out.append(f"### D: fan-out off, {n:,} HTTP-FLV players of one stream")
        out.append("")
        out.append("| path | origin connections | relay CPU-s/GiB | range | vs nginx | relay RSS KiB/player | Mbit/s per player (median) | "
                   "time to keyframe ms (median / p95) | others' CPU (max) |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        ng = m("D", "nginx", "relay_cpu_s_per_gib")
        for p in ("proxy-nofanout", "nginx"):
            if ("D", p) not in by:
                continue
            out.append(f"| {LABELS[p]} | {fmt(m('D', p, 'origin_connections'), 0)} | {fmt(m('D', p, 'relay_cpu_s_per_gib'))} | "
                       f"{rng('D', p, 'relay_cpu_s_per_gib')} | {fmt(ratio(m('D', p, 'relay_cpu_s_per_gib'), ng))} | "
                       f"{fmt(m('D', p, 'relay_rss_kib_per_player'), 1)} | {fmt(m('D', p, 'mbit_med'), 3)} | "
                       f"{fmt(m('D', p, 'ttk_med_ms'), 0)} / {fmt(m('D', p, 'ttk_p95_ms'), 0)} | {others('D', p)} |")
        out.append("")
        rd = ratio(m("D", "proxy-nofanout", "relay_cpu_s_per_gib"), ng)
        if rd is not None:
            verdict.append(f"D: stream-proxy without fan-out costs {rd:.2f}x nginx's CPU per GiB")
    if verdict:
        out.append("Summary: " + "; ".join(verdict) + ".")
        out.append("")
    section = "\n".join(out)
    print(section)
    if a.results:
        write_section(a.results, section, SECTION)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("freeports"); p.add_argument("n", type=int); p.set_defaults(f=cmd_freeports)
    p = sub.add_parser("waitlisten"); p.add_argument("port", type=int); p.add_argument("timeout", type=float)
    p.set_defaults(f=cmd_waitlisten)
    p = sub.add_parser("busy"); p.add_argument("seconds", type=float); p.set_defaults(f=cmd_busy)
    p = sub.add_parser("waithls"); p.add_argument("port", type=int); p.add_argument("target")
    p.add_argument("timeout", type=float); p.set_defaults(f=cmd_waithls)

    def load_args(p):
        for k, t in (("--scenario", str), ("--path", str), ("--round", int), ("--port", int), ("--target", str),
                     ("--players", int), ("--hold", float), ("--settle", float), ("--ramp", float), ("--procs", int),
                     ("--origin-root", int), ("--bench-root", int)):
            p.add_argument(k, type=t, required=True)
        p.add_argument("--relay-root", type=int)
        p.add_argument("--metrics-port", type=int)
        p.add_argument("--timeout", type=float, default=120, help="s after the hold to wait for the players' results")

    p = sub.add_parser("flv-load"); load_args(p)
    p.add_argument("--origin-port", type=int, required=True)
    p.add_argument("--slow", type=int, default=0)
    p.add_argument("--slow-bps", type=int, default=0)
    p.add_argument("--slow-rcvbuf", type=int, default=16384)
    p.add_argument("--warm", type=float, default=1.5)
    p.add_argument("--join", choices=("warm", "cold"), default="warm")
    p.set_defaults(f=cmd_flv_load)
    p = sub.add_parser("hls-load"); load_args(p)
    p.add_argument("--access-log", required=True)
    p.add_argument("--poll", type=float, default=1.0)
    p.set_defaults(f=cmd_hls_load)

    def worker_args(p):
        for k, t in (("--port", int), ("--target", str), ("--players", int), ("--t0", float), ("--ramp", float),
                     ("--ws", float), ("--we", float)):
            p.add_argument(k, type=t, required=True)
    p = sub.add_parser("flv-worker"); worker_args(p)
    p.add_argument("--slow", type=int, default=0)
    p.add_argument("--slow-bps", type=int, default=0)
    p.add_argument("--slow-rcvbuf", type=int, default=16384)
    p.set_defaults(f=cmd_flv_worker)
    p = sub.add_parser("hls-worker"); worker_args(p)
    p.add_argument("--poll", type=float, default=1.0)
    p.set_defaults(f=cmd_hls_worker)
    p = sub.add_parser("report")
    p.add_argument("--jsonl", required=True); p.add_argument("--meta", required=True)
    p.add_argument("--results")
    p.set_defaults(f=cmd_report)
    a = ap.parse_args()
    a.f(a)


if __name__ == "__main__":
    main()
