-- bench/bench_lua_grains.lua: Lua grains (virtual actors) from a Lua program.
-- Run: make lua && lua5.4 bench/bench_lua_grains.lua   (from the repository root)
-- Prints, for memory:// and sqlite:// storage: cold activation latency (a
-- grain with a stored state, first message -> reply, p50/p99), warm calls/s
-- (blocking asks from the main script to one active grain), ctx:save()
-- round trips per second (one grain, each save durable before the reply),
-- and saves/s with many grains saving at once (actor-side asks from 8 Lua
-- drivers). Writes bench/results/lua_grains.json.
package.cpath = "lua/?.so;" .. package.cpath
local zactor = require "zactor"

local ACCOUNT = [[
return {
  idle_timeout = 600,
  receive = function(ctx, m)
    local s = ctx:state()
    if m == "get" then return s.n or 0 end
    s.n = (s.n or 0) + 1
    if m == "save" then ctx:save() end
    return s.n
  end,
}]]

-- asks `per` grains of its slice "save" `rounds` times each, in turn
local DRIVER = [[
return { receive = function(ctx, m)
  local refs, rounds, done = m[1], m[2], m[3]
  for _ = 1, rounds do
    for i = 1, #refs do ctx:ask(refs[i], "save", 30) end
  end
  if done then done:tell("done") end
  return true
end }]]

local COLLECTOR = [[
local n = 0
return { receive = function(ctx, m) if m == "done" then n = n + 1 else return n end end }]]

local function pct(t, p)
  table.sort(t)
  return t[math.max(1, math.ceil(#t * p))]
end

local function run(url)
  local res = {}
  local system = zactor.system{ storage = url }
  -- seed stored states, then a fresh system so every activation is cold
  local N = 500
  for i = 1, N do system:grain(ACCOUNT, "k" .. i, { type = "bench.account" }):ask("save", 10) end
  system:close()
  system = zactor.system{ storage = url }
  local lat = {}
  for i = 1, N do
    local g = system:grain(ACCOUNT, "k" .. i, { type = "bench.account" })
    local t0 = zactor.clock()
    local v = g:ask("get", 10) -- 1: state read from the store (memory:// starts empty)
    assert(v == 1 or url == "memory://")
    lat[#lat + 1] = (zactor.clock() - t0) * 1e6
  end
  res.cold_activation_us_p50, res.cold_activation_us_p99 = pct(lat, 0.5), pct(lat, 0.99)

  local g = system:grain(ACCOUNT, "warm", { type = "bench.account" })
  g:ask("x", 10)
  local n, t0 = 20000, zactor.clock()
  for _ = 1, n do g:ask("x", 10) end
  res.warm_calls_per_s = n / (zactor.clock() - t0)

  n, t0 = (url:find("^sqlite") and 300 or 5000), zactor.clock()
  for _ = 1, n do g:ask("save", 10) end
  res.save_round_trips_per_s = n / (zactor.clock() - t0)

  local drivers, per, rounds = 8, 25, (url:find("^sqlite") and 4 or 40)
  local refs = {}
  for d = 1, drivers do
    local slice = {}
    for i = 1, per do
      slice[i] = system:grain(ACCOUNT, ("m%d_%d"):format(d, i), { type = "bench.account" })
    end
    refs[d] = slice
  end
  local ds = {}
  for d = 1, drivers do ds[d] = system:spawn(DRIVER) end
  for d = 1, drivers do ds[d]:ask({ refs[d], 1 }, 60) end -- activate them all
  local collector = system:spawn(COLLECTOR)
  t0 = zactor.clock()
  for d = 1, drivers do ds[d]:tell{ refs[d], rounds, collector } end -- in parallel
  while collector:ask("n", 10) < drivers do zactor.sleep(0.001) end
  res.many_grains_saves_per_s = drivers * per * rounds / (zactor.clock() - t0)
  system:close()
  return res
end

local out = {}
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p '" .. dir .. "'")
for _, url in ipairs{ "memory://", "sqlite://" .. dir .. "/bench.db" } do
  local kind = url:match("^(%a+)")
  local r = run(url)
  out[kind] = r
  print(("%-7s cold activation p50 %.0f us p99 %.0f us | warm calls %.0f/s | save round trips %.0f/s | saves (200 grains) %.0f/s")
    :format(kind, r.cold_activation_us_p50, r.cold_activation_us_p99, r.warm_calls_per_s,
      r.save_round_trips_per_s, r.many_grains_saves_per_s))
end
os.execute("rm -rf '" .. dir .. "'")

local function enc(t)
  local parts = {}
  for k, v in pairs(t) do
    parts[#parts + 1] = ('"%s": %s'):format(k, type(v) == "table" and enc(v) or ("%.1f"):format(v))
  end
  table.sort(parts)
  return "{" .. table.concat(parts, ", ") .. "}"
end
local f = io.open("bench/results/lua_grains.json", "w")
f:write(enc(out), "\n")
f:close()
