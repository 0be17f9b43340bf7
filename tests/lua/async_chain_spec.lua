-- Async handlers in Lua, the gaps closed after issue 11's first pass: any
-- cycle of asks re-enters (the call chain travels with every ask), a
-- restart keeps the messages that waited for a free handler, the final stop
-- makes them dead letters, an ask ctx:ask_all gave up makes its late
-- answer a dead letter, and stop/restart close suspended handlers.
local zactor = require "zactor"
local util = require "util"

local function dead_letters(system) return system:metrics().dead_letters end

-- Wait until fn() == want (or 3 s); returns the last value seen.
local function settles_at(fn, want)
  local last
  util.wait_until(function()
    last = fn()
    return last == want
  end, 3)
  return last
end

describe("call chains (concurrency 1)", function()
  local system
  before_each(function() system = zactor.system{ workers = 2 } end)
  after_each(function() system:close() end)

  -- Each hop's ask times out after 1 s: without re-entry, the cycle would
  -- wait in a's stash and the outer ask would fail with a timeout.
  it("re-enters a 3-cycle (A asks B, B asks C, C asks A)", function()
    local a, b, c = system:spawn("cycler"), system:spawn("cycler"), system:spawn("cycler")
    local msg = { "via", b, { "via", c, { "via", a, { "ping" }, 1 }, 1 }, 1 }
    assert.are.equal("pong", a:ask(msg, 3))
    -- and again through a 4-cycle that visits b twice
    local d = system:spawn("cycler")
    msg = { "via", b, { "via", c, { "via", b, { "via", d, { "via", a, { "ping" } } } } } }
    assert.are.equal("pong", a:ask(msg, 3))
  end)

  it("keeps other messages waiting while a chain is suspended", function()
    local a, b = system:spawn("cycler"), system:spawn("sleeper")
    -- a's handler waits for b (a nap); a message from outside the chain waits
    a:tell{ "via", b, { "nap", 0.3, "slow" } }
    assert.are.equal(1, a:ask({ "rec", "after" }, 3))
    assert.are.same({ "slow" }, b:ask{ "log" })  -- the nap ended first
  end)
end)

describe("the stash across restarts and stops", function()
  local system
  before_each(function() system = zactor.system{ workers = 2 } end)
  after_each(function() system:close() end)

  it("a restart delivers the waiting messages to the new incarnation, in order", function()
    local s = system:spawn("cycler")
    s:tell{ "nap_fail", 0.2 }  -- suspended, then fails: a restart
    s:tell{ "rec", 1 }         -- these wait in the stash meanwhile
    s:tell{ "rec", 2 }
    local got = s:ask({ "log" }, 3)  -- waits too, and is answered after the restart
    assert.are.same({ restarts = 1, log = { 1, 2 } }, got)
  end)

  it("the final stop makes the waiting messages dead letters", function()
    local s = system:spawn("cycler")
    local m0 = system:metrics()
    s:tell{ "nap_fail", 30 }
    s:tell{ "rec", 1 }
    s:tell{ "rec", 2 }
    -- all three were received (two of them stashed), none is in the mailbox
    assert.is_truthy(util.wait_until(function()
      return system:metrics().delivered >= m0.delivered + 3
    end, 3))
    local d0 = dead_letters(system)
    s:stop()
    assert.is_true(s:join(3))
    assert.are.equal(d0 + 2, settles_at(function() return dead_letters(system) end, d0 + 2))
  end)
end)

describe("ctx:ask_all cancellation", function()
  local system
  before_each(function() system = zactor.system{ workers = 2 } end)
  after_each(function() system:close() end)

  it("the late answer of an ask it gave up is a counted dead letter", function()
    local s, slow, bad = system:spawn("sleeper"), system:spawn("sleeper"), system:spawn("sleeper")
    local d0 = dead_letters(system)
    -- bad fails at once (one dead letter: the failed message); ask_all
    -- raises then, and slow's answer comes 0.2 s later for nobody
    local r = s:ask({ "try_all", { { slow, { "nap", 0.2, "late" } }, { bad, { "bad", "x" } } } }, 3)
    assert.is_false(r[1])
    assert.matches("failed", r[2])
    assert.are.equal(d0 + 2, settles_at(function() return dead_letters(system) end, d0 + 2))
    assert.are.same({ "late" }, slow:ask{ "log" })  -- it did answer
    assert.are.equal("pong", s:ask({ "ping" }, 2))
  end)

  it("so is the late answer of an ask it timed out", function()
    local s, slow1, slow2 = system:spawn("sleeper"), system:spawn("sleeper"), system:spawn("sleeper")
    local d0 = dead_letters(system)
    local asks = { { slow1, { "nap", 0.3, "late" } }, { slow2, { "nap", 0.3, "late" } } }
    local r = s:ask({ "try_all", asks, 0.05 }, 3)
    assert.is_false(r[1])
    assert.matches("timed out", r[2])
    -- both asks timed out: two late answers
    assert.are.equal(d0 + 2, settles_at(function() return dead_letters(system) end, d0 + 2))
    assert.are.equal("pong", s:ask({ "ping" }, 2))
  end)
end)

describe("stop and restart close suspended handlers", function()
  local system
  before_each(function() system = zactor.system{ workers = 2 } end)
  after_each(function() system:close() end)

  it("runs their to-be-closed variables on stop", function()
    local s, obs = system:spawn("cycler"), system:spawn("collector")
    local m0 = system:metrics()
    s:tell{ "guard", obs, 30 }
    assert.is_truthy(util.wait_until(function()
      return system:metrics().delivered >= m0.delivered + 1
    end, 3))
    s:stop()
    assert.is_true(s:join(3))
    assert.are.same({ "closed in incarnation 0" },
      util.wait_until(function()
        local got = obs:ask{ "get" }
        return #got > 0 and got
      end, 3))
  end)

  it("runs them on a restart, and the asker of the closed handler gets an error", function()
    local s, obs = system:spawn("cycler", { concurrency = 2 }), system:spawn("collector")
    local proxy = system:spawn("cycler", { concurrency = 2 })
    -- proxy asks s; s's handler suspends, then s fails (a restart)
    local m0 = system:metrics()
    proxy:tell{ "via", s, { "guard", obs, 30 }, 10 }
    assert.is_truthy(util.wait_until(function()  -- proxy's and s's handlers are suspended
      return system:metrics().delivered >= m0.delivered + 2
    end, 3))
    local ok, err = pcall(s.ask, s, { "fail" }, 2)
    assert.is_false(ok)
    assert.matches("boom", tostring(err))
    -- proxy's ask was answered with an error: its handler failed in turn
    assert.are.equal(1, settles_at(function() return system:metrics().restarts end, 2) - 1)
    assert.are.same({ "closed in incarnation 0" },
      util.wait_until(function()
        local got = obs:ask{ "get" }
        return #got > 0 and got
      end, 3))
    assert.are.equal(1, s:ask({ "log" }, 2).restarts)
  end)

  it("shutdown with suspended handlers completes and closes them", function()
    local path = os.tmpname()
    os.remove(path)
    local sys2 = zactor.system{ workers = 2 }
    local s = sys2:spawn("cycler", { open_io_os = true })
    local m0 = sys2:metrics()
    s:tell{ "guard_file", path, 30 }
    assert.is_truthy(util.wait_until(function()
      return sys2:metrics().delivered >= m0.delivered + 1
    end, 3))
    assert.is_true(sys2:shutdown(5))
    sys2:close()
    local f = assert(io.open(path))
    assert.are.equal("closed", f:read("a"))
    f:close()
    os.remove(path)
  end)
end)
