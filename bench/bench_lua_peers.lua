-- bench/bench_lua_peers.lua: the same kind of cross-thread message work with
-- the Lua threading libraries Debian packages, for side-by-side figures with
-- bench/bench_lua.lua. Needs `make bench-lua-deps` (lua-luv, lua-cqueues).
-- Run: lua5.4 bench/bench_lua_peers.lua [pingpong_n]
--
-- What is measured, and why not a 1000-node ring: neither library has
-- actors or mailboxes. A luv async handle carries ONE pending argument set
-- (sends before the callback coalesce), and a handle can only be given to a
-- thread at creation (a handle passed through async_send arrives without
-- its metatable), so luv cannot build a multi-token ring of 1000 parties;
-- cqueues threads talk over a socket pair per thread. Both are measured as a
-- token bounced between two OS threads (every hop crosses threads), which
-- is the ping-pong figure; hops/s is the closest analogue of ring msg/s.
local N = tonumber(arg and arg[1]) or 100000

local function try(name, f)
  local ok, err = pcall(f)
  if not ok then print(("%s: not run (%s)"):format(name, tostring(err))) end
end

-- luv: thread -> main over an async handle (given to the thread at
-- creation); main -> thread over a uv pipe (fds cross as integers), since the
-- thread's own async handle cannot be handed back to main.
try("luv", function()
  local uv = require "luv"
  local fds = uv.pipe({ nonblock = true }, { nonblock = true })
  local wr = uv.new_pipe(false)
  wr:open(fds.write)
  local t0, got = nil, 0
  local back
  back = uv.new_async(function(i)
    got = i
    if i >= N then back:close(); wr:close(); return end
    wr:write(string.pack("<i4", i + 1))
  end)
  local th = uv.new_thread(function(rfd, back_h, n)
    local luv = require "luv"
    local rd = luv.new_pipe(false)
    rd:open(rfd)
    local buf = ""
    rd:read_start(function(err, data)
      if not data then rd:close() return end
      buf = buf .. data
      while #buf >= 4 do
        local i = string.unpack("<i4", buf)
        buf = buf:sub(5)
        back_h:send(i)
        if i >= n then rd:close() return end
      end
    end)
    luv.run()
  end, fds.read, back, N)
  t0 = uv.hrtime()
  wr:write(string.pack("<i4", 1))
  uv.run()
  local dt = (uv.hrtime() - t0) / 1e9
  th:join()
  assert(got >= N, "luv ping-pong lost the token")
  print(("luv (thread + async handle / pipe) ping-pong: %.2f us round trip, %.3f M hops/s over %d"):format(
    dt / N * 1e6, 2 * N / dt / 1e6, N))
end)

-- cqueues: a cqueues.thread (OS thread, own Lua state) and its socket pair.
try("cqueues", function()
  local cqueues = require "cqueues"
  local thread = require "cqueues.thread"
  local cq = cqueues.new()
  local dt
  cq:wrap(function()
    local thr, con = thread.start(function(con, n)
      n = tonumber(n)
      local cq2 = require("cqueues").new()
      cq2:wrap(function()
        con:setmode("b", "bn")
        for _ = 1, n do
          local s = con:read(4)
          if not s then break end
          con:write(s)
          con:flush()
        end
      end)
      assert(cq2:loop())
    end, tostring(N))
    con:setmode("b", "bn")
    local t0 = cqueues.monotime()
    for i = 1, N do
      con:write(string.pack("<i4", i))
      con:flush()
      local s = con:read(4)
      assert(string.unpack("<i4", s) == i)
    end
    dt = cqueues.monotime() - t0
    thr:join()
  end)
  assert(cq:loop())
  print(("cqueues (thread + socket pair) ping-pong: %.2f us round trip, %.3f M hops/s over %d"):format(
    dt / N * 1e6, 2 * N / dt / 1e6, N))
end)
