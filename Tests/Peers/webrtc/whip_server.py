#!/usr/bin/env python3
"""WHIP/WHEP test origin (aiohttp + aiortc). ICE host candidates on --ice-ip only (default 127.0.0.1), no STUN.

Usage: python3 whip_server.py [--host 127.0.0.1] [--port 18090] [--ice-ip 127.0.0.1] [--static DIR] [-v]
  POST   /whip/{stream}        body = SDP offer (Content-Type: application/sdp) -> 201 + SDP answer + Location
  POST   /whep/{stream}        body = SDP offer (recvonly)  -> 201 + answer; relays the publisher's tracks (404 if none)
  POST   /rtc/v1/whip/?app=A&stream=S, /rtc/v1/whep/?app=A&stream=S   -> the same, at SRS's paths
  POST   /rtc/v1/publish/, /rtc/v1/play/  SRS's JSON API: {"streamurl": "webrtc://h/app/stream", "sdp": offer}
                               -> 200 {"code": 0, "server": ..., "sessionid": id, "sdp": answer} (code 404 when nothing to play)
  PATCH  /whip/{stream}/{id}, /whep/{stream}/{id}  trickle ICE (body an SDP fragment) -> 204; 415 unless
                               Content-Type: application/trickle-ice-sdpfrag; 404 for an unknown peer. Recorded, not applied.
  DELETE /whip/{stream}/{id}, /whep/{stream}/{id}           -> 200, closes that peer
  GET    /stats                -> JSON {"streams": {"s1": {"video_frames": N, "audio_frames": M, "publishing": bool}}, "peers": P,
                                  "offers": O (offers received), "patches": [{"path", "content_type", "body", "status"}],
                                  "requests": [{"method", "path", "authorization"}] (the last 200, /stats left out)}
  GET    /static/...           -> files from --static DIR (e.g. an HTML page for a browser publisher)
Ready when: stdout prints "whip_server listening on http://HOST:PORT" (--port 0: a free port, read it there).
Needs: the packages Tests/Peers/requirements.txt pins (scripts/install-deps --test puts them in .venv-peers/).
"""
import argparse, asyncio, logging, signal, uuid

import aioice.ice
from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay

CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "POST, PATCH, DELETE, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type, Authorization",
        "Access-Control-Expose-Headers": "Location", "Access-Control-Allow-Private-Network": "true"}

relay = MediaRelay()
streams: dict = {}          # name -> {"tracks": {kind: track}, "video_frames": n, "audio_frames": n, "publishing": bool}
peers: dict = {}            # id -> RTCPeerConnection
offers = 0                  # offers received (WHIP, WHEP, SRS JSON)
patches: list = []          # every PATCH received: {"path", "content_type", "body", "status"}
requests: list = []         # every request received: {"method", "path", "authorization"} (the last 200)


def new_pc(pc_id: str) -> RTCPeerConnection:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))   # iceServers=[]: else aiortc adds Google STUN
    peers[pc_id] = pc

    @pc.on("connectionstatechange")
    async def _state() -> None:
        logging.info("peer %s %s", pc_id, pc.connectionState)
        if pc.connectionState in ("failed", "closed"):
            await close_peer(pc_id)
    return pc


async def close_peer(pc_id: str) -> None:
    pc = peers.pop(pc_id, None)
    if pc:
        await pc.close()


async def count_frames(name: str, track) -> None:
    st, sub = streams[name], relay.subscribe(track, buffered=False)
    try:
        while True:
            await sub.recv()
            st[f"{track.kind}_frames"] += 1
    except Exception:           # MediaStreamError when the publisher goes away
        st["publishing"] = False


async def answer(request: web.Request, pc: RTCPeerConnection, kind: str, pc_id: str) -> web.Response:
    await pc.setLocalDescription(await pc.createAnswer())    # aiortc gathers all candidates first (no trickle)
    sdp = pc.localDescription.sdp
    logging.debug("answer:\n%s", sdp)
    loc = f"/{kind}/{stream_name(request)}/{pc_id}"
    return web.Response(status=201, text=sdp, content_type="application/sdp", headers={"Location": loc, **CORS})


def stream_name(request: web.Request) -> str:
    """/whip/{stream} or SRS's /rtc/v1/whip/?app=live&stream=s1 (name = stream)."""
    return request.match_info.get("stream") or request.query.get("stream", "")


def count_offer() -> None:
    global offers
    offers += 1


async def whip(request: web.Request) -> web.Response:
    count_offer()
    name = stream_name(request)
    offer = await request.text()
    logging.debug("whip offer:\n%s", offer)
    pc_id = uuid.uuid4().hex[:12]
    pc = new_pc(pc_id)
    streams[name] = {"tracks": {}, "video_frames": 0, "audio_frames": 0, "publishing": True}

    @pc.on("track")
    def _track(track) -> None:
        streams[name]["tracks"][track.kind] = track
        asyncio.ensure_future(count_frames(name, track))

    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    return await answer(request, pc, "whip", pc_id)


