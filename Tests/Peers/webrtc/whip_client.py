#!/usr/bin/env python3
"""WHIP publisher / WHEP player for tests (aiortc + aiohttp). Host candidates on --ice-ip only, no STUN.

Usage: python3 whip_client.py publish http://127.0.0.1:18090/whip/s1 [--seconds 5] [--audio] [-v]
       python3 whip_client.py play    http://127.0.0.1:18090/whep/s1 [--seconds 5] [--audio] [--min-frames 30] [-v]
  publish: POSTs an SDP offer (Content-Type: application/sdp), applies the 201 answer, sends a synthetic
           320x240 30 fps video track (moving gradient, VP8/H264 as negotiated; --audio adds silent Opus),
           then DELETEs the Location resource.
  play:    POSTs a recvonly offer and counts decoded frames.
  --srs-json: speak SRS's JSON API instead (POST {"streamurl": --stream-url, "sdp": offer} to the URL, e.g.
           http://proxy:11985/rtc/v1/publish/), no Location/DELETE.
  --patch TYPE: once connected, PATCH the Location with a trickle-ICE fragment (RFC 8840: its ice-ufrag/pwd, the
           first m= section's mid, one of its candidates, end-of-candidates) sent as Content-Type TYPE; repeatable,
           one PATCH each, in order; their statuses are "patch_statuses".
  --media-port P: replace the port of every candidate in the answer with P before using it (send the media to
           another proxy sharing the registry than the one that answered the signalling).
SIGTERM ends the --seconds wait early, as if it had run out (DELETE, result line, exit status as usual).
Prints one JSON line {"mode", "connected", "media_peer" (ip:port of the nominated ICE pair), "location", "video_frames", ...}; exit 0 when ICE/DTLS connected
and (publish) frames were sent / (play) video_frames >= --min-frames; exit 1 otherwise.
"""
import argparse, asyncio, json, logging, re, signal, sys, time
from urllib.parse import urljoin

import aioice.ice
import aiohttp
import av
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.mediastreams import AudioStreamTrack


class TestVideo(VideoStreamTrack):
    """Synthetic yuv420p frames; a gradient that moves 4 px per frame (no numpy needed)."""

    def __init__(self, width: int = 320, height: int = 240) -> None:
        super().__init__()
        self.w, self.h, self.sent = width, height, 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()            # paces at 30 fps
        f = av.VideoFrame(self.w, self.h, "yuv420p")
        y, u, v = f.planes
        y.update(bytes((x + 4 * self.sent) & 255 for x in range(y.line_size)) * self.h)
        u.update(bytes([90]) * u.buffer_size)
        v.update(bytes([200]) * v.buffer_size)
        f.pts, f.time_base = pts, time_base
        self.sent += 1
        return f


