#!/usr/bin/env python3
"""recorder.py -- a recording HTTP server with fault modes, for the webhook
tests (tests/routed/run-webhook.sh). Python 3 standard library only.

    recorder.py PORTFILE LOGFILE [CERT KEY]

Listens on 127.0.0.1 (a free port, written to PORTFILE once listening), over
TLS with the PEM certificate CERT and key KEY when they are given, and
appends one JSON line per request to LOGFILE, written when the request
arrives (before answering):
    {"t": <arrival, epoch seconds>, "path": "/MODE/...", "mode": MODE,
     "n": <this body's attempt number at this path, from 1>, "body": "...",
     "headers": {lower-cased name: value}, "answer": what it does}
The first path segment picks the behaviour:
    ok          200
    fail500     500
    flaky       503 for the first two requests with the same body, then 200
    throttle    429 + "Retry-After: 2" (seconds) for a body's first request,
                429 + Retry-After as an HTTP-date 2 s ahead for its second,
                then 200; "retry_after_until" in the log line says when the
                next request may come at the earliest (epoch seconds)
    gone        410
    redirect    302 to /ok/followed (a client must not follow it)
    hang        reads the request, never answers (the connection is held
                until the client gives up, at most 60 s)
    reset       200 status line and half of the announced body, then a TCP
                reset (SO_LINGER 0)
    slow        reads the body one byte per 20 ms, then 200
Every wait is bounded; it exits on SIGTERM or after 10 minutes.
"""
import email.utils
import json
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
attempts = {}  # (path, body) -> requests seen


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is visible

    def log_message(self, fmt, *args):  # quiet
        pass

    def record(self, body, answer, extra=None):
        with lock:
            key = (self.path, body)
            attempts[key] = attempts.get(key, 0) + 1
            n = attempts[key]
            line = {"t": self.t, "path": self.path, "mode": self.path.split("/")[1],
                    "n": n, "body": body, "answer": answer,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "peer": self.client_address[1]}
            if extra:
                line.update(extra(n))
            log.write(json.dumps(line) + "\n")
            log.flush()
            return n, line

    def reply(self, code, headers=()):
        try:
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
        except OSError:  # the client gave up first (shutdown): nothing to answer
            self.close_connection = True

    def do_POST(self):
        self.t = time.time()
        mode = self.path.split("/")[1]
        length = int(self.headers.get("Content-Length", "0"))
        if mode == "slow":
            data = b""
            while len(data) < length:
                data += self.rfile.read(1)
                time.sleep(0.02)
        else:
            data = self.rfile.read(length)
        body = data.decode("utf-8", "replace")
        if mode == "ok" or mode == "slow":
            self.record(body, 200)
            self.reply(200)
        elif mode == "fail500":
            self.record(body, 500)
            self.reply(500)
        elif mode == "flaky":
            n, _ = self.record(body, "503 then 200", None)
            self.reply(503 if n <= 2 else 200)
        elif mode == "throttle":
            now = time.time()
            # the HTTP-date has whole seconds: round up so that it is >= now + 2
            date_at = int(now) + 3

            def extra(n):
                if n == 1:
                    return {"retry_after_until": now + 2}
                if n == 2:
                    return {"retry_after_until": float(date_at)}
                return {}
            n, _ = self.record(body, "429 then 200", extra)
            if n == 1:
                self.reply(429, [("Retry-After", "2")])
            elif n == 2:
                self.reply(429, [("Retry-After", email.utils.formatdate(date_at, usegmt=True))])
            else:
                self.reply(200)
        elif mode == "gone":
            self.record(body, 410)
            self.reply(410)
        elif mode == "redirect":
            self.record(body, 302)
            self.reply(302, [("Location", "/ok/followed")])
        elif mode == "hang":
            self.record(body, "hang")
            # hold the connection until the client closes it (bounded)
            self.connection.settimeout(60)
            try:
                self.connection.recv(1)
            except OSError:
                pass
            self.close_connection = True
        elif mode == "reset":
            self.record(body, "reset")
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"half\":")
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
        else:
            self.record(body, 404)
            self.reply(404)


def main():
    global log
    portfile, logfile = sys.argv[1], sys.argv[2]
    log = open(logfile, "a")
    ThreadingHTTPServer.request_queue_size = 256  # the default backlog, 5, drops SYNs under the fan-out
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if len(sys.argv) > 4:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[3], sys.argv[4])
        # a client that refuses the certificate fails in accept(), which
        # socketserver ignores (ssl.SSLError is an OSError)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(portfile + ".tmp", portfile)
    limit = threading.Timer(600, srv.shutdown)
    limit.daemon = True
    limit.start()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    main()
