#!/usr/bin/env python3
"""Measuring helper for bench/httpflv/run (python3 standard library only).

Subcommands (each prints one JSON object or plain lines on stdout, errors on stderr, exit 1 on failure):

  freeports N                     N distinct free TCP ports on 127.0.0.1, one per line
  waitlisten PORT TIMEOUT         wait until something listens on 127.0.0.1:PORT (reads /proc/net/tcp)
  busy SECONDS                    percent of the machine's CPU (all cores) in use over SECONDS
  crc FILE                        CRC-32 of FILE (what every player must receive when --crc is given)
  idle-origin PORT                an HTTP origin whose every GET gets a chunked 200 head and a 13-byte FLV
                                  header, then nothing until the client goes (runs until SIGTERM)
  load ...                        N concurrent players (one asyncio process), each fetching the stream
                                  REPEAT times; payload bytes, wall time, relay/origin CPU and RSS
  idle ...                        K idle players through a relay: its RSS before and with them
  report ...                      medians, the results table (stdout) and the RESULTS.md section

A "process tree" is a root PID and all its descendants; CPU (per-thread on-CPU time from
/proc/PID/task/TID/schedstat, with utime+stime from /proc/PID/stat recorded alongside), RSS (VmRSS)
and open descriptors are summed over it. The relays here are single processes (nginx runs with
master_process off), so the tree is the process itself.
"""

import argparse
import asyncio
import json
import os
import resource
import select
import signal
import socket
import statistics
import struct
import sys
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from benchlib import (alive, cmd_busy, cmd_freeports, cmd_waitlisten, cpu_ns, cpu_ticks, fail, fd_count, fmt,  # noqa: E402
                      machine_busy_s, ratio, rss_kib, tree, write_section)

CLK_TCK = os.sysconf("SC_CLK_TCK")
GIB = 1024 ** 3
READ_SIZE = 1 << 20  # one shared user-space receive buffer for all players (the bytes are discarded)


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < want:
        fail(f"needs {want} descriptors, the hard limit is {hard}")


# ---------------------------------------------------------------- /proc helpers (as bench/rtmp/measure.py)

# ---------------------------------------------------------------- small subcommands

def cmd_crc(a):
    crc = 0
    with open(a.file, "rb") as f:
        while chunk := f.read(1 << 22):
            crc = zlib.crc32(chunk, crc)
    print(crc)


# ---------------------------------------------------------------- idle origin

FLV_HEADER = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"  # audio+video, then PreviousTagSize0


def cmd_idle_origin(a):
    """A live origin with nothing to send: the response head and the FLV header, then silence."""
    raise_nofile(a.max_conns + 64)
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nTransfer-Encoding: chunked\r\n"
            b"Cache-Control: no-cache\r\n\r\n" + b"%x\r\n" % len(FLV_HEADER) + FLV_HEADER + b"\r\n")

    async def serve(reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                if line.startswith(b"GET "):
                    while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    writer.write(head)
                    await writer.drain()
                    await reader.read()  # until the client (the relay) closes
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(serve, "127.0.0.1", a.port, backlog=4096, limit=16384)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, stop.set)
        async with server:
            await stop.wait()

    asyncio.run(main())


# ---------------------------------------------------------------- players

