-- The last Lua gaps of issue 11: ctx:first (the first ask to finish wins,
-- the others are given up and answer late as counted dead letters), stop
-- handlers that wait within stop_timeout, and leak counts that return to
-- zero (zactor.live_handlers(), system:metrics().reply_slots).
local zactor = require "zactor"
local util = require "util"

local root = os.getenv("ZACTOR_ROOT") or "."

local function dead_letters(system) return system:metrics().dead_letters end

-- Wait until fn() == want (or 5 s); returns the last value seen.
local function settles_at(fn, want)
  local last
  util.wait_until(function()
    last = fn()
    return last == want
  end, 5)
  return last
end

local function collected(obs, n)
  return util.wait_until(function()
    local got = obs:ask{ "get" }
    return #got >= n and got
  end, 5) or obs:ask{ "get" }
end

describe("ctx:first", function()
  local system
  before_each(function() system = zactor.system{ workers = 2 } end)
  after_each(function() system:close() end)

  it("returns the first answer and its index; the loser answers late as a dead letter", function()
    local r, slow, fast = system:spawn("racer"), system:spawn("sleeper"), system:spawn("sleeper")
    local d0 = dead_letters(system)
    local got = r:ask({ "first", { { slow, { "nap", 0.3, "slow" } }, { fast, { "nap", 0.01, "fast" } } } }, 3)
    assert.are.same({ "fast", 2 }, got)
    -- the slow ask was given up at once: nothing waits for it any more
    assert.are.equal(0, settles_at(function() return system:metrics().reply_slots end, 0))
    -- ...and its answer, 0.3 s later, is a counted dead letter
    assert.are.equal(d0 + 1, settles_at(function() return dead_letters(system) end, d0 + 1))
    assert.are.same({ "slow" }, slow:ask{ "log" })  -- it did answer
    assert.are.same({ "pong", 1 }, r:ask({ "first", { { fast, { "ping" } } } }, 3))
  end)

  it("raises the first failure, and a timeout, as errors the handler can catch", function()
    local r, slow, bad = system:spawn("racer"), system:spawn("sleeper"), system:spawn("sleeper")
    local got = r:ask({ "try_first", { { slow, { "nap", 0.3, "late" } }, { bad, { "bad", "x" } } } }, 3)
    assert.is_false(got[1])
    assert.matches("failed", got[2])
    got = r:ask({ "try_first", { { slow, { "nap", 1, "late" } } }, 0.05 }, 3)
    assert.is_false(got[1])
    assert.matches("timed out", got[2])
    -- a dead target is refused at the ask, the others already sent are given up
    local dead = system:spawn("sleeper")
    dead:stop()
    assert.is_true(dead:join(3))
    got = r:ask({ "try_first", { { slow, { "nap", 0.3, "x" } }, { dead, { "ping" } } } }, 3)
    assert.is_false(got[1])
    assert.matches("dead", got[2])
    assert.are.equal("pong", r:ask({ "ping" }, 2))
  end)

  it("refuses bad input with a clear error", function()
    local r, s = system:spawn("racer"), system:spawn("sleeper")
    local got = r:ask({ "try_first", {} }, 2)
    assert.is_false(got[1])
    assert.matches("between 1 and", got[2])
    got = r:ask({ "try_first", { { s, { "ping" } }, "not a pair" } }, 2)
    assert.is_false(got[1])
    assert.matches("item 2 is not a {ref, message} pair", got[2])
    got = r:ask({ "try_first", { { s, { "ping" } } }, -1 }, 2)
    assert.is_false(got[1])
    assert.matches("ctx:first", got[2])
  end)
end)

