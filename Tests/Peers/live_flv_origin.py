#!/usr/bin/env python3
"""A live HTTP-FLV origin serving many players from one source per stream, as an SRS origin's
HTTP-FLV output does. Test and bench peer: Python standard library and the ffmpeg binary.

  GET /<app>/<name>.flv   The stream's live FLV: 200, Content-Type video/x-flv, chunked, then the
                          FLV header, onMetaData and the AVC/AAC sequence headers, then the live
                          tags from the NEXT video keyframe on (SRS with gop_cache off), or from the
                          current GOP's keyframe with --gop-cache (SRS's gop_cache on). The first
                          request for a path starts one ffmpeg for it, shared by every player of the
                          path; when it ends, every player's response ends (chunked terminator) and
                          the next request starts a new one. HEAD answers the head only.
  GET /stats              {"connections": stream requests accepted, total, "active": player
                          responses open now, "requests": {path: n}, "sources": sources started,
                          total, "sources_live": running now, "slow_disconnects": players dropped
                          for a full send buffer}
  anything else           404 (405 for a method other than GET/HEAD on a .flv path). Every response
                          is its connection's last (no keep-alive).

Sources: a lavfi test pattern (testsrc2 + sine, x264 ultrafast zerolatency with a fixed GOP, AAC
64k, paced with -re) with --size/--fps/--gop/--bitrate/--seconds; or with --rtmp rtmp://HOST:PORT,
/<app>/<name>.flv relays rtmp://HOST:PORT/<app>/<name> with -c copy (opening it is retried for up
to 10 s, as the publisher may come later; a source that never sends its FLV header answers the
players that waited 404).

Players get one write per batch of whole tags read from ffmpeg (never one per tag); --merge-ms
gathers the reads of that many milliseconds into one batch, as SRS's mw_latency does. A player
whose send buffer passes --max-player-buffer is disconnected (logged on stderr, counted).

  python3 live_flv_origin.py --port 0 [--seconds 6] [--size 640x360 --fps 25 --gop 50 --bitrate 1M]
  python3 live_flv_origin.py --port 0 --rtmp rtmp://127.0.0.1:19350 [--gop-cache]

Ready when it prints "live_flv_origin listening on http://127.0.0.1:PORT" (--port 0: a free port,
read it there). SIGTERM or SIGINT stops every ffmpeg child and exits within 2 s.
"""

import argparse
import asyncio
import json
import os
import signal
import sys
import time

try:  # ffmpeg children die with this process even when it is SIGKILLed (Linux only)
    import ctypes
    _LIBC = ctypes.CDLL(None, use_errno=True)
except (ImportError, OSError):
    _LIBC = None

PR_SET_PDEATHSIG = 1
READ_SIZE = 1 << 20
MAX_HEAD = 16384
MAX_TAG = 16 << 20  # the FLV tag size field's range (24 bits) is the only bound a tag has
RTMP_OPEN_S = 10.0

TAG_AUDIO, TAG_VIDEO, TAG_SCRIPT = 8, 9, 18
KIND_MEDIA, KIND_KEYFRAME, KIND_META, KIND_VIDEO_SEQ, KIND_AUDIO_SEQ = range(5)


def log(msg):
    print(f"live_flv_origin: {msg}", file=sys.stderr, flush=True)


def chunk(data):
    return b"%x\r\n" % len(data) + data + b"\r\n"


def classify(tag):
    """The kind of one whole FLV tag (11-byte header, data, 4-byte previous tag size)."""
    ttype = tag[0] & 0x1F
    size = len(tag) - 15
    if ttype == TAG_SCRIPT:
        return KIND_META if b"onMetaData" in tag[11:40] else KIND_MEDIA
    if size < 1:
        return KIND_MEDIA
    first = tag[11]
    if ttype == TAG_VIDEO:
        frame_type = (first >> 4) & 0x07
        if first & 0x80:  # enhanced RTMP: IsExHeader, the low nibble is the packet type
            if first & 0x0F == 0:  # SequenceStart
                return KIND_VIDEO_SEQ
        elif first & 0x0F in (7, 12) and size >= 2 and tag[12] == 0:  # AVC / HEVC sequence header
            return KIND_VIDEO_SEQ
        return KIND_KEYFRAME if frame_type == 1 else KIND_MEDIA
    if ttype == TAG_AUDIO:
        fmt = first >> 4
        if fmt == 10 and size >= 2 and tag[12] == 0:  # AAC sequence header
            return KIND_AUDIO_SEQ
        if fmt == 9 and first & 0x0F == 0:  # enhanced audio: SequenceStart
            return KIND_AUDIO_SEQ
    return KIND_MEDIA


