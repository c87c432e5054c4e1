#!/usr/bin/env python3
"""durable_tool.py -- helpers of routed's durability tests (run-durable*.sh).

  load URL ACKED SECONDS THREADS BATCH PREFIX [MAXBATCHES [PAUSE_MS]]
      Posts NDJSON batches of BATCH t.ev events (ids PREFIX-T-N, unique) from
      THREADS threads for at most SECONDS, appending each id to ACKED as soon
      as its request is answered 202 (flushed at once: the file is the
      producer's memory of what routed promised). Stops at the first
      connection error (routed gone), at the time limit, or after MAXBATCHES
      acknowledged batches per thread (0: no limit). Each thread pauses
      PAUSE_MS between requests (a steady load rather than the most it can). Prints the counts
      by status on stdout ("status 202 N", ...) and, with a 503, whether it
      carried Retry-After.
  tcpload PORT ACKED SECONDS PREFIX
      The same over the TCP JSON-lines listener on 127.0.0.1:PORT: chunks of
      20 lines, 20 ms apart; an id is recorded once its "ok N" came back.
  check ACKED_GLOB QUEUE_FILE...
  check-hook ACKED_GLOB RECORDER_LOG BATCH [DLQ_FILE]
      The same for the webhook recorder's log (recorder.py), which gets the
      first event of each batch (an id ending in a multiple of BATCH); an
      event dead-lettered into DLQ_FILE (the built-in DEST.dlq queue) counts
      as delivered.
      Reads every acknowledged id and every message in the queue files;
      prints acknowledged, delivered, lost and duplicated counts per queue;
      exits 1 when any acknowledged id is lost from a queue.
  ids SEGMENT
      Prints "SEQ ID" for every intact frame of a log segment (frame format
      in service/wal.h, record format in service/durable.h).
  flip SEGMENT INDEX
      Flips one bit in the payload of the INDEXth frame of SEGMENT (negative:
      from the end); prints that frame's id.
  cut SEGMENT
      Truncates SEGMENT in the middle of its last frame; prints its id.
"""
import glob
import http.client
import json
import os
import struct
import sys
import threading
import time


def load(url, acked, seconds, nthreads, batch, prefix, maxbatches=0, pause_ms=0):
    host, port = url.split("//")[1].split("/")[0].split(":")
    stop_at = time.monotonic() + float(seconds)
    counts = {}
    lock = threading.Lock()
    out = open(acked, "a")
    flags = {"retry_after_missing": 0, "gone": False}

    def worker(t):
        n = 0
        conn = None
        while time.monotonic() < stop_at and not flags["gone"] and not (maxbatches and n >= maxbatches * batch):
            ids = ["%s-%d-%d" % (prefix, t, n + i) for i in range(batch)]
            body = "".join(json.dumps({"event_type": "t.ev", "id": ids[i], "n": i}) + "\n"
                           for i in range(batch))
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, int(port), timeout=30)
                conn.request("POST", "/events", body, {"Content-Type": "application/x-ndjson"})
                r = conn.getresponse()
                r.read()
                st = r.status
            except (OSError, http.client.HTTPException):
                flags["gone"] = True
                break
            with lock:
                counts[st] = counts.get(st, 0) + 1
                if st == 202:
                    out.write("".join(i + "\n" for i in ids))
                    out.flush()
                    n += batch
                elif st == 503:
                    if r.getheader("Retry-After") is None:
                        flags["retry_after_missing"] += 1
            if st != 202:
                time.sleep(0.05)
            elif pause_ms:
                time.sleep(pause_ms / 1000.0)

    ths = [threading.Thread(target=worker, args=(t,)) for t in range(int(nthreads))]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    out.close()
    for st in sorted(counts):
        print("status %d %d" % (st, counts[st]))
    print("retry_after_missing %d" % flags["retry_after_missing"])


def tcpload(port, acked, seconds, prefix):
    import socket
    stop_at = time.monotonic() + float(seconds)
    out = open(acked, "a")
    try:
        s = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
    except OSError:
        return
    line = 0
    ids = {}
    buf = b""
    nok = 0
    try:
        while time.monotonic() < stop_at:
            chunk = []
            for _ in range(20):
                line += 1
                ids[line] = "%s-%d" % (prefix, line)
                chunk.append(json.dumps({"event_type": "t.ev", "id": ids[line], "n": 1}) + "\n")
            s.sendall("".join(chunk).encode())
            want = line
            got = 0
            while got < 20:
                b = s.recv(65536)
                if not b:
                    raise OSError("closed")
                buf += b
                while b"\n" in buf:
                    ans, buf = buf.split(b"\n", 1)
                    parts = ans.decode().split(" ")
                    got += 1
                    if parts[0] == "ok":
                        out.write(ids.pop(int(parts[1])) + "\n")
                        nok += 1
                out.flush()
            assert want == line
            time.sleep(0.02)
    except OSError:
        pass
    out.close()
    print("tcp ok %d" % nok)


