-- Async handlers in Lua (issue 11): ctx:sleep suspends a handler on a
-- runtime timer, like ctx:ask suspends it on a reply.
local zactor = require "zactor"
local util = require "util"

describe("ctx:sleep", function()
  local system
  before_each(function() system = zactor.system{ workers = 2 } end)
  after_each(function() system:close() end)

  it("suspends the handler and answers the ask when it resumes", function()
    local s = system:spawn("sleeper")
    assert.are.equal("a", s:ask({ "nap", 0.01, "a" }, 2))
    assert.are.same({ "a" }, s:ask{ "log" })
  end)

  it("with concurrency 1 (the default) other messages wait, in order", function()
    local s = system:spawn("sleeper")
    s:tell{ "nap", 0.2, "slow" }
    assert.are.equal("fast", s:ask({ "nap", 0, "fast" }, 3))  -- after "slow"
    assert.are.same({ "slow", "fast" }, s:ask{ "log" })
  end)

  it("with concurrency N handlers interleave: no worker is held", function()
    local s = system:spawn("napper")
    s:tell{ "nap", 0.3, "slow" }
    assert.are.equal("pong", s:ask({ "ping" }, 2))
    assert.are.same({}, s:ask{ "log" })            -- still asleep
    assert.are.equal("fast", s:ask({ "nap", 0, "fast" }, 2))
    local log = util.wait_until(function()
      local l = s:ask{ "log" }
      return #l == 2 and l
    end, 5)
    assert.are.same({ "fast", "slow" }, log)
  end)

  it("re-enters for the actor a handler is asking (A asks B, B asks A)", function()
    local a, b = system:spawn("sleeper"), system:spawn("sleeper")
    assert.are.equal("pong", a:ask({ "via", b, { "via", a, { "ping" } } }, 3))
  end)

  it("refuses a bad duration with a clear error, and only inside a handler", function()
    local s = system:spawn("sleeper")
    local ok, err = pcall(s.ask, s, { "bad", "soon" }, 2)
    assert.is_false(ok)
    assert.matches("sleep", tostring(err))
    ok, err = pcall(s.ask, s, { "bad", -1 }, 2)
    assert.is_false(ok)
    assert.matches("sleep", tostring(err))
    assert.are.equal("pong", s:ask({ "ping" }, 2))  -- restarted, serving again
  end)
end)

describe("ctx:ask_all", function()
  local system
  before_each(function() system = zactor.system{ workers = 2 } end)
  after_each(function() system:close() end)

  it("waits for every answer and returns them in order", function()
    local s = system:spawn("sleeper")
    local a, b = system:spawn("sleeper"), system:spawn("echo")
    local got = s:ask({ "all", { { a, { "nap", 0.05, "slow" } }, { b, "fast" }, { a, { "ping" } } } }, 3)
    assert.are.same({ "slow", "fast", "pong" }, got)
    assert.are.same({}, s:ask({ "all", {} }, 2))
  end)

  it("raises the first failure, and a timeout, as errors the handler can catch", function()
    local s = system:spawn("sleeper")
    local a, p = system:spawn("sleeper"), system:spawn("proxy")
    -- proxy answers nothing to an unknown message: {"nothing"} -> nil is fine;
    -- a failing target: sleeper's bad duration raises inside it
    local r = s:ask({ "try_all", { { a, { "ping" } }, { a, { "bad", "soon" } } } }, 3)
    assert.is_false(r[1])
    assert.matches("failed", r[2])
    r = s:ask({ "try_all", { { a, { "nap", 1, "late" } } }, 0.05 }, 3)
    assert.is_false(r[1])
    assert.matches("timed out", r[2])
    r = s:ask({ "try_all", { { p, { "ping" } }, "not a pair" } }, 3)
    assert.is_false(r[1])
    assert.matches("pair", r[2])
    assert.are.equal("pong", s:ask({ "ping" }, 2))  -- still serving
  end)
end)

describe("the concurrency spawn option", function()
  local system
  before_each(function() system = zactor.system{ workers = 2 } end)
  after_each(function() system:close() end)

  -- "a" sleeps long, "b" arrives while it sleeps: the order of the events
  -- the actor records says whether "b" waited for "a" to end
  local function events(s)
    s:tell{ "nap", 0.3, "a" }
    assert.are.equal("b", s:ask({ "nap", 0, "b" }, 3))
    return util.wait_until(function()
      local l = s:ask{ "log" }
      return #l == 4 and l
    end, 5)
  end
  local serial = { "start a", "end a", "start b", "end b" }
  local interleaved = { "start a", "start b", "end b", "end a" }

  it("concurrency = 1: one handler at a time", function()
    assert.are.same(serial, events(system:spawn("tracer", { concurrency = 1 })))
  end)

  it("concurrency = 2: the second starts while the first sleeps", function()
    assert.are.same(interleaved, events(system:spawn("tracer", { concurrency = 2 })))
  end)

  it("defaults to 1 and overrides the behaviour's own field", function()
    assert.are.same(serial, events(system:spawn("tracer")))
    -- napper sets concurrency = 8; the option wins
    local s = system:spawn("napper", { concurrency = 1 })
    s:tell{ "nap", 0.3, "slow" }
    assert.are.equal("fast", s:ask({ "nap", 0, "fast" }, 3))
    assert.are.same({ "slow", "fast" }, s:ask{ "log" })
  end)

  it("works from ctx:spawn", function()
    local parent = system:spawn("tracer")
    local s = parent:ask({ "spawn", "tracer", { concurrency = 2 } }, 2)
    assert.are.same(interleaved, events(s))
    s = parent:ask({ "spawn", "tracer", { concurrency = 1 } }, 2)
    assert.are.same(serial, events(s))
  end)

  it("refuses anything but an integer in 1..65535, naming the option", function()
    for _, bad in ipairs{ 0, 65536, -1, 1.5, "x", true } do
      local ok, err = pcall(system.spawn, system, "tracer", { concurrency = bad })
      assert.is_false(ok)
      assert.matches("spawn", tostring(err))
      assert.matches("option 'concurrency'", tostring(err))
    end
    local parent = system:spawn("tracer")
    local ok, err = pcall(parent.ask, parent, { "spawn", "tracer", { concurrency = 0 } }, 2)
    assert.is_false(ok)
    assert.matches("option 'concurrency'", tostring(err))
  end)
end)
