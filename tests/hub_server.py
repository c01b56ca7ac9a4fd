#!/usr/bin/env python3
"""A stand-in for the Hugging Face Hub, for wkv pull's tests (tests/pull_test.sh):
the paths wkv uses, answered from local files, with the faults a real network has.

  hub_server.py CONFIG.json LOG
prints its port on the first line of stdout, then serves until killed. CONFIG:
  {"repos": {"USER/REPO": {"commit": "40 hex", "token": "secret or absent",
                           "files": {"NAME": {"path": "/a/file", "fault": "..."}}}}}
Faults: "cut" (the first download stops halfway and the connection drops),
"corrupt" (one byte differs from the SHA-256 the API gives), "slow" (64 KiB
every 50 ms), "norange" (Range is ignored), "huge" (the API claims 1 PiB).
LOG gets a line per request: METHOD PATH RANGE.
"""
import hashlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

config = json.load(open(sys.argv[1]))
log = open(sys.argv[2], "a", buffering=1)
lock = threading.Lock()
blobs = {}  # sha256 -> (path, fault)
served = set()  # files whose first download was cut already

for repo in config["repos"].values():
    for name, f in repo["files"].items():
        data = open(f["path"], "rb").read()
        f["sha256"] = hashlib.sha256(data).hexdigest()
        f["size"] = len(data) if f.get("fault") != "huge" else 1 << 50
        blobs[f["sha256"]] = f


class Hub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def repo(self, parts):
        repo = config["repos"].get("/".join(parts[:2]))
        if repo is None:
            self.reply(404, b'{"error":"Repository not found"}')
            return None
        token = repo.get("token")
        if token and self.headers.get("Authorization") != "Bearer " + token:
            self.reply(401, b'{"error":"Access to this repository is restricted"}')
            return None
        return repo

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        with lock:
            log.write(f"{self.command} {self.path} {self.headers.get('Range', '-')}\n")
        path, _, query = self.path.partition("?")
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and parts[4:6] == ["revision", "main"]:
            repo = self.repo(parts[2:4])
            if repo is None:
                return
            siblings = [{"rfilename": "README.md"}]
            for name, f in repo["files"].items():
                siblings.append({"rfilename": name, "size": f["size"], "lfs": {"sha256": f["sha256"], "size": f["size"]}})
            self.reply(200, json.dumps({"id": "/".join(parts[2:4]), "sha": repo["commit"], "siblings": siblings}).encode())
        elif len(parts) >= 5 and parts[2] == "resolve":
            repo = self.repo(parts[:2])
            if repo is None:
                return
            f = repo["files"].get("/".join(parts[4:]))
            if f is None or parts[3] != repo["commit"]:
                self.reply(404, b"Entry not found")
                return
            self.reply(302, b"", [("Location", "/cdn/" + f["sha256"]), ("X-Repo-Commit", repo["commit"]),
                                  ("X-Linked-Etag", '"' + f["sha256"] + '"'), ("X-Linked-Size", str(f["size"]))])
        elif len(parts) == 2 and parts[0] == "cdn" and parts[1] in blobs:
            self.send_blob(blobs[parts[1]])
        else:
            self.reply(404, b"Not found")

    def send_blob(self, f):
        data = bytearray(open(f["path"], "rb").read())
        fault = f.get("fault")
        if fault == "corrupt":
            data[len(data) // 2] ^= 1
        start = 0
        rng = self.headers.get("Range")
        if rng and fault != "norange":
            start = int(rng.removeprefix("bytes=").split("-")[0])
        if start > len(data):
            self.reply(416)
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = bytes(data[start:])
        if fault == "cut":
            with lock:
                first = f["path"] not in served
                served.add(f["path"])
            if first:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
        for i in range(0, len(body), 1 << 16):
            self.wfile.write(body[i : i + (1 << 16)])
            if fault == "slow":
                self.wfile.flush()
                time.sleep(0.05)


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up is a test's doing
            super().handle_error(request, client_address)


server = Server(("127.0.0.1", 0), Hub)
print(server.server_address[1], flush=True)
server.serve_forever()