def check(acked_glob, queues):
    acked = set()
    for f in glob.glob(acked_glob):
        with open(f) as fh:
            for line in fh:
                line = line.strip()
                if line:
                    acked.add(line)
    bad = 0
    for q in queues:
        seen = {}
        if os.path.exists(q):
            with open(q, errors="replace") as fh:
                for line in fh:
                    try:
                        i = json.loads(line)["id"]
                    except (ValueError, KeyError, TypeError):
                        continue
                    seen[i] = seen.get(i, 0) + 1
        # an event dead-lettered into the queue's DEST.dlq counts as delivered
        dlq = os.path.dirname(q) + ".dlq/messages.ndjson"
        ndlq = 0
        if os.path.exists(dlq):
            with open(dlq, errors="replace") as fh:
                for line in fh:
                    try:
                        i = json.loads(line)["event"]["id"]
                    except (ValueError, KeyError, TypeError):
                        continue
                    ndlq += 1
                    seen[i] = seen.get(i, 0) + 1
        if ndlq:
            print("%s: %d dead-lettered (counted as delivered)" % (os.path.basename(os.path.dirname(q)), ndlq))
        lost = [i for i in acked if i not in seen]
        dups = sum(1 for i in seen if seen[i] > 1)
        extra = sum(c - 1 for c in seen.values() if c > 1)
        print("%s: acknowledged %d delivered %d lost %d duplicated %d (extra copies %d, max copies %d)" % (
            os.path.basename(os.path.dirname(q)), len(acked), sum(1 for i in acked if i in seen),
            len(lost), dups, extra, max(seen.values()) if seen else 0))
        if lost:
            print("  lost e.g.: %s" % " ".join(sorted(lost)[:5]))
            bad = 1
    sys.exit(bad)


def check_hook(acked_glob, reclog, batch, dlq=None):
    acked = set()
    for f in glob.glob(acked_glob):
        with open(f) as fh:
            for line in fh:
                line = line.strip()
                if line and int(line.rsplit("-", 1)[1]) % batch == 0:
                    acked.add(line)
    seen = {}
    with open(reclog) as fh:
        for line in fh:
            try:
                i = json.loads(json.loads(line)["body"])["id"]
            except (ValueError, KeyError, TypeError):
                continue
            seen[i] = seen.get(i, 0) + 1
    ndlq = 0
    if dlq and os.path.exists(dlq):
        with open(dlq) as fh:
            for line in fh:
                try:
                    i = json.loads(line)["event"]["id"]
                except (ValueError, KeyError, TypeError):
                    continue
                ndlq += 1
                seen[i] = seen.get(i, 0) + 1
    print("hook: dead-lettered %d" % ndlq)
    lost = [i for i in acked if i not in seen]
    print("hook: acknowledged %d delivered %d lost %d duplicated %d (max copies %d)" % (
        len(acked), len(acked) - len(lost), len(lost), sum(1 for c in seen.values() if c > 1),
        max(seen.values()) if seen else 0))
    if lost:
        print("  lost e.g.: %s" % " ".join(sorted(lost)[:5]))
    sys.exit(1 if lost else 0)


def frames(path):
    with open(path, "rb") as fh:
        data = fh.read()
    off = 0
    res = []
    while off + 16 <= len(data):
        ln, crc, seq = struct.unpack_from("<IIQ", data, off)
        if ln == 0 or off + 16 + ln > len(data):
            break
        payload = data[off + 16:off + 16 + ln]
        try:
            ev = json.loads(payload[8:].decode())
            eid = ev.get("id")
        except ValueError:
            eid = None
        res.append((off, ln, seq, eid))
        off += 16 + ln
    return res


def main():
    cmd = sys.argv[1]
    a = sys.argv[2:]
    if cmd == "load":
        load(a[0], a[1], a[2], a[3], int(a[4]), a[5], int(a[6]) if len(a) > 6 else 0,
             int(a[7]) if len(a) > 7 else 0)
    elif cmd == "check":
        check(a[0], a[1:])
    elif cmd == "tcpload":
        tcpload(a[0], a[1], a[2], a[3])
    elif cmd == "check-hook":
        check_hook(a[0], a[1], int(a[2]), a[3] if len(a) > 3 else None)
    elif cmd == "ids":
        for off, ln, seq, eid in frames(a[0]):
            print(seq, eid)
    elif cmd == "flip":
        fr = frames(a[0])
        off, ln, seq, eid = fr[int(a[1])]
        with open(a[0], "r+b") as fh:
            pos = off + 16 + 8 + ln // 2 - 4
            fh.seek(pos)
            b = fh.read(1)
            fh.seek(pos)
            fh.write(bytes([b[0] ^ 0x10]))
        print(eid)
    elif cmd == "cut":
        fr = frames(a[0])
        off, ln, seq, eid = fr[-1]
        os.truncate(a[0], off + 16 + ln // 2)
        print(eid)
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