HEAD_OK = (b"HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nTransfer-Encoding: chunked\r\n"
           b"Connection: close\r\nCache-Control: no-cache\r\nServer: live_flv_origin\r\n\r\n")


def simple_response(status, reason, body=b"", ctype="text/plain"):
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\nServer: live_flv_origin\r\n\r\n").encode() + body


class Player:
    __slots__ = ("conn", "state")

    def __init__(self, conn):
        self.conn = conn
        self.state = "pending"  # no head yet (the source has no FLV header) -> "waiting" (for a keyframe) -> "live"


class Source:
    """One ffmpeg and the players of one path."""

    def __init__(self, origin, path):
        self.origin = origin
        self.path = path
        self.players = {}
        self.header = None   # the FLV header with PreviousTagSize0
        self.meta = None     # the last onMetaData tag
        self.vseq = None     # the last video and audio sequence headers
        self.aseq = None
        self.gop = []        # whole tags from the last keyframe on (config tags excepted)
        self.gop_bytes = 0
        self.buf = bytearray()
        self.pending = []    # tags read but not yet sent (--merge-ms)
        self.flush_handle = None
        self.proc = None
        self.ended = False
        self.idle_handle = None
        self.bytes_in = 0
        self.task = asyncio.get_running_loop().create_task(self.run())

    # ---------------------------------------------------------------- ffmpeg

    def command(self):
        a = self.origin.args
        dur = ["-t", f"{a.seconds:g}"] if a.seconds else []
        if a.rtmp:
            url = a.rtmp.rstrip("/") + self.path[:-len(".flv")]
            return [a.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-rw_timeout", "2000000",
                    "-i", url, *dur, "-c", "copy", "-flush_packets", "1", "-f", "flv", "pipe:1"]
        w, h = a.size.split("x")
        return [a.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
                "-re", "-f", "lavfi", "-i", f"testsrc2=size={w}x{h}:rate={a.fps}",
                "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100", *dur,
                "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", str(a.gop),
                "-keyint_min", str(a.gop), "-sc_threshold", "0", "-b:v", a.bitrate, "-maxrate", a.bitrate,
                "-bufsize", a.bitrate, "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k",
                "-flush_packets", "1", "-f", "flv", "pipe:1"]

    async def run(self):
        loop = asyncio.get_running_loop()
        t0 = time.monotonic()
        rc = None
        try:
            while True:
                self.proc = await asyncio.create_subprocess_exec(
                    *self.command(), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                    preexec_fn=_die_with_parent, limit=4 * READ_SIZE)
                log(f"source {self.path}: ffmpeg pid {self.proc.pid} started")
                while data := await self.proc.stdout.read(READ_SIZE):
                    self.bytes_in += len(data)
                    tags = self.parse(data)
                    if tags is None:
                        break
                    self.pending.extend(tags)
                    if self.origin.merge <= 0:
                        self.flush()
                    elif self.flush_handle is None:
                        self.flush_handle = loop.call_later(self.origin.merge, self.flush)
                if self.proc.returncode is None and self.header is None and self.bytes_in:
                    self.proc.kill()  # not FLV
                rc = await self.proc.wait()
                if (self.bytes_in or not self.origin.args.rtmp or self.origin.stopping
                        or time.monotonic() - t0 >= RTMP_OPEN_S):
                    break
                await asyncio.sleep(0.5)  # the publisher may not be there yet
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a source's failure ends its players, never the server
            log(f"source {self.path}: {type(e).__name__}: {e}")
        finally:
            if self.flush_handle is not None:
                self.flush_handle.cancel()
                self.flush_handle = None
            if self.pending and not self.ended:
                self.flush()
            await self.end(rc)

    def parse(self, data):
        """The whole tags now complete, or None when the stream is not FLV."""
        buf = self.buf
        buf += data
        pos = 0
        if self.header is None:
            if len(buf) < 9:
                return []
            if buf[:3] != b"FLV":
                log(f"source {self.path}: ffmpeg's output is not FLV ({bytes(buf[:16])!r})")
                return None
            offset = int.from_bytes(buf[5:9], "big")
            if len(buf) < offset + 4:
                return []
            self.header = bytes(buf[:offset + 4])
            pos = offset + 4
        tags = []
        n = len(buf)
        while n - pos >= 11:
            size = int.from_bytes(buf[pos + 1:pos + 4], "big")
            total = 15 + size
            if n - pos < total:
                break
            tags.append(bytes(buf[pos:pos + total]))
            pos += total
        if pos:
            del buf[:pos]
        return tags

    # ---------------------------------------------------------------- distribution

    def flush(self):
        """Sends the pending tags: one write per player."""
        self.flush_handle = None
        tags, self.pending = self.pending, []
        kinds = [classify(t) for t in tags]
        players = list(self.players.values())
        # Players that joined before the FLV header existed get their head now.
        if self.header is not None:
            first = None
            for p in players:
                if p.state == "pending":
                    if first is None:
                        first = HEAD_OK + chunk(self.header)
                    p.state = "waiting"
                    self.origin.send(p, first)
        if tags:
            full = None
            waiting = None
            kf = next((i for i, k in enumerate(kinds) if k == KIND_KEYFRAME), None)
            for p in players:
                if p.state == "live":
                    if full is None:
                        full = chunk(b"".join(tags))
                    self.origin.send(p, full)
                elif p.state == "waiting":
                    if waiting is None:
                        # Configuration tags before the keyframe (the first ones of a source, or a
                        # change), then everything from the keyframe on.
                        cut = len(tags) if kf is None else kf
                        part = [t for t, k in zip(tags[:cut], kinds[:cut]) if k >= KIND_META] + tags[cut:]
                        waiting = chunk(b"".join(part)) if part else b""
                    if waiting:
                        self.origin.send(p, waiting)
                    if kf is not None:
                        p.state = "live"
        self.update(tags, kinds)

    def update(self, tags, kinds):
        gop_cache = self.origin.args.gop_cache
        for tag, kind in zip(tags, kinds):
            if kind == KIND_META:
                self.meta = tag
            elif kind == KIND_VIDEO_SEQ:
                self.vseq = tag
            elif kind == KIND_AUDIO_SEQ:
                self.aseq = tag
            elif gop_cache:
                if kind == KIND_KEYFRAME:
                    self.gop, self.gop_bytes = [tag], len(tag)
                elif self.gop:
                    self.gop.append(tag)
                    self.gop_bytes += len(tag)
                    if self.gop_bytes > self.origin.args.max_gop_bytes:
                        self.gop, self.gop_bytes = [], 0  # until the next keyframe

    def join(self, conn):
        player = Player(conn)
        conn.player = player
        if self.idle_handle is not None:
            self.idle_handle.cancel()
            self.idle_handle = None
        self.players[id(conn)] = player
        if self.header is not None:
            config = [self.header] + [t for t in (self.meta, self.vseq, self.aseq) if t is not None]
            player.state = "waiting"
            if self.origin.args.gop_cache and self.gop:
                config += self.gop
                player.state = "live"
            self.origin.send(player, HEAD_OK + chunk(b"".join(config)))

    def leave(self, conn):
        if self.players.pop(id(conn), None) is not None and not self.players and not self.ended:
            idle = self.origin.args.idle_stop
            if idle > 0:
                self.idle_handle = asyncio.get_running_loop().call_later(idle, self.stop_idle)

    def stop_idle(self):
        self.idle_handle = None
        if not self.players and self.proc is not None and self.proc.returncode is None:
            log(f"source {self.path}: no player for {self.origin.args.idle_stop:g} s, stopping it")
            self.proc.terminate()

    async def end(self, rc):
        if self.ended:
            return
        self.ended = True
        if self.idle_handle is not None:
            self.idle_handle.cancel()
        if self.origin.sources.get(self.path) is self:
            del self.origin.sources[self.path]
        players = list(self.players.values())
        self.players.clear()
        for p in players:
            conn = p.conn
            if p.state == "pending":
                conn.finish(simple_response(404, "Not Found", b"no such stream\n"))
            else:
                conn.finish(b"0\r\n\r\n")
        log(f"source {self.path}: ended (ffmpeg exit {rc}), {self.bytes_in} bytes read, "
            f"{len(players)} player(s) ended")

    async def kill(self):
        proc = self.proc
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 1.0)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()


