-- bench/bench_lua.lua: Lua actor figures from a Lua program.
-- Run: make lua && lua5.4 bench/bench_lua.lua   (from the repository root)
-- Prints: 1000-actor ring throughput, ping-pong ask round trip between two
-- Lua actors (actor-side ctx:ask) and from the main script, spawn rate,
-- and bytes per idle Lua actor (Lua state + runtime).
package.cpath = "lua/?.so;" .. package.cpath
local zactor = require "zactor"

local function rss_kib()
  local f = io.open("/proc/self/status")
  for line in f:lines() do
    local v = line:match("^VmRSS:%s+(%d+)")
    if v then f:close() return tonumber(v) end
  end
  f:close()
end

local RING = [[
local next_ref, done
return {
  receive = function(ctx, m)
    if m[1] == "link" then next_ref, done = m[2], m[3] return true end
    local hops = m[1]
    if hops == 0 then done:tell{ "done" } return end
    next_ref:tell{ hops - 1 }
  end,
}]]

local DONE = [[
local n = 0
return { receive = function(ctx, m) if m[1] == "done" then n = n + 1 else return n end end }]]

local PONG = "return { receive = function(ctx, m) return m end }"
local PING = [[
return { receive = function(ctx, m)
  local target, n = m[1], m[2]
  for i = 1, n do ctx:ask(target, i, 5) end
  return n
end }]]

local function ring(system, n, tokens, hops)
  local refs = {}
  for i = 1, n do refs[i] = system:spawn(RING) end
  local done = system:spawn(DONE)
  for i = 1, n do refs[i]:ask{ "link", refs[i % n + 1], done } end
  local t0 = zactor.clock()
  for t = 1, tokens do refs[(t - 1) * (n // tokens) + 1]:tell{ hops } end
  -- poll every 10 ms: each poll is an ask that spins up to 20 us in the
  -- main thread, which on 2 cores takes time from the workers being measured
  while done:ask("n") < tokens do zactor.sleep(0.01) end
  local dt = zactor.clock() - t0
  return tokens * hops / dt, dt
end

local system <close> = zactor.system{ workers = 0 }
print(("workers: %d"):format(system:workers()))

-- 1000-actor ring, several tokens so both workers have work
local rate, dt = ring(system, 1000, 8, 200000)
print(("ring 1000 actors, 8 tokens x 200000 hops: %.2f M msg/s (%.2f s)"):format(rate / 1e6, dt))
if arg and arg[1] == "ring" then return end -- `lua5.4 bench/bench_lua.lua ring`: ring only

-- ping-pong: actor-side ask round trips
local pong, ping = system:spawn(PONG), system:spawn(PING)
ping:ask({ pong, 1000 }, 10) -- warm up
local N = 100000
local t0 = zactor.clock()
ping:ask({ pong, N }, 60)
local rtt = (zactor.clock() - t0) / N
print(("ask round trip between two Lua actors (ctx:ask): %.2f us mean over %d"):format(rtt * 1e6, N))

-- main script -> actor blocking ask
local M = 20000
t0 = zactor.clock()
for i = 1, M do pong:ask(i, 5) end
print(("blocking ask from the main script: %.2f us mean over %d"):format((zactor.clock() - t0) / M * 1e6, M))

-- spawn rate and idle bytes
collectgarbage()
local before = rss_kib()
local S = 20000
local refs = {}
t0 = zactor.clock()
for i = 1, S do refs[i] = system:spawn(PONG) end
refs[S]:ask(1, 10)
for i = 1, S, 97 do refs[i]:ask(1, 10) end
local spawn_dt = zactor.clock() - t0
-- wait until every start ran (each actor answers one ask)
for i = 1, S do refs[i]:tell(i) end
system:wait_idle(0) -- returns at once (actors stay alive); just a barrier-free hint
for i = 1, S, 1000 do refs[i]:ask(1, 10) end
zactor.sleep(0.2)
local after = rss_kib()
print(("spawn rate: %.0f Lua actors/s (%d spawned, started and answering in %.2f s)"):format(S / spawn_dt, S, spawn_dt))
print(("bytes per idle Lua actor (RSS delta / actors): %.1f KiB"):format((after - before) / S))
local memq = system:spawn("return { receive = function(ctx) collectgarbage() return ctx.memory end }")
print(("Lua state bytes of one idle actor (allocator count): %d"):format(memq:ask(1)))
