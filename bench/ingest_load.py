#!/usr/bin/env python3
"""ingest_load.py URL SECONDS PROCS THREADS BATCH -- the load of bench/ingest.sh.

PROCS processes x THREADS threads each POST NDJSON batches of BATCH events
(unique ids, keep-alive connections) for SECONDS and record each request's
latency (send to 202). Prints one line: "events N seconds S p50_ms X p99_ms Y
errors E" (all processes merged).
"""
import http.client
import multiprocessing
import sys
import threading
import time


def proc(url, seconds, nthreads, batch, pidx, q):
    host, port = url.split("//")[1].split("/")[0].split(":")
    lat = []
    counts = [0, 0]
    lock = threading.Lock()
    t_end = time.monotonic() + seconds
    tmpl = '{"event_type":"t.ev","id":"b%d-%d-%d","n":%d,"pad":"abcdefghijklmnopqrstuvwxyz0123456789"}\n'

    def th(t):
        c = http.client.HTTPConnection(host, int(port), timeout=30)
        n = 0
        mine = []
        ok = err = 0
        while time.monotonic() < t_end:
            body = "".join(tmpl % (pidx, t, n + i, i) for i in range(batch))
            t0 = time.monotonic()
            c.request("POST", "/events", body, {"Content-Type": "application/x-ndjson"})
            r = c.getresponse()
            r.read()
            dt = time.monotonic() - t0
            if r.status == 202:
                ok += batch
                mine.append(dt)
            else:
                err += 1
            n += batch
        with lock:
            lat.extend(mine)
            counts[0] += ok
            counts[1] += err

    ths = [threading.Thread(target=th, args=(t,)) for t in range(nthreads)]
    for x in ths:
        x.start()
    for x in ths:
        x.join()
    q.put((counts[0], counts[1], lat))


def main():
    url, seconds, procs, threads, batch = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), \
        int(sys.argv[4]), int(sys.argv[5])
    q = multiprocessing.Queue()
    t0 = time.monotonic()
    ps = [multiprocessing.Process(target=proc, args=(url, seconds, threads, batch, i, q)) for i in range(procs)]
    for p in ps:
        p.start()
    res = [q.get() for _ in ps]
    for p in ps:
        p.join()
    wall = time.monotonic() - t0
    ev = sum(r[0] for r in res)
    err = sum(r[1] for r in res)
    lat = sorted(x for r in res for x in r[2])
    p50 = lat[len(lat) // 2] * 1000 if lat else 0
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else 0
    print("events %d seconds %.3f p50_ms %.2f p99_ms %.2f errors %d" % (ev, wall, p50, p99, err))


if __name__ == "__main__":
    main()
