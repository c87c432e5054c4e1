#!/usr/bin/env python3
"""tcp_client.py -- the TCP JSON-lines client of tests/routed/run-ingest.sh.

  tcp_client.py send PORT FILE
      sends FILE, closes the writing side, prints every acknowledgement line
      until routed closes the connection (10 s at most)
  tcp_client.py hold PORT FILE
      sends FILE and keeps the connection open; prints acks=N once every
      line is acknowledged (10 s at most), then eof=1 when routed closes the
      connection (at SIGTERM), eof=0 after 20 s
  tcp_client.py full PORT
      opens connections until one is refused; prints the refusal line and
      how many were open before it (5 s at most)
  tcp_client.py backpressure N EVENTFILE OUT LOG ROUTED ARGS...
      starts ROUTED ARGS... with its stdout (the stdout sink) on a pipe that
      is not read, its log in LOG; sends N copies of the event in EVENTFILE
      over TCP: acknowledgements must stall (the memory cap is reached and
      routed stops reading the socket); then reads the pipe into OUT until
      every line is acknowledged, and stops routed with SIGTERM. Prints
      key=value facts for the shell to check. Every wait is bounded (about
      2 minutes in all).

Only 127.0.0.1 is contacted.
"""
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request


def read_acks(sock, acks, buf, timeout):
    """Reads what is available within timeout into acks; returns False at EOF."""
    r, _, _ = select.select([sock], [], [], timeout)
    if not r:
        return True
    data = sock.recv(65536)
    if not data:
        return False
    buf += data
    while b"\n" in buf:
        line, _, rest = buf.partition(b"\n")
        buf[:] = rest
        acks.append(line.decode())
    return True


def send(port, path):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    with open(path, "rb") as f:
        sock.sendall(f.read())
    sock.shutdown(socket.SHUT_WR)
    acks, buf = [], bytearray()
    deadline = time.time() + 10
    while time.time() < deadline and read_acks(sock, acks, buf, 0.2):
        pass
    for a in acks:
        print(a)
    sock.close()


def hold(port, path):
    """Sends FILE, keeps the connection open; prints the acks, then whether routed closed it (20 s)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    with open(path, "rb") as f:
        data = f.read()
    sock.sendall(data)
    want = sum(1 for line in data.split(b"\n") if line.strip())
    acks, buf = [], bytearray()
    deadline = time.time() + 10
    while time.time() < deadline and len(acks) < want and read_acks(sock, acks, buf, 0.2):
        pass
    print("acks=%d" % len(acks), flush=True)
    deadline = time.time() + 20
    eof = False
    while time.time() < deadline and not eof:
        eof = not read_acks(sock, acks, buf, 0.2)
    print("eof=%d" % eof, flush=True)
    sock.close()


def full(port):
    conns = []
    deadline = time.time() + 5
    while time.time() < deadline and len(conns) < 100:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        r, _, _ = select.select([s], [], [], 0.3)
        if r:
            print("refused=%s open=%d" % (s.recv(200).decode().strip(), len(conns)))
            break
        conns.append(s)
    for s in conns:
        s.close()


def metric(url, name):
    with urllib.request.urlopen(url, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return -1


def backpressure(argv):
    """routed ARGS... runs with its stdout on a pipe that is not read at first."""
    n, eventfile, out, log = int(argv[0]), argv[1], argv[2], argv[3]
    with open(eventfile, "rb") as f:
        ev = f.read().strip() + b"\n"
    with open(log, "wb") as lf:
        proc = subprocess.Popen(argv[4:], stdout=subprocess.PIPE, stderr=lf, stdin=subprocess.DEVNULL)
    try:
        run_backpressure(proc, n, ev, out, log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        print("exit=%d" % proc.returncode)


def run_backpressure(proc, n, ev, out, log):
    port = tport = None
    deadline = time.time() + 20
    while time.time() < deadline and port is None and proc.poll() is None:
        time.sleep(0.1)
        with open(log) as lf:
            text = lf.read()
        m = re.search(r'"msg":"listening".*"port":(\d+)', text)
        t = re.search(r'"tcp_port":(\d+)', text)
        if m and t:
            port, tport = int(m.group(1)), int(t.group(1))
    if port is None:
        print("started=0")
        return
    print("started=1")
    url = "http://127.0.0.1:%d/metrics" % port
    sock = socket.create_connection(("127.0.0.1", tport), timeout=30)
    sent = threading.Event()

    def sender():
        try:
            sock.sendall(ev * n)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        sent.set()

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    acks, buf = [], bytearray()
    # phase 1: acknowledgements until none came for 1.5 s (20 s at most)
    start = time.time()
    last, last_n = time.time(), 0
    while time.time() - start < 20:
        read_acks(sock, acks, buf, 0.1)
        if len(acks) != last_n:
            last, last_n = time.time(), len(acks)
        elif time.time() - last > 1.5:
            break
    print("stalled_acks=%d" % len(acks))
    print("inflight=%d" % metric(url, "routed_inflight_bytes"))
    print("limit=%d" % metric(url, "routed_inflight_bytes_limit"))
    print("waits=%d" % metric(url, "routed_tcp_backpressure_waits_total"))
    # phase 2: drain the stdout sink; every line must then be acknowledged
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    got = bytearray()
    deadline = time.time() + 40
    eof = False
    while time.time() < deadline and (len(acks) < n or got.count(b"\n") < n):
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                got += os.read(fd, 1 << 20)
            except BlockingIOError:
                pass
        if not eof:
            eof = not read_acks(sock, acks, buf, 0)
    with open(out, "wb") as f:
        f.write(got)
    print("sent_all=%d" % sent.is_set())
    print("final_acks=%d" % len(acks))
    print("ok_acks=%d" % sum(1 for a in acks if a.startswith("ok ")))
    print("in_order=%d" % (acks == ["ok %d" % (i + 1) for i in range(len(acks))]))
    print("out_lines=%d" % got.count(b"\n"))
    sock.close()


def main():
    mode = sys.argv[1]
    if mode == "send":
        send(int(sys.argv[2]), sys.argv[3])
    elif mode == "hold":
        hold(int(sys.argv[2]), sys.argv[3])
    elif mode == "full":
        full(int(sys.argv[2]))
    elif mode == "backpressure":
        backpressure(sys.argv[2:])
    else:
        sys.exit("usage: see the docstring")


if __name__ == "__main__":
    main()
