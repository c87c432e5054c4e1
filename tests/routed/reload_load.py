#!/usr/bin/env python3
"""reload_load.py -- the load generator and notify listener of tests/routed/run-reload.sh.

  reload_load.py load PORT STOPFILE OUT [BATCH PAUSE_MS]
      posts NDJSON batches of BATCH (10) `ping` events (seq 1, 2, ...; a
      pause of PAUSE_MS (2) between batches) to
      http://127.0.0.1:PORT/events over one keep-alive connection until
      STOPFILE exists (60 s at most); writes the seq of every event answered
      202 to OUT, one a line, and prints accepted=N refused=N batches=N
  reload_load.py notify SOCKET OUT
      binds a unix datagram socket (SOCKET: a path, or @NAME for an abstract
      one), appends each datagram to OUT as one line ('\\n' inside shown as
      '|'), until one holds STOPPING=1 (60 s at most)
"""
import http.client
import os
import socket
import sys
import time


def load(port, stopfile, out, batch=10, pause_ms=2.0):
    seq = 0
    accepted = refused = batches = 0
    deadline = time.monotonic() + 60
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    with open(out, "w") as f:
        while not os.path.exists(stopfile) and time.monotonic() < deadline:
            seqs = list(range(seq + 1, seq + batch + 1))
            seq += batch
            body = "".join('{"event_type":"ping","seq":%d}\n' % s for s in seqs)
            try:
                conn.request("POST", "/events", body, {"Content-Type": "application/x-ndjson"})
                r = conn.getresponse()
                r.read()
                status = r.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                status = 0
            batches += 1
            if status == 202:
                accepted += len(seqs)
                f.write("".join("%d\n" % s for s in seqs))
            else:
                refused += len(seqs)
                if status in (429, 503):
                    time.sleep(0.05)
            f.flush()
            if pause_ms > 0:
                time.sleep(pause_ms / 1000.0)  # a steady stream, not a benchmark: the machine is shared
    print("accepted=%d refused=%d batches=%d seconds=%.3f" % (accepted, refused, batches,
                                                           time.monotonic() - (deadline - 60)))


def notify(path, out):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + path[1:] if path.startswith("@") else path)
    s.settimeout(1.0)
    deadline = time.monotonic() + 60
    with open(out, "w") as f:
        f.write("bound\n")
        f.flush()
        while time.monotonic() < deadline:
            try:
                msg = s.recv(4096).decode("utf-8", "replace")
            except socket.timeout:
                continue
            f.write(msg.replace("\n", "|") + "\n")
            f.flush()
            if "STOPPING=1" in msg.split("\n"):
                break


if __name__ == "__main__":
    if len(sys.argv) in (5, 7) and sys.argv[1] == "load":
        if len(sys.argv) == 7:
            load(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6]))
        else:
            load(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 4 and sys.argv[1] == "notify":
        notify(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
