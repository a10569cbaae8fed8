-- SPDX-License-Identifier: MIT
-- prefixes.lua: a wrk script that replays the keystroke prefix file
-- (bench/make_prefixes.py: one prefix per line, UTF-8) against ahead-serve,
-- one prefix per request, cycling, over keep-alive connections.
--
--   wrk -t1 -c64 -d10s --latency -s bench/prefixes.lua http://127.0.0.1:8080 \
--       -- PREFIX_FILE [PATH] [K]
--
-- PATH defaults to /v1/complete, K to 10. Requests are built once, in init(),
-- so the Lua side costs one table lookup per request. Each wrk thread starts
-- at a different offset of the file. done() prints one machine-readable line:
--   PREFIXES requests=N bad_status=N errors=N
local reqs = {}
local i = 0

local function encode(s)
  return (s:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file = args[1]
  if file == nil then
    error("usage: wrk ... -s prefixes.lua URL -- PREFIX_FILE [PATH] [K]")
  end
  local path = args[2] or "/v1/complete"
  local k = args[3] or "10"
  for line in io.lines(file) do
    reqs[#reqs + 1] = wrk.format("GET", path .. "?q=" .. encode(line) .. "&k=" .. k)
  end
  if #reqs == 0 then
    error("no prefixes in " .. file)
  end
  -- Spread the threads over the file.
  i = math.floor((id or 0) * #reqs / 7) % #reqs
end

function request()
  i = i + 1
  if i > #reqs then
    i = 1
  end
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("PREFIXES requests=%d bad_status=%d errors=%d\n", summary.requests,
    e.status, e.connect + e.read + e.write + e.timeout))
end