def _die_with_parent():
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Conn(asyncio.Protocol):
    """One client connection: one request, one response."""

    def __init__(self, origin):
        self.origin = origin
        self.transport = None
        self.head = bytearray()
        self.answered = False
        self.source = None
        self.player = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if self.answered:
            return  # whatever a player sends after its request is ignored
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > MAX_HEAD:
                self.answered = True
                self.finish(simple_response(431, "Request Header Fields Too Large"))
            return
        self.answered = True
        self.origin.handle(self, bytes(self.head[:end]))

    def eof_received(self):
        return False  # the client has gone (or half-closed): close

    def connection_lost(self, exc):
        if self.source is not None:
            self.source.leave(self)
            self.source = None
            self.origin.active -= 1

    def finish(self, data):
        """Writes the response's last bytes and closes once they are sent."""
        if self.source is not None:
            self.source = None
            self.origin.active -= 1
        if not self.transport.is_closing():
            if data:
                self.transport.write(data)
            self.transport.close()


class Origin:
    def __init__(self, args):
        self.args = args
        self.merge = args.merge_ms / 1000.0
        self.sources = {}
        self.connections = 0
        self.active = 0
        self.requests = {}
        self.sources_started = 0
        self.slow_disconnects = 0
        self.stopping = False

    def send(self, player, data):
        t = player.conn.transport
        if t.is_closing():
            return
        t.write(data)
        if t.get_write_buffer_size() > self.args.max_player_buffer:
            self.slow_disconnects += 1
            peer = t.get_extra_info("peername")
            log(f"player {peer[0]}:{peer[1]} of {player.conn.source.path if player.conn.source else '?'}: "
                f"send buffer over {self.args.max_player_buffer} bytes, disconnecting it")
            t.abort()

    def handle(self, conn, head):
        try:
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, target, version = line.split(" ")
            if not version.startswith("HTTP/1."):
                raise ValueError(version)
        except ValueError:
            conn.finish(simple_response(400, "Bad Request"))
            return
        path = target.split("?", 1)[0]
        if path == "/stats":
            body = json.dumps({"connections": self.connections, "active": self.active, "requests": self.requests,
                               "sources": self.sources_started, "sources_live": len(self.sources),
                               "slow_disconnects": self.slow_disconnects}).encode()
            conn.finish(simple_response(200, "OK", body, "application/json"))
            return
        parts = path.split("/")
        if not path.endswith(".flv") or len(parts) < 3 or not all(parts[1:]) or ".." in parts:
            conn.finish(simple_response(404, "Not Found", b"not found\n"))
            return
        if method == "HEAD":
            conn.finish(HEAD_OK)
            return
        if method != "GET":
            conn.finish(simple_response(405, "Method Not Allowed"))
            return
        if self.stopping:
            conn.finish(simple_response(503, "Service Unavailable"))
            return
        self.connections += 1
        self.requests[path] = self.requests.get(path, 0) + 1
        source = self.sources.get(path)
        if source is None:
            source = Source(self, path)
            self.sources[path] = source
            self.sources_started += 1
        conn.source = source
        self.active += 1
        source.join(conn)

    async def stop(self):
        self.stopping = True
        sources = list(self.sources.values())
        await asyncio.gather(*(s.kill() for s in sources), return_exceptions=True)
        for s in sources:
            try:
                await asyncio.wait_for(asyncio.shield(s.task), 0.5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                s.task.cancel()


def parse_args():
    ap = argparse.ArgumentParser(description="Live HTTP-FLV origin: one ffmpeg source per stream path, many players.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: a free port (printed in the ready line)")
    ap.add_argument("--rtmp", default="", help="relay rtmp://HOST:PORT/<app>/<name> (-c copy) instead of a test pattern")
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--gop", type=int, default=50, help="keyframe interval in frames")
    ap.add_argument("--bitrate", default="1M", help="x264 -b:v, -maxrate and -bufsize")
    ap.add_argument("--seconds", type=float, default=0, help="length of each source (0: until stopped)")
    ap.add_argument("--gop-cache", action="store_true", help="new players start with the current GOP")
    ap.add_argument("--merge-ms", type=float, default=0, help="gather reads for this long into one write")
    ap.add_argument("--max-player-buffer", type=int, default=8 << 20, help="bytes queued for one player before it is dropped")
    ap.add_argument("--max-gop-bytes", type=int, default=32 << 20, help="largest GOP kept by --gop-cache")
    ap.add_argument("--idle-stop", type=float, default=0, help="stop a source this long after its last player left (0: never)")
    ap.add_argument("--ffmpeg", default="ffmpeg")
    a = ap.parse_args()
    try:
        w, h = a.size.split("x")
        if int(w) <= 0 or int(h) <= 0:
            raise ValueError
    except ValueError:
        ap.error(f"--size must be WIDTHxHEIGHT (got {a.size!r})")
    if a.rtmp and not a.rtmp.startswith("rtmp://"):
        ap.error("--rtmp must be rtmp://HOST:PORT")
    return a


async def main():
    args = parse_args()
    origin = Origin(args)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Conn(origin), args.host, args.port, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(f"live_flv_origin listening on http://{args.host}:{port}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await origin.stop()
    for conn in [p.conn for s in list(origin.sources.values()) for p in s.players.values()]:
        conn.transport.abort()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
