#!/usr/bin/env python3
"""webhook-check.py -- the checks of run-webhook.sh over what recorder.py
logged, the dead-letter queues routed wrote and a /metrics scrape.

    webhook-check.py phase1|phase2 RECLOG DATADIR EVENTS T0 METRICS

EVENTS holds the NDJSON posted in this phase (their ids pick the records
that belong to it); T0 is when they were posted (phase1) or when SIGTERM
was sent (phase2), epoch seconds. Prints one PASS:/FAIL: line per check.
"""
import json
import os
import sys

phase, reclog, datadir, events_file, t0, metrics_file = sys.argv[1:7]
t0 = float(t0)
events = [json.loads(l) for l in open(events_file) if l.strip()]
ids = [e["id"] for e in events]
byid = {e["id"]: e for e in events}
SLACK = 0.35  # seconds: scheduling, connecting, the sanitizer build
DESTS = ["healthy", "flaky", "failing", "throttled", "gone", "hanging", "resetting", "slow", "aged",
         "secure", "untrusted", "redirected"]


def say(ok, what):
    print(("PASS: " if ok else "FAIL: ") + what)


recs = []
for line in open(reclog):
    r = json.loads(line)
    try:
        body = json.loads(r["body"])
    except ValueError:
        continue
    if body.get("id") in byid:
        r["event"] = body
        recs.append(r)


def requests(dest, i):
    return sorted((r for r in recs if r["path"].endswith("/" + dest) and r["event"]["id"] == i),
                  key=lambda r: r["t"])


def recs_at(path):
    return [r for r in recs if r["path"] == path]


def read_queue(name):
    path = os.path.join(datadir, "queues", name, "messages.ndjson")
    if not os.path.exists(path):
        return []
    return [json.loads(l) for l in open(path) if l.strip()]


# dead-letter envelopes of this phase, by destination and id
dlq = {d: {} for d in DESTS}
for name in [d + ".dlq" for d in DESTS] + ["parked"]:
    for env in read_queue(name):
        if env.get("event", {}).get("id") in byid:
            dlq.setdefault(env["destination"], {}).setdefault(env["event"]["id"], []).append(env)


def delivered(dest, i):
    """1 when recorder answered 2xx to a request for this destination and id."""
    for r in requests(dest, i):
        mode, n = r["mode"], r["n"]
        if mode in ("ok", "slow") or (mode == "flaky" and n >= 3) or (mode == "throttle" and n >= 3):
            return 1
    return 0


# ---- both phases: delivered + dead-lettered = accepted, never both -----------------
for d in DESTS:
    nd = sum(delivered(d, i) for i in ids)
    nq = sum(1 for i in ids if dlq[d].get(i))
    both = [i for i in ids if delivered(d, i) and dlq[d].get(i)]
    dup = [i for i in ids if len(dlq[d].get(i, [])) > 1]
    say(nd + nq == len(ids) and not both and not dup,
        "%s: delivered (%d) + dead-lettered (%d) = accepted (%d), none both%s" %
        (d, nd, nq, len(ids), " (both: %s, dup: %s)" % (both, dup) if both or dup else ""))


def envelopes_ok(d, reason, failure, status, attempts=None):
    bad = []
    for i in ids:
        for env in dlq[d].get(i, []):
            if (env["reason"] != reason or env["failure"] != failure or env["status"] != status
                    or (attempts is not None and env["attempts"] != attempts)
                    or env["event"] != byid[i] or env["rules"] != ["fanout"]
                    or env["destination"] != d):
                bad.append(env)
    return bad


