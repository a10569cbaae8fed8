-- SPDX-License-Identifier: MIT
-- wrk script for tests/check_hotswap.c: keep-alive GETs cycling through a few
-- prefixes and k values, counting every answer that is not 2xx. The done()
-- hook prints one line the test parses:
--   AHEAD requests=N responses=N non2xx=N connect=N read=N write=N status=N timeout=N
local prefixes = {"th", "a", "wh", "be", "s", "co", "i", "ha", "yo", "no", "%C3%A9", "pre", "q", ""}
local threads = {}
local n = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  responses = 0
end

function request()
  n = n + 1
  local q = prefixes[(n % #prefixes) + 1]
  return wrk.format("GET", "/v1/complete?q=" .. q .. "&k=" .. ((n % 10) + 1))
end

function response(status, headers, body)
  responses = responses + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad, got = 0, 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("non2xx")
    got = got + t:get("responses")
  end
  local e = summary.errors
  io.write(string.format(
    "AHEAD requests=%d responses=%d non2xx=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, got, bad, e.connect, e.read, e.write, e.status, e.timeout))
end