describe("a stop handler that waits", function()
  local system
  before_each(function() system = zactor.system{ workers = 2 } end)
  after_each(function() system:close() end)

  local function stop_and_join(a)
    a:stop()
    assert.is_true(a:join(5))
  end

  it("may ask, sleep, ask_all and first", function()
    local obs, s1, s2 = system:spawn("collector"), system:spawn("sleeper"), system:spawn("sleeper")
    local asks = { { s1, { "nap", 0.05, "a" } }, { s2, { "nap", 0.01, "b" } } }
    stop_and_join(system:spawn("stopper", { mode = "ask", obs = obs, target = s1, msg = { "ping" } }))
    stop_and_join(system:spawn("stopper", { mode = "sleep", obs = obs, sec = 0.05 }))
    stop_and_join(system:spawn("stopper", { mode = "all", obs = obs, asks = asks }))
    local first_asks = { { s1, { "nap", 0.4, "a" } }, { s2, { "ping" } } }
    stop_and_join(system:spawn("stopper", { mode = "first", obs = obs, first_asks = first_asks }))
    assert.are.same({ "asked: pong", "slept", "all: a,b", "first: pong #2" }, collected(obs, 4))
  end)

  it("gets an ask's failure as an error it can catch", function()
    local obs, bad = system:spawn("collector"), system:spawn("sleeper")
    stop_and_join(system:spawn("stopper", { mode = "ask_fail", obs = obs, target = bad,
                                             msg = { "bad", "x" } }))
    local got = collected(obs, 1)
    assert.matches("^false .*failed", got[1])
  end)

  it("past stop_timeout is closed: its to-be-closed variables run, the stop ends", function()
    local obs = system:spawn("collector")
    local a = system:spawn("stopper", { mode = "slow", obs = obs })
    local t0 = zactor.clock()
    stop_and_join(a)
    assert.are.same({ "closed" }, collected(obs, 1))
    assert.is_true(zactor.clock() - t0 < 20)  -- (not the 30 s it asked for)
    assert.are.equal(0, settles_at(zactor.live_handlers, 0))
  end)

  it("runs (and may wait) before a restart too", function()
    local obs, s = system:spawn("collector"), system:spawn("sleeper")
    local a = system:spawn("stopper", { mode = "ask", obs = obs, target = s, msg = { "nap", 0.05, "z" } })
    local ok = pcall(a.ask, a, { "fail" }, 2)
    assert.is_false(ok)
    assert.are.equal("pong", a:ask({ "ping" }, 3))  -- the new incarnation serves
    assert.are.same({ "asked: z" }, collected(obs, 1))
    stop_and_join(a)
    assert.are.same({ "asked: z", "restarted asked: z" }, collected(obs, 2))
  end)

  it("refuses a bad stop_timeout at start", function()
    local a = system:spawn("bad_stop_timeout")
    local ok, err = pcall(a.ask, a, "x", 2)
    assert.is_false(ok)
    assert.matches("stop_timeout must be a number of seconds", tostring(err))
  end)

  it("shutdown waits for stop handlers within their stop_timeout", function()
    local path = os.tmpname()
    os.remove(path)
    local sys2 = zactor.system{ workers = 2 }
    local s = sys2:spawn("sleeper")
    sys2:spawn("stopper", { mode = "slow", path = path }, { open_io_os = true })
    sys2:spawn("stopper", { mode = "sleep", sec = 0.05, path = path }, { open_io_os = true })
    assert.are.equal("pong", s:ask({ "ping" }, 2))
    assert.is_true(sys2:shutdown(10))
    sys2:close()
    local f = assert(io.open(path))
    local text = f:read("a")
    f:close()
    os.remove(path)
    assert.matches("closed\n", text)
    assert.matches("slept\n", text)
    assert.are.equal(0, zactor.live_handlers())
  end)

  it("reports running out of stop_timeout on stderr", function()
    local src = os.tmpname()
    local f = assert(io.open(src, "w"))
    f:write('package.cpath = "', root, '/lua/?.so;" .. package.cpath\n', [[
      local zactor = require "zactor"
      local s = zactor.system{ workers = 2 }
      local obs = s:spawn("]], root, [[/tests/lua/actors/collector.lua")
      local a = s:spawn("]], root, [[/tests/lua/actors/stopper.lua", { mode = "slow", obs = obs })
      a:stop()
      assert(a:join(10))
      s:close()
      print("done")
    ]])
    f:close()
    local p = io.popen("timeout -s KILL 30 lua5.4 " .. src .. " 2>&1")
    local out = p:read("a")
    p:close()
    os.remove(src)
    assert.matches("did not finish within stop_timeout=0.5 s", out)
    assert.matches("done", out)
  end)
end)

describe("leak counts", function()
  local system
  before_each(function() system = zactor.system{ workers = 2 } end)
  after_each(function() system:close() end)

  it("live handlers and reply slots return to zero after cancellations, timeouts, failures and stops", function()
    local r = system:spawn("racer")
    local slow, bad = system:spawn("sleeper", { concurrency = 64 }), system:spawn("sleeper", { max_restarts = 1000 })
    local napper = system:spawn("cycler", { concurrency = 64 })
    for i = 1, 20 do
      -- first: one winner, one loser given up
      r:tell{ "first", { { slow, { "nap", 0.2, i } }, { slow, { "nap", 0, i } } } }
      -- ask_all with a failure: the rest given up
      r:tell{ "try_all", { { slow, { "nap", 0.2, i } }, { bad, { "bad", "x" } } } }
      -- timeouts
      r:tell{ "try_ask", slow, { "nap", 0.2, i }, 0.01 }
      r:tell{ "try_first", { { slow, { "nap", 0.2, i } } }, 0.01 }
      -- handlers suspended when their actor stops
      napper:tell{ "nap_fail", 30 }
    end
    assert.is_truthy(util.wait_until(function() return zactor.live_handlers() > 0 end, 3))
    napper:stop()
    assert.is_true(napper:join(5))
    assert.are.equal("pong", r:ask({ "ping" }, 5))
    assert.are.equal(0, settles_at(zactor.live_handlers, 0))
    assert.are.equal(0, settles_at(function() return system:metrics().reply_slots end, 0))
  end)

  it("count what is waiting right now", function()
    local r, slow = system:spawn("racer"), system:spawn("sleeper")
    r:tell{ "try_ask", slow, { "nap", 0.3, "x" }, 2 }
    assert.is_truthy(util.wait_until(function()
      return zactor.live_handlers() >= 1 and system:metrics().reply_slots >= 1
    end, 3))
    assert.are.equal(0, settles_at(zactor.live_handlers, 0))
    assert.are.equal(0, settles_at(function() return system:metrics().reply_slots end, 0))
  end)
end)
