#!/usr/bin/env python3
"""An application written to the streaming coordinator's HTTP contract, as a test peer.

  POST /verify   key verification: empty body, x-streaming-channel, x-streaming-key, x-user-ip.
                 200 (with x-record, x-previews, x-resolutions) for a key given with --key, 403 otherwise.
  POST /events   event callbacks: empty body, x-streaming-channel, x-streaming-id, x-event-type.
                 Answers 500 to the first --fail-events calls, then 200; with --hold-closed, 500 to
                 every stream-closed until POST /control/take-closed.
  GET  /log      every request seen, in order, as a JSON list (method, path, headers, body length,
                 the status answered).

Prints "listening <port>" once it serves. Standard library only.
"""
import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, default=0)
parser.add_argument("--key", action="append", default=[], help="CHANNEL=KEY accepted by /verify")
parser.add_argument("--fail-events", type=int, default=0, help="answer 500 to this many event calls first")
parser.add_argument("--hold-closed", action="store_true", help="answer 500 to stream-closed until POST /control/take-closed")
parser.add_argument("--record", default="true", help="x-record answered with an accepted key")
args = parser.parse_args()

keys = {}
for item in args.key:
    channel, _, key = item.partition("=")
    keys[channel] = key

lock = threading.Lock()
seen = []
failures_left = [args.fail_events]
hold_closed = [args.hold_closed]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def answer(self, status, headers=(), body=b""):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def note(self, status, length):
        with lock:
            seen.append({
                "method": self.command, "path": self.path, "status": status, "body_length": length,
                "headers": {k.lower(): v for k, v in self.headers.items()},
            })

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.startswith("/verify"):
            channel = self.headers.get("x-streaming-channel", "")
            key = self.headers.get("x-streaming-key", "")
            if channel in keys and keys[channel] == key:
                self.note(200, length)
                self.answer(200, [("x-record", args.record), ("x-previews", "256x144, 10"),
                                  ("x-resolutions", "1280x720-30,ORIGINAL")])
            else:
                self.note(403, length)
                self.answer(403)
        elif self.path.startswith("/events"):
            with lock:
                fail = failures_left[0] > 0
                if fail:
                    failures_left[0] -= 1
                if hold_closed[0] and self.headers.get("x-event-type") == "stream-closed":
                    fail = True
            status = 500 if fail else 200
            self.note(status, length)
            self.answer(status)
        elif self.path == "/control/take-closed":
            with lock:
                hold_closed[0] = False
            self.answer(200)
        else:
            self.note(404, length)
            self.answer(404)

    def do_GET(self):
        if self.path == "/log":
            with lock:
                body = json.dumps(seen).encode()
            self.answer(200, [("Content-Type", "application/json")], body)
        else:
            self.answer(404)


server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
print("listening", server.server_address[1], flush=True)
server.serve_forever()