async def run(args) -> int:
    # iceServers=[]: else aiortc adds Google STUN; MAX_BUNDLE: one ICE transport/port for audio+video in the offer
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    connected, dead, counts, video = asyncio.Event(), asyncio.Event(), {"video": 0, "audio": 0}, None
    stopped = asyncio.Event()                                    # SIGTERM: finish now, cleanly
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    if args.mode == "publish":
        video = TestVideo()
        pc.addTrack(video)
        if args.audio:
            pc.addTrack(AudioStreamTrack())                      # 20 ms frames of silence
    else:
        pc.addTransceiver("video", direction="recvonly")
        if args.audio:
            pc.addTransceiver("audio", direction="recvonly")

    @pc.on("connectionstatechange")
    def _state() -> None:
        logging.info("connection %s", pc.connectionState)
        if pc.connectionState == "connected":
            connected.set()
        elif pc.connectionState in ("failed", "closed"):
            dead.set()

    async def consume(track) -> None:
        try:
            while True:
                await track.recv()
                counts[track.kind] += 1
        except Exception:
            pass

    pc.on("track", lambda track: asyncio.ensure_future(consume(track)))

    await pc.setLocalDescription(await pc.createOffer())         # gathers all candidates (non-trickle)
    logging.debug("offer:\n%s", pc.localDescription.sdp)
    if args.offer_only:
        print(json.dumps({"offer": pc.localDescription.sdp}))
        await pc.close()
        return 0
    result = {"mode": args.mode, "url": args.url, "connected": False}
    async with aiohttp.ClientSession() as http:
        if args.srs_json:
            payload = json.dumps({"api": args.url, "streamurl": args.stream_url, "clientip": None, "sdp": pc.localDescription.sdp})
            req = http.post(args.url, data=payload, headers={"Content-Type": "application/json"})
        else:
            req = http.post(args.url, data=pc.localDescription.sdp, headers={"Content-Type": "application/sdp"})
        async with req as r:
            body = await r.text()
            ok = r.status == 200 if args.srs_json else r.status == 201
            if ok and args.srs_json:
                answer = json.loads(body)
                ok, body = answer.get("code") == 0, answer.get("sdp", body)
            if not ok:
                print(json.dumps({**result, "http_status": r.status, "body": body[:200]}))
                await pc.close()
                return 1
            location = r.headers.get("Location")
            result["location"] = location
        result["answer_candidates"] = re.findall(r"a=candidate:\S+ \d+ \S+ \d+ (\S+ \d+)", body)
        if args.media_port:
            body = re.sub(r"(a=candidate:\S+ \d+ \S+ \d+ \S+ )\d+", lambda m: m.group(1) + str(args.media_port), body)
            body = re.sub(r"(m=\S+ )\d+", lambda m: m.group(1) + str(args.media_port), body)
        logging.debug("answer (Location %s):\n%s", location, body)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
        try:
            t0 = time.monotonic()
            await asyncio.wait_for(connected.wait(), args.connect_timeout)
            result["connected"], result["connect_s"] = True, round(time.monotonic() - t0, 3)
            result["media_peer"] = media_peer(pc)                # where ICE/DTLS/media actually flow
            if args.patch and location:
                result["patch_statuses"] = []
                for content_type in args.patch:
                    async with http.patch(urljoin(args.url, location), data=trickle_fragment(pc.localDescription.sdp),
                                          headers={"Content-Type": content_type}) as r:
                        result["patch_statuses"].append(r.status)
            # run --seconds, or stop early if the peer goes away (or on SIGTERM)
            waits = [asyncio.ensure_future(dead.wait()), asyncio.ensure_future(stopped.wait())]
            await asyncio.wait(waits, timeout=args.seconds, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()
            if dead.is_set():
                result["ended_early"] = pc.connectionState
        except asyncio.TimeoutError:
            pass
        if location:
            try:
                async with http.delete(urljoin(args.url, location)) as r:
                    result["delete_status"] = r.status
            except aiohttp.ClientError as e:
                result["delete_status"] = str(e)
    await pc.close()
    result.update(video_frames=counts["video"], audio_frames=counts["audio"])
    if video:
        result["video_frames_sent"] = video.sent
    print(json.dumps(result), flush=True)
    ok = result["connected"] and (video.sent > 0 if video else counts["video"] >= args.min_frames)
    return 0 if ok else 1


def trickle_fragment(sdp: str) -> str:
    """An application/trickle-ice-sdpfrag body (RFC 8840) naming this peer's first m= section and one candidate."""
    lines = sdp.splitlines()
    first = lambda prefix: next((l for l in lines if l.startswith(prefix)), "")
    media = first("m=").split(" ")
    out = [first("a=ice-ufrag:"), first("a=ice-pwd:"), f"{media[0]} 9 {media[2]} {media[3]}", first("a=mid:"),
           first("a=candidate:"), "a=end-of-candidates"]
    return "\r\n".join(out) + "\r\n"


def media_peer(pc: RTCPeerConnection) -> str:
    """The remote address of the nominated ICE pair ("ip:port"), i.e. the peer media flows with."""
    for t in pc.getTransceivers():
        conn = getattr(t.receiver.transport.transport, "_connection", None)   # aioice Connection
        for pair in (getattr(conn, "_nominated", None) or {}).values():
            return f"{pair.remote_candidate.host}:{pair.remote_candidate.port}"
    return ""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["publish", "play"])
    ap.add_argument("url")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--connect-timeout", type=float, default=10)
    ap.add_argument("--min-frames", type=int, default=1)
    ap.add_argument("--audio", action="store_true")
    ap.add_argument("--srs-json", action="store_true", help="SRS's JSON signalling (/rtc/v1/publish/, /rtc/v1/play/)")
    ap.add_argument("--stream-url", default="", help="with --srs-json: webrtc://host/app/stream")
    ap.add_argument("--patch", action="append", default=[], metavar="TYPE", help="PATCH a trickle-ICE fragment as this Content-Type")
    ap.add_argument("--media-port", type=int, default=0, help="send the media to this port of the answer's address")
    ap.add_argument("--ice-ip", default="127.0.0.1", help="the only host candidate address offered")
    ap.add_argument("--offer-only", action="store_true", help="print the offer as {\"offer\": SDP} and exit (for tests that send it by hand)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(asctime)s %(message)s")
    for noisy in ("aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [args.ice_ip]
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