if phase == "phase1":
    # healthy: once each, headers and auth as configured, not held up by "hanging"
    hs = [r for r in recs if r["path"] == "/ok/healthy"]
    say(sorted(r["event"]["id"] for r in hs) == sorted(ids), "healthy: every event POSTed exactly once")
    say(all(r["event"] == byid[r["event"]["id"]] for r in hs), "healthy: the body is the event as accepted")
    h = hs[0]["headers"] if hs else {}
    say(h.get("content-type") == "application/json", "healthy: Content-Type: application/json")
    say(h.get("x-test") == "yes" and h.get("x-tenant") == "acme", "healthy: both configured headers sent")
    say(h.get("authorization") == "Bearer s3cret", "healthy: Authorization: Bearer from bearer_token")
    say(h.get("user-agent", "").startswith("routed/"), "healthy: User-Agent routed/VERSION")
    late = max((r["t"] for r in hs), default=t0 + 99) - t0
    say(late < 1.2, "healthy: every message arrived %.2f s after the POST, while 'hanging' holds "
        "its messages 1.5 s per attempt (a stalled destination does not slow the others)" % late)
    peers = set(r["peer"] for r in hs)
    say(len(peers) <= 4, "healthy: %d messages over %d connections (max_in_flight 4: reused)" %
        (len(hs), len(peers)))
    s = [r for r in recs if r["path"] == "/slow/slow"]
    say(len(s) == len(ids) and all(r["headers"].get("authorization") == "Basic dXNlcjpwdw==" for r in s),
        "slow: delivered once each despite slow reads (rules' timeout 3s over the file's 100ms), "
        "with basic auth")

    # retry gaps within full jitter: retry k waits U[0, min(400ms, 50ms * 2^(k-1))]
    def gaps_ok(d, want, caps):
        worst = 0.0
        for i in ids:
            rs = requests(d, i)
            if len(rs) != want:
                return False, "%s got %d requests, want %d" % (i, len(rs), want)
            for k in range(1, len(rs)):
                g = rs[k]["t"] - rs[k - 1]["t"]
                worst = max(worst, g - caps[k - 1])
                if g > caps[k - 1] + SLACK:
                    return False, "%s: gap before retry %d is %.3f s, over %.3f s + slack" % (
                        i, k, g, caps[k - 1])
        return True, "worst gap over its bound: %+.3f s (slack %.2f s)" % (worst, SLACK)
    ok, why = gaps_ok("flaky", 3, [0.05, 0.1])
    say(ok, "flaky: 503, 503, 200 for each; retry gaps within 50 ms, 100 ms (%s)" % why)
    ok, why = gaps_ok("failing", 4, [0.05, 0.1, 0.2])
    say(ok, "failing: 1 + retry 3 attempts each; gaps within 50, 100, 200 ms (%s)" % why)
    ok, why = gaps_ok("resetting", 3, [0.05, 0.1])
    say(ok, "resetting: 1 + retry 2 attempts each; gaps within 50, 100 ms (%s)" % why)
    ok, why = gaps_ok("gone", 1, [])
    say(ok, "gone: 410 is not retried: one attempt each")
    ok, why = gaps_ok("hanging", 2, [0.1 + 1.5])
    say(ok, "hanging: each attempt timed out, 1 + retry 1 attempts (%s)" % why)

    # Retry-After: never earlier than it says (seconds, then an HTTP-date)
    early = []
    for i in ids:
        rs = requests("throttled", i)
        if len(rs) != 3:
            early.append("%s: %d requests" % (i, len(rs)))
            continue
        for k in (1, 2):
            if rs[k]["t"] < rs[k - 1]["retry_after_until"]:
                early.append("%s: retry %d came %.3f s early" % (i, k, rs[k - 1]["retry_after_until"] - rs[k]["t"]))
    say(not early, "throttled: 429 + Retry-After: 2, then 429 + an HTTP-date: no retry before either %s" %
        (early if early else ""))

    # the dead-letter envelopes
    b = envelopes_ok("failing", "retries_exhausted", "http_5xx", 500, 4)
    say(not b and len(dlq["failing"]) == len(ids),
        "failing: envelopes in its dead_letter destination 'parked' (retries_exhausted, http_5xx, "
        "500, 4 attempts, rules, the event) %s" % (b[:1] if b else ""))
    say(not read_queue("failing.dlq"), "failing: nothing in its own failing.dlq (it has a dead_letter)")
    b = envelopes_ok("gone", "rejected", "http_410", 410, 1)
    say(not b and len(dlq["gone"]) == len(ids), "gone: in gone.dlq after 1 attempt (rejected, http_410) %s" %
        (b[:1] if b else ""))
    b = envelopes_ok("hanging", "retries_exhausted", "timeout", 0, 2)
    say(not b and len(dlq["hanging"]) == len(ids), "hanging: in hanging.dlq (timeout, 2 attempts) %s" %
        (b[:1] if b else ""))
    b = envelopes_ok("resetting", "retries_exhausted", "connection", 200, 3)
    say(not b and len(dlq["resetting"]) == len(ids),
        "resetting: in resetting.dlq (connection, 3 attempts) %s" % (b[:1] if b else ""))
    sec = [r for r in recs if r["path"] == "/ok/secure"]
    say(sorted(r["event"]["id"] for r in sec) == sorted(ids),
        "secure: delivered over TLS, the self-signed certificate verified against ca_file")
    b = envelopes_ok("untrusted", "retries_exhausted", "tls", 0, 2)
    say(not b and len(dlq["untrusted"]) == len(ids) and not [r for r in recs if r["path"] == "/ok/untrusted"],
        "untrusted: the same server without ca_file is refused (tls, 2 attempts, nothing sent) %s" %
        (b[:1] if b else ""))
    b = envelopes_ok("redirected", "rejected", "http_other", 302, 1)
    say(not b and len(dlq["redirected"]) == len(ids) and len(recs_at("/redirect/redirected")) == len(ids)
        and not recs_at("/ok/followed"),
        "redirected: a 302 is not followed: one attempt each, dead-lettered (rejected, http_other) %s" %
        (b[:1] if b else ""))
    b = envelopes_ok("aged", "max_age", "http_5xx", 500)
    say(not b and len(dlq["aged"]) == len(ids), "aged: given up on max_age 1s %s" % (b[:1] if b else ""))
    span = max(requests("aged", i)[-1]["t"] for i in ids) - t0
    natt = min(len(requests("aged", i)) for i in ids)
    say(span < 1.0 + SLACK and natt >= 3,
        "aged: retried (at least %d attempts) for %.2f s, no attempt after max_age" % (natt, span))
    env = dlq["gone"][ids[0]][0]
    say(env["first_attempt"] and env["first_attempt"] == env["last_attempt"] and
        env["first_attempt"].endswith("Z"), "an envelope has first/last attempt timestamps (UTC)")

    # metrics
    m = {}
    for line in open(metrics_file):
        if not line.startswith("#") and line.strip():
            k, v = line.rsplit(" ", 1)
            m[k] = float(v)
    n = len(ids)

    def mv(name, **labels):
        lab = ",".join('%s="%s"' % kv for kv in labels.items())
        return m.get("%s{%s}" % (name, lab), -1)
    say(mv("routed_sink_attempts_total", destination="failing") == 4 * n, "metrics: attempts of failing = 4 N")
    say(mv("routed_sink_retries_total", destination="failing") == 3 * n, "metrics: retries of failing = 3 N")
    say(mv("routed_sink_failures_total", destination="failing", reason="http_5xx") == 4 * n,
        "metrics: failures{failing, http_5xx} = 4 N")
    say(mv("routed_sink_failures_total", destination="gone", reason="http_410") == n,
        "metrics: failures{gone, http_410} = N")
    say(mv("routed_sink_failures_total", destination="hanging", reason="timeout") == 2 * n,
        "metrics: failures{hanging, timeout} = 2 N")
    say(mv("routed_sink_failures_total", destination="throttled", reason="http_429") == 2 * n,
        "metrics: failures{throttled, http_429} = 2 N")
    say(all(mv("routed_dlq_total", destination=d) == (n if d in ("failing", "gone", "hanging", "resetting", "aged", "untrusted", "redirected") else 0)
            for d in DESTS), "metrics: routed_dlq_total per destination")
    bad_sum = [d for d in DESTS if mv("routed_deliveries_total", destination=d) + mv("routed_dlq_total", destination=d) != n]
    say(not bad_sum, "metrics: routed_deliveries_total + routed_dlq_total = N accepted, at every webhook destination %s" %
        (bad_sum if bad_sum else ""))
    say(mv("routed_deliveries_total", destination="parked") == n, "metrics: 'parked' (a queue) got N envelopes")
    say(m.get('routed_sink_latency_seconds_count{destination="healthy"}') == n and
        m.get('routed_sink_latency_seconds_bucket{destination="hanging",le="1"}') == 0,
        "metrics: sink latency histogram (healthy: N attempts; hanging: none under 1 s)")
else:
    b = envelopes_ok("hanging", "shutdown", "timeout", 0) + envelopes_ok("throttled", "shutdown", "http_429", 429)
    b = [e for e in b if not (e["destination"] == "hanging" and e["failure"] is None)]
    say(not b and len(dlq["hanging"]) == len(ids) and len(dlq["throttled"]) == len(ids),
        "SIGTERM: after drain_timeout, what was still waiting is dead-lettered with reason shutdown %s" %
        (b[:1] if b else ""))
    late = [e["last_attempt"] for d in DESTS for i in ids for e in dlq[d].get(i, [])]
    say(all(r["t"] < t0 + 2 + SLACK for r in recs), "SIGTERM: no attempt started after drain_timeout")
