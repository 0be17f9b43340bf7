-- bench/ab_lua_ctx_ask.lua: ctx:ask ping-pong between two Lua actors (200,000 round trips,
-- mean), with the zactor module found in arg[1] (a directory holding zactor.so), for A/B
-- runs of two builds: lua5.4 bench/ab_lua_ctx_ask.lua lua
package.cpath = arg[1] .. "/?.so;" .. package.cpath
local zactor = require "zactor"
local system <close> = zactor.system{ workers = 2 }
local pong = system:spawn("return { receive = function(ctx, m) return m end }")
local ping = system:spawn([[return { receive = function(ctx, m)
  local target, n = m[1], m[2]
  for i = 1, n do ctx:ask(target, i, 5) end
  return n
end }]])
ping:ask({ pong, 1000 }, 10)
local N = 200000
local t0 = zactor.clock()
ping:ask({ pong, N }, 60)
print(("%.3f"):format((zactor.clock() - t0) / N * 1e6))