async def whep(request: web.Request) -> web.Response:
    count_offer()
    name = stream_name(request)
    st = streams.get(name)
    if not st or not st["publishing"] or not st["tracks"]:
        return web.Response(status=404, text="no such stream\n", headers=CORS)
    pc_id = uuid.uuid4().hex[:12]
    pc = new_pc(pc_id)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=await request.text(), type="offer"))
    offered = {t.kind for t in pc.getTransceivers()}          # only kinds the player asked for (else aiortc raises)
    for kind, track in st["tracks"].items():
        if kind in offered:
            pc.addTrack(relay.subscribe(track))
    return await answer(request, pc, "whep", pc_id)


async def srs_api(request: web.Request) -> web.Response:
    """SRS's /rtc/v1/publish/ and /rtc/v1/play/: the offer and stream URL inside a JSON object."""
    count_offer()
    body = await request.json()
    name = body["streamurl"].split("?")[0].rstrip("/").split("/")[-1]
    play = request.path.startswith("/rtc/v1/play")
    pc_id = uuid.uuid4().hex[:12]
    if play:
        st = streams.get(name)
        if not st or not st["publishing"] or not st["tracks"]:
            return web.json_response({"code": 404, "error": "no such stream"}, headers=CORS)
    pc = new_pc(pc_id)
    if play:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="offer"))
        offered = {t.kind for t in pc.getTransceivers()}
        for kind, track in streams[name]["tracks"].items():
            if kind in offered:
                pc.addTrack(relay.subscribe(track))
    else:
        streams[name] = {"tracks": {}, "video_frames": 0, "audio_frames": 0, "publishing": True}

        @pc.on("track")
        def _track(track) -> None:
            streams[name]["tracks"][track.kind] = track
            asyncio.ensure_future(count_frames(name, track))

        await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    return web.json_response({"code": 0, "server": "aiortc", "sessionid": pc_id, "sdp": pc.localDescription.sdp}, headers=CORS)


async def delete(request: web.Request) -> web.Response:
    await close_peer(request.match_info["id"])
    return web.Response(status=200, headers=CORS)


async def patch(request: web.Request) -> web.Response:
    """Trickle ICE (RFC 8840): the fragment is recorded for the tests, not applied to the peer."""
    body = await request.text()
    content_type = request.headers.get("Content-Type", "")
    if request.match_info["id"] not in peers:
        status = 404
    elif content_type.split(";")[0].strip().lower() != "application/trickle-ice-sdpfrag":
        status = 415
    else:
        status = 204
    patches.append({"path": request.path, "content_type": content_type, "body": body, "status": status})
    return web.Response(status=status, headers=CORS)


async def stats(request: web.Request) -> web.Response:
    out = {n: {k: v for k, v in s.items() if k != "tracks"} for n, s in streams.items()}
    return web.json_response({"streams": out, "peers": len(peers), "offers": offers, "patches": patches, "requests": requests}, headers=CORS)


@web.middleware
async def record(request: web.Request, handler):
    if request.path != "/stats":
        requests.append({"method": request.method, "path": request.path_qs, "authorization": request.headers.get("Authorization"),
                         "forwarded_for": request.headers.get("X-Forwarded-For"), "real_ip": request.headers.get("X-Real-IP")})
        del requests[:-200]
    return await handler(request)


async def options(request: web.Request) -> web.Response:
    return web.Response(status=204, headers=CORS)


async def on_shutdown(app: web.Application) -> None:
    await asyncio.gather(*(close_peer(i) for i in list(peers)))


async def serve(app: web.Application, host: str, port: int, name: str) -> None:
    """Serve until SIGTERM/SIGINT; --port 0 picks a free port, printed in the ready line."""
    runner = web.AppRunner(app, shutdown_timeout=1.0)   # do not wait for endless streaming responses
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    port = runner.addresses[0][1]
    print(f"{name} listening on http://{host}:{port}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18090)
    ap.add_argument("--ice-ip", default="127.0.0.1", help="the only host candidate address offered")
    ap.add_argument("--static", default="", help="serve this directory under /static/")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("aioice", "aiortc", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # aioice enumerates every interface but skips 127.0.0.1; pin candidates to one address instead.
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [args.ice_ip]

    app = web.Application(middlewares=[record])
    app.router.add_post("/whip/{stream}", whip)
    app.router.add_post("/whep/{stream}", whep)
    app.router.add_post("/rtc/v1/whip/", whip)           # SRS's WHIP/WHEP paths, as SRS players use them
    app.router.add_post("/rtc/v1/whep/", whep)
    app.router.add_post("/rtc/v1/publish/", srs_api)    # SRS's JSON signalling (its web players use it)
    app.router.add_post("/rtc/v1/play/", srs_api)
    app.router.add_patch("/whip/{stream}/{id}", patch)
    app.router.add_patch("/whep/{stream}/{id}", patch)
    app.router.add_delete("/whip/{stream}/{id}", delete)
    app.router.add_delete("/whep/{stream}/{id}", delete)
    app.router.add_route("OPTIONS", "/{tail:.*}", options)
    app.router.add_get("/stats", stats)
    if args.static:
        app.router.add_static("/static/", args.static)
    app.on_shutdown.append(on_shutdown)
    asyncio.run(serve(app, args.host, args.port, "whip_server"))


if __name__ == "__main__":
    main()
