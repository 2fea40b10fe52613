#!/usr/bin/env python3
"""A TLS client that holds a connection across a certificate rotation, as a test peer.

  tls_client.py HOST PORT MARKER NEW_CERT_PEM

Opens connection A, sends GET /api/v1/versions (keep-alive), prints {"conn": "A", "status": ...,
"fingerprint": ...}; waits until the file MARKER exists; sends a second request on A and prints
its status; opens connection B and prints its status and fingerprint, and the fingerprint of
NEW_CERT_PEM. Certificates are not verified (the test compares fingerprints). Standard library only.
"""
import hashlib
import json
import os
import socket
import ssl
import sys
import time

host, port, marker, new_pem = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE


def request(conn):
    conn.sendall(f"GET /api/v1/versions HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return 0
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(4096)
        if not chunk:
            break
        body += chunk
    return int(head.split(b" ")[1])


def connect():
    conn = context.wrap_socket(socket.create_connection((host, port), timeout=10), server_hostname=host)
    return conn, hashlib.sha256(conn.getpeercert(binary_form=True)).hexdigest()


a, fingerprint_a = connect()
print(json.dumps({"conn": "A", "status": request(a), "fingerprint": fingerprint_a}), flush=True)
deadline = time.monotonic() + 60
while not os.path.exists(marker):
    if time.monotonic() > deadline:
        sys.exit("no marker")
    time.sleep(0.05)
print(json.dumps({"conn": "A", "status": request(a), "fingerprint": fingerprint_a}), flush=True)
b, fingerprint_b = connect()
with open(new_pem) as f:
    new = hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()
print(json.dumps({"conn": "B", "status": request(b), "fingerprint": fingerprint_b, "new_cert": new}), flush=True)
