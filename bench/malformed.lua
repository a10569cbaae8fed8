-- SPDX-License-Identifier: MIT
-- malformed.lua: a wrk script that sends only malformed or hostile requests
-- to ahead-serve, as fast as wrk can (C and LuaJIT: the generator is not
-- the bottleneck, as bench/hostile_clients.py in Python was).
--
--   wrk -t1 -c8 -d20s -s bench/malformed.lua http://127.0.0.1:8080
--
-- The requests, in turn: bad percent-encoding, invalid UTF-8, a NUL, k out
-- of range, a pile of parameters, unknown methods and versions, oversized
-- headers, a body where none belongs, path tricks, absurd If-None-Match,
-- and over-long queries. A server that answers and closes costs wrk a
-- reconnect, as it would cost an attacker. done() prints one line:
--   MALFORMED requests=N 2xx=N 3xx=N 4xx=N 5xx=N errors=N
local reqs = {}
local i = 0
counts = {0, 0, 0, 0, 0} -- a global: done() reads it with thread:get()

local function raw(line, headers)
  return line .. "\r\nHost: 127.0.0.1\r\n" .. (headers or "") .. "\r\n"
end

function init(args)
  local bad = {
    raw("GET /v1/complete?q=% HTTP/1.1"),
    raw("GET /v1/complete?q=%zz HTTP/1.1"),
    raw("GET /v1/complete?q=a%g0b HTTP/1.1"),
    raw("GET /v1/complete?q=%E2%82 HTTP/1.1"),
    raw("GET /v1/complete?q=%FF%FE HTTP/1.1"),
    raw("GET /v1/complete?q=%C0%AF HTTP/1.1"),
    raw("GET /v1/complete?q=%ED%A0%80 HTTP/1.1"),
    raw("GET /v1/complete?q=\255\254 HTTP/1.1"),
    raw("GET /v1/complete?q=a%00b HTTP/1.1"),
    raw("GET /v1/complete?q=a&k=-1 HTTP/1.1"),
    raw("GET /v1/complete?q=a&k=99999999999999999999 HTTP/1.1"),
    raw("GET /v1/complete?q=a&k=1e3 HTTP/1.1"),
    raw("GET /v1/complete?q=a&typos=9&match=no&format=xml HTTP/1.1"),
    raw("GET /v1/complete?" .. string.rep("q=a&k=x&", 60) .. " HTTP/1.1"),
    raw("DELETE /v1/complete?q=a HTTP/1.1"),
    raw("BREW /v1/complete HTTP/1.1"),
    raw("GET /v1/complete?q=a HTTP/1.2"),
    raw("GET /v1/indexes/../../etc/passwd/complete?q=a HTTP/1.1"),
    raw("GET /v1/indexes/%00/complete HTTP/1.1"),
    raw("GET /" .. string.rep("x/", 2000) .. " HTTP/1.1"),
    raw("GET /v1/indexes/" .. string.rep("n", 300) .. "/complete?q=a HTTP/1.1"),
    raw("GET /v1/complete?q=a HTTP/1.1", "If-None-Match: " .. string.rep("W/\"x\", ", 500) .. "\r\n"),
    raw("GET /v1/complete?q=a HTTP/1.1", "If-None-Match: " .. string.rep("\"", 300) .. "\r\n"),
    raw("GET /v1/complete?q=a HTTP/1.1", string.rep("X-Filler: " .. string.rep("v", 100) .. "\r\n", 60)),
    raw("POST /v1/complete?q=a HTTP/1.1", "Content-Length: -5\r\n"),
    raw("POST /v1/complete?q=a HTTP/1.1", "Transfer-Encoding: gzip\r\n"),
    raw("GET /v1/complete?q=" .. string.rep("a", 5000) .. " HTTP/1.1"),
    raw("GET /v1/complete?q=" .. string.rep("%C3%A9", 2000) .. " HTTP/1.1"),
  }
  for _, r in ipairs(bad) do
    reqs[#reqs + 1] = r
  end
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end

function response(status, headers, body)
  local class = math.floor(status / 100)
  if class >= 1 and class <= 5 then
    counts[class] = counts[class] + 1
  end
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local total = {0, 0, 0, 0, 0}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for k = 1, 5 do
      total[k] = total[k] + c[k]
    end
  end
  local e = summary.errors
  io.write(string.format("MALFORMED requests=%d 2xx=%d 3xx=%d 4xx=%d 5xx=%d errors=%d\n",
    summary.requests, total[2], total[3], total[4], total[5],
    e.connect + e.read + e.write + e.timeout))
end
