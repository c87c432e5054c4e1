-- http_post.lua -- wrk script of bench/http.sh: POSTs one body over and over.
--
--   wrk -s bench/http_post.lua URL -- BODY-FILE CONTENT-TYPE
--
-- The request is formatted once per thread (wrk.format adds Host and
-- Content-Length). With WRK_DELAY_MS set (a mean, may be fractional), each
-- connection waits a random 0 .. 2 x WRK_DELAY_MS (whole ms, rounded at
-- random so the mean holds) before each request: a paced load of about
-- connections x 1000 / (WRK_DELAY_MS + latency) requests/s (wrk has no
-- constant-rate mode; wrk2 is not packaged). done() prints one line that
-- http.sh parses:
--   RESULT requests=N duration_us=D rps=R ok_rps=K p50_us=A p99_us=B status_errors=S errors=E
-- (ok_rps: answers below 400 per second; status_errors: answers with a status >= 400, wrk's own count; no response()
-- hook, which would make wrk parse every answer and cost it CPU)
local req

function init(args)
	local f = assert(io.open(args[1], "rb"))
	local body = f:read("*a")
	f:close()
	req = wrk.format("POST", nil, { ["Content-Type"] = args[2] }, body)
end

function request()
	return req
end

local mean = tonumber(os.getenv("WRK_DELAY_MS") or "")
if mean and mean > 0 then
	function delay()
		local d = math.random() * 2 * mean
		local whole = math.floor(d)
		if math.random() < d - whole then whole = whole + 1 end
		return whole
	end
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("RESULT requests=%d duration_us=%d rps=%.1f ok_rps=%.1f p50_us=%d p99_us=%d status_errors=%d errors=%d\n",
		summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
		(summary.requests - e.status) / (summary.duration / 1e6),
		latency:percentile(50), latency:percentile(99), e.status,
		e.connect + e.read + e.write + e.timeout))
end