class Player(asyncio.BufferedProtocol):
    """One HTTP/1.1 GET read to the end of the response as fast as the socket gives it: parses the
    head and the body framing (chunked, Content-Length or up to the close), counts payload bytes and,
    when asked, their CRC-32. All players share one receive buffer: each read is consumed at once."""

    BUF = memoryview(bytearray(READ_SIZE))

    def __init__(self, request, want_crc, done):
        self.request = request
        self.want_crc = want_crc
        self.done = done
        self.state = "head"
        self.head = bytearray()
        self.line = bytearray()
        self.remaining = 0  # of the current chunk or of a Content-Length body
        self.after_chunk = False
        self.status = None
        self.framing = None
        self.payload = 0
        self.crc = 0
        self.flv_ok = None
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def get_buffer(self, sizehint):
        return self.BUF

    def buffer_updated(self, n):
        try:
            self._consume(self.BUF[:n])
        except ValueError as e:
            self._finish(f"bad response: {e}")

    def _body(self, data):
        if self.flv_ok is None and len(data):
            self.flv_ok = bytes(data[:3]) == b"FLV"
        self.payload += len(data)
        if self.want_crc:
            self.crc = zlib.crc32(data, self.crc)

    def _consume(self, data):
        pos, n = 0, len(data)
        while pos < n and not self.done.done():
            st = self.state
            if st in ("data", "length"):
                take = min(self.remaining, n - pos)
                self._body(data[pos:pos + take])
                pos += take
                self.remaining -= take
                if self.remaining == 0:
                    if st == "length":
                        return self._finish(None)
                    self.state, self.after_chunk = "line", True
            elif st == "close":
                self._body(data[pos:])
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
            else:  # "line" (chunk size, or the CRLF after a chunk) and "trailer"
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
                if st == "trailer":
                    if not line:
                        return self._finish(None)
                elif self.after_chunk:
                    if line:
                        raise ValueError("no CRLF after a chunk")
                    self.after_chunk = False
                else:
                    size = int(line.split(b";")[0].strip(), 16)
                    if size == 0:
                        self.state = "trailer"
                    else:
                        self.state, self.remaining = "data", size

    def _parse_head(self):
        lines = bytes(self.head).decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ValueError(f"status line {lines[0][:80]!r}")
        self.status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if self.status != 200:
            return self._finish(f"status {self.status}")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self.framing, self.state = "chunked", "line"
        elif "content-length" in headers:
            self.framing, self.state = "length", "length"
            self.remaining = int(headers["content-length"])
            if self.remaining == 0:
                self._finish(None)
        else:
            self.framing, self.state = "close", "close"

    def _finish(self, error):
        if not self.done.done():
            self.done.set_result(error)
        if self.transport:
            self.transport.close()

    def eof_received(self):
        if self.state == "close":
            self._finish(None)
        else:
            self._finish(f"connection closed by the server in state {self.state} after {self.payload} payload bytes")
        return False

    def connection_lost(self, exc):
        if not self.done.done():
            self._finish(None if self.state == "close" else
                         f"connection lost ({exc}) in state {self.state} after {self.payload} payload bytes")


async def play(port, target, want_crc, connection):
    """One fetch on a new connection. With `Connection: keep-alive` the player closes once the response
    has ended; with `Connection: close` the server does."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    request = (f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bench-httpflv\r\n"
               f"Accept: */*\r\nConnection: {connection}\r\n\r\n").encode()
    proto = Player(request, want_crc, done)
    try:
        transport, _ = await loop.create_connection(lambda: proto, "127.0.0.1", port)
    except OSError as e:
        return proto, f"connect failed: {e}"
    try:
        error = await done
    finally:
        transport.close()
    return proto, error


def cmd_load(a):
    raise_nofile(a.players + 256)
    relay = tree(a.relay_root) if a.relay_root else []
    origin = tree(a.origin_root)
    if a.relay_root and not relay:
        fail(f"{a.path}: relay process {a.relay_root} is not running")
    expected = a.players * a.repeat * a.expect_bytes

    def snapshot():
        return {"relay_ns": cpu_ns(relay), "origin_ns": cpu_ns(origin), "relay_ticks": cpu_ticks(relay),
                "origin_ticks": cpu_ticks(origin), "busy": machine_busy_s(), "self": time.process_time()}

    async def run():
        errors, payload, rss_max = [], 0, 0
        stop_sampling = asyncio.Event()

        async def sample():
            nonlocal rss_max
            while not stop_sampling.is_set():
                rss_max = max(rss_max, rss_kib(relay))
                try:
                    await asyncio.wait_for(stop_sampling.wait(), 0.1)
                except asyncio.TimeoutError:
                    pass

        async def player(i):
            nonlocal payload
            for k in range(a.repeat):
                proto, error = await play(a.port, a.target, a.crc is not None, a.connection)
                payload += proto.payload
                if error is None and proto.payload != a.expect_bytes:
                    error = f"{proto.payload} payload bytes, expected {a.expect_bytes}"
                if error is None and not proto.flv_ok:
                    error = "the body does not start with an FLV signature"
                if error is None and a.crc is not None and proto.crc != a.crc:
                    error = f"payload CRC-32 {proto.crc} differs from the file's {a.crc}"
                if error is not None:
                    errors.append(f"player {i} fetch {k + 1}: {error} (framing {proto.framing})")
                    return
                frames.add(proto.framing)

        frames = set()
        sampler = asyncio.create_task(sample()) if relay else None
        t0 = time.monotonic()
        try:
            await asyncio.wait_for(asyncio.gather(*(player(i) for i in range(a.players))), a.timeout)
        except asyncio.TimeoutError:
            fail(f"{a.path}: players still reading after {a.timeout} s ({payload} of {expected} bytes)")
        wall = time.monotonic() - t0
        stop_sampling.set()
        if sampler:
            await sampler
        return wall, payload, errors, rss_max, frames

    rss0 = rss_kib(relay)
    before = snapshot()
    wall, payload, errors, rss_max, frames = asyncio.run(run())
    after = snapshot()
    delta = {k: after[k] - before[k] for k in after}

    if errors:
        fail(f"{a.path}: {len(errors)} of {a.players} players failed; first: {errors[0]}")
    if a.relay_root and not alive(a.relay_root):
        fail(f"{a.path}: relay process {a.relay_root} died during the run")
    if payload != expected:
        fail(f"{a.path}: {payload} payload bytes arrived, expected {expected}")
    relay_cpu = delta["relay_ns"] / 1e9
    if a.relay_root and relay_cpu <= 0:
        fail(f"{a.path}: the relay used no CPU: did the traffic really go through it?")
    origin_cpu = delta["origin_ns"] / 1e9
    players_cpu = delta["self"]
    # CPU used by processes outside the bench while the run lasted (a build, a test suite...).
    other_cpu = max(0.0, delta["busy"] - players_cpu - origin_cpu - relay_cpu)
    other_pct = 100 * other_cpu / (wall * os.cpu_count())
    gib = payload / GIB
    mbit = payload * 8 / wall / 1e6
    rss_per = (rss_max - rss0) / a.players if relay else None
    relay_txt = (f", relay {relay_cpu / gib:.2f} CPU-s/GiB, RSS +{rss_max - rss0:,} KiB peak"
                 if relay else "")
    print(f"  round {a.round} {a.players:>3} x {a.path:<12} {wall:7.2f} s {mbit:9.0f} Mbit/s{relay_txt}, "
          f"origin {origin_cpu / gib:.2f} CPU-s/GiB, players {players_cpu:.1f} CPU-s, others {other_pct:.0f}% CPU",
          file=sys.stderr)
    print(json.dumps({
        "kind": "load", "path": a.path, "players": a.players, "repeat": a.repeat, "round": a.round,
        "wall_s": round(wall, 4), "payload_bytes": payload, "mbit_s": round(mbit, 2),
        "framing": sorted(frames),
        "relay_cpu_s": round(relay_cpu, 4) if relay else None,
        "relay_cpu_s_per_gib": round(relay_cpu / gib, 4) if relay else None,
        "relay_cpu_s_stat": delta["relay_ticks"] / CLK_TCK if relay else None,
        "relay_rss_before_kib": rss0 if relay else None, "relay_rss_peak_kib": rss_max if relay else None,
        "relay_rss_kib_per_player": round(rss_per, 1) if rss_per is not None else None,
        "origin_cpu_s": round(origin_cpu, 4), "origin_cpu_s_per_gib": round(origin_cpu / gib, 4),
        "origin_cpu_s_stat": delta["origin_ticks"] / CLK_TCK,
        "players_cpu_s": round(players_cpu, 3), "other_cpu_s": round(other_cpu, 3), "other_cpu_pct": round(other_pct, 1),
    }))


# ---------------------------------------------------------------- idle

def open_idle(port, target, count, timeout=60.0):
    """count players that each get the response head and the FLV header, then wait."""
    request = (f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bench-httpflv\r\n"
               f"Accept: */*\r\n\r\n").encode()
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(request)
        s.setblocking(False)
        socks.append(s)
    got = {s.fileno(): b"" for s in socks}
    waiting = {s.fileno(): s for s in socks}
    ep = select.epoll()
    for s in socks:
        ep.register(s.fileno(), select.EPOLLIN)
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        for fd, _ in ep.poll(0.5):
            s = waiting.get(fd)
            if s is None:
                continue
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                raise RuntimeError(f"a player's connection failed: {e}")
            if not data:
                raise RuntimeError(f"a player's connection was closed; it had received {got[fd][:200]!r}")
            got[fd] += data
            head, sep, body = got[fd].partition(b"\r\n\r\n")
            if sep:
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"a player got {head[:200]!r}")
                if b"FLV\x01" in body:
                    ep.unregister(fd)
                    del waiting[fd]
    ep.close()
    if waiting:
        raise RuntimeError(f"{len(waiting)} of {count} players had no response head and FLV header after {timeout} s")
    return socks


def close_all(socks):
    for s in socks:  # RST (SO_LINGER 0): the next measurement starts from a clean process
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        except OSError:
            pass


def cmd_idle(a):
    raise_nofile(a.count + 256)
    pids = tree(a.root)
    if not pids:
        fail(f"{a.path}: process {a.root} is not running")

    def settle(target_ok, what, timeout=30.0):
        """Wait until the descriptor count satisfies target_ok and has not changed for 1 s."""
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

    # A few players first, so that one-time set-up (first route, lazily made structures) is not
    # counted per player.
    try:
        close_all(open_idle(a.port, a.target, a.prime))
    except (OSError, RuntimeError) as e:
        fail(f"{a.path}: priming: {e}")
    fds0 = settle(lambda c: True, "before")
    rss0 = rss_kib(pids)
    t0 = time.monotonic()
    try:
        socks = open_idle(a.port, a.target, a.count)
    except (OSError, RuntimeError) as e:
        fail(f"{a.path}: {e}")
    fds1 = settle(lambda c: c >= fds0 + a.count, "with players connected")
    rss1 = rss_kib(pids)
    held = time.monotonic() - t0
    closed = 0
    for s in socks:
        try:
            if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    if closed:
        fail(f"{a.path}: {closed} of {a.count} idle players were disconnected during the measurement")
    close_all(socks)
    settle(lambda c: c <= fds0 + 8, "after closing")
    rss2 = rss_kib(pids)
    print(json.dumps({
        "kind": "idle", "path": a.path, "players": a.count, "rss_before_kib": rss0, "rss_with_kib": rss1,
        "rss_after_close_kib": rss2, "kib_per_player": round((rss1 - rss0) / a.count, 2),
        "fds_per_player": round((fds1 - fds0) / a.count, 2), "held_s": round(held, 1), "processes": len(pids),
    }))


# ---------------------------------------------------------------- report

LABELS = {"direct": "direct to the origin", "proxy": "stream-proxy", "nginx-proxy": "nginx proxy_pass"}
ORDER = ["direct", "proxy", "nginx-proxy"]
SECTION = "## HTTP-FLV (bench/httpflv/run)"


def cmd_report(a):
    rows = [json.loads(line) for line in open(a.jsonl) if line.strip()]
    meta = json.load(open(a.meta))
    loads = [r for r in rows if r["kind"] == "load"]
    idles = {r["path"]: r for r in rows if r["kind"] == "idle"}
    out = [SECTION, ""]
    if meta.get("quick"):
        out += ["**Quick smoke run (`--quick`): small file, one round; not a measurement.**", ""]
    out.append(f"- Date: {meta['date']}")
    out.append(f"- Machine: {meta['nproc']} cores, {meta['cpu_model']}, kernel {meta['kernel']}")
    out.append(f"- Software: stream-proxy {meta['proxy_version']} (release build of {meta['built']}; HEAD at run "
               f"time {meta['commit']}), {meta['nginx']} (origin and reference proxy), Python {meta['python']} (players)")
    loops = meta.get("event_loops", 0)
    out.append(f"- Relay threads: nginx proxy_pass runs one worker; stream-proxy runs with `event_loops: {loops}`"
               f"{' (one per core)' if loops == 0 else ''}")
    out.append(f"- Rounds: R={meta['rounds']} per configuration, paths in a rotated order each round; "
               f"figures are medians (the range is min–max over the rounds)")
    out.append(f"- Stream: {meta['file_name']}, {meta['file_seconds']:.1f} s of testsrc2 1280x720 25 fps H.264 "
               f"(x264 ultrafast, 20M target) + AAC, {meta['file_bytes'] / 1e6:.1f} MB ({meta['file_mbit']:.1f} Mbit/s "
               f"of media). The origin is nginx (1 process) serving it as `GET /live/s.flv` "
               f"{meta['origin_framing']}; each player reads it to the end as fast as it can and checks the payload "
               f"length{' and CRC-32' if meta['crc'] else ''}; a player fetches it several times in a row (a new "
               f"connection each) so that every run moves at least {meta['min_gib']:g} GiB.")
    out.append(f"- Players: one Python asyncio process holding every connection (1 MiB reads, bytes discarded), "
               f"HTTP/1.1 requests with `Connection: {meta['connection']}`"
               f"{' (the player closes once the response has ended)' if meta['connection'] == 'keep-alive' else ' (the server closes)'}. "
               f"Mbit/s is payload (FLV) bytes over the wall time from the first connect to the last byte; the "
               f"origin, the relay and the players share the machine's {meta['nproc']} cores, so throughput is "
               f"bounded by the total CPU the path needs.")
    out.append(f"- Relays: stream-proxy (`modules.http-flv`, the origin as `default_backend`; NIO, with the event loops named "
               f"above); nginx `proxy_pass` with `proxy_buffering off`, `proxy_http_version 1.1`, keep-alive upstream, "
               f"`proxy_buffer_size {meta['nginx_buffer']}`, one process (`master_process off`). Relay CPU is the "
               f"on-CPU time of all its threads (`/proc/PID/task/TID/schedstat`, utime+stime without tick rounding) "
               f"per GiB of payload; RSS/player under load is the relay's peak VmRSS during the run (sampled every "
               f"100 ms) minus its VmRSS before, over the number of players. \"Others' CPU\" is the share of the "
               f"machine used by processes outside the bench during the runs (median, max).")
    disturbed = [r for r in loads if r["other_cpu_pct"] > meta["max_others"]]
    out.append(f"- Quiet machine: a run during which processes outside the bench used more than "
               f"{meta['max_others']}% of the CPU is repeated (up to {meta['retries']} times); "
               f"{len(disturbed)} of the {len(loads)} reported runs were still above that.")
    out.append("")
    verdict = []
    for n in meta["players"]:
        sel = [r for r in loads if r["players"] == n]
        med = {}
        for p in ORDER:
            rs = [r for r in sel if r["path"] == p]
            if not rs:
                continue
            m = lambda k: statistics.median([r[k] for r in rs]) if rs[0][k] is not None else None
            lohi = lambda k: (min(r[k] for r in rs), max(r[k] for r in rs)) if rs[0][k] is not None else None
            med[p] = {"mbit": m("mbit_s"), "mbit_r": lohi("mbit_s"), "cpu": m("relay_cpu_s_per_gib"),
                      "cpu_r": lohi("relay_cpu_s_per_gib"), "rss": m("relay_rss_kib_per_player"),
                      "origin": m("origin_cpu_s_per_gib"), "players": m("players_cpu_s"), "wall": m("wall_s"),
                      "gib": rs[0]["payload_bytes"] / GIB, "repeat": rs[0]["repeat"],
                      "other": m("other_cpu_pct"), "othermax": max(r["other_cpu_pct"] for r in rs)}
        d = med.get("direct", {}).get("mbit")
        ng = med.get("nginx-proxy", {}).get("cpu")
        any_row = next(iter(med.values()))
        out.append(f"### {n} player{'s' if n != 1 else ''} ({n} x {any_row['repeat']} fetch"
                   f"{'es' if any_row['repeat'] != 1 else ''} = {any_row['gib']:.1f} GiB per run)")
        out.append("")
        out.append("| path | Mbit/s (median) | range | vs direct | relay CPU-s/GiB (median) | range | vs nginx | "
                   "relay RSS KiB/player | origin CPU-s/GiB | players CPU-s | wall s | others' CPU (max) |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for p in ORDER:
            if p not in med:
                continue
            x = med[p]
            rng = f"{x['mbit_r'][0]:,.0f}–{x['mbit_r'][1]:,.0f}"
            crng = "—" if x["cpu_r"] is None else f"{x['cpu_r'][0]:.2f}–{x['cpu_r'][1]:.2f}"
            out.append(f"| {LABELS[p]} | {x['mbit']:,.0f} | {rng} | {fmt(ratio(x['mbit'], d))} | {fmt(x['cpu'])} | "
                       f"{crng} | {fmt(ratio(x['cpu'], ng))} | {fmt(x['rss'], 1)} | {fmt(x['origin'])} | "
                       f"{x['players']:.2f} | {x['wall']:.2f} | {x['other']:.0f}% ({x['othermax']:.0f}%) |")
        out.append("")
        r = ratio(med.get("proxy", {}).get("cpu"), ng)
        if r is not None:
            verdict.append(f"{n} player{'s' if n != 1 else ''}: stream-proxy CPU/GiB is {r:.2f}x nginx's "
                           f"({'meets' if r <= 1.5 else 'MISSES'} the 1.5x target)")
    if idles:
        k = next(iter(idles.values()))["players"]
        out.append("### Idle players: RSS per player")
        out.append("")
        out.append(f"Each relay, freshly started and before any load, gets {k:,} players of `/live/idle.flv`, a "
                   "stream whose origin (a Python asyncio server behind the nginx origin) sends the response head "
                   "and the 13-byte FLV header, then nothing. RSS (VmRSS) is read before (after a few priming "
                   "players came and went) and once every player has its head and FLV header and the relay's "
                   "descriptor count has settled; the bench checks that none was disconnected. Each player holds "
                   "two sockets in a relay (the player's and the relay's upstream connection).")
        out.append("")
        out.append("| relay | RSS before KiB | RSS with players KiB | KiB per idle player | descriptors per player | "
                   "RSS after they left KiB |")
        out.append("|---|---:|---:|---:|---:|---:|")
        for p in ORDER:
            if p in idles:
                x = idles[p]
                out.append(f"| {LABELS[p]} | {x['rss_before_kib']:,} | {x['rss_with_kib']:,} | "
                           f"{x['kib_per_player']:.2f} | {x['fds_per_player']:.2f} | {x['rss_after_close_kib']:,} |")
                if p == "proxy":
                    v = x["kib_per_player"]
                    verdict.append(f"idle: stream-proxy holds {v:.1f} KiB per player "
                                   f"({'meets' if v < 64 else 'MISSES'} the < 64 KiB target)")
        out.append("")
    if verdict:
        out.append("Targets: " + "; ".join(verdict) + ".")
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
    p = sub.add_parser("crc"); p.add_argument("file"); p.set_defaults(f=cmd_crc)
    p = sub.add_parser("idle-origin"); p.add_argument("port", type=int)
    p.add_argument("--max-conns", type=int, default=4096); p.set_defaults(f=cmd_idle_origin)
    p = sub.add_parser("load")
    for k, t in (("--path", str), ("--port", int), ("--players", int), ("--repeat", int), ("--target", str),
                 ("--expect-bytes", int), ("--relay-root", int), ("--origin-root", int), ("--crc", int),
                 ("--timeout", float), ("--round", int)):
        p.add_argument(k, type=t, required=k not in ("--relay-root", "--crc"))
    p.add_argument("--connection", choices=("keep-alive", "close"), default="keep-alive")
    p.set_defaults(f=cmd_load)
    p = sub.add_parser("idle")
    for k, t in (("--path", str), ("--port", int), ("--root", int), ("--count", int), ("--target", str)):
        p.add_argument(k, type=t, required=True)
    p.add_argument("--prime", type=int, default=10)
    p.set_defaults(f=cmd_idle)
    p = sub.add_parser("report")
    p.add_argument("--jsonl", required=True); p.add_argument("--meta", required=True)
    p.add_argument("--results")
    p.set_defaults(f=cmd_report)
    a = ap.parse_args()
    a.f(a)


if __name__ == "__main__":
    main()
