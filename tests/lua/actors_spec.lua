-- Inside actors: ctx, ask from an actor, children, timers, watch,
-- supervision, and isolation (memory limit, runaway loop).
local zactor = require "zactor"
local util = require "util"

describe("Lua actors", function()
  local system
  before_each(function() system = zactor.system{ workers = 2 } end)
  after_each(function() system:close() end)

  it("see ctx.self and ctx.sender", function()
    local e = system:spawn("echo")
    local p = system:spawn("proxy")
    assert.is_nil(e:ask{ "sender" })                       -- from the main script
    assert.is_true(p:ask{ "via", e, { "sender" } } == p)   -- from another actor
    assert.is_true(p:ask{ "self" } == p)
    assert.are.equal(0, e:ask("tag"))
  end)

  it("ask from inside an actor, which keeps serving other messages meanwhile", function()
    local slow = system:spawn("hog")
    local p = system:spawn("proxy")
    p:tell{ "via_tell", slow, { "work", 3e7 } }   -- proxy waits ~100+ ms for slow
    zactor.sleep(0.01)
    assert.are.equal("pong", p:ask({ "ping" }, 1))  -- answered...
    assert.is_nil(p:ask{ "last" })                  -- ...while its own ask is still pending
    local last = util.wait_until(function() return p:ask{ "last" } end, 5)
    assert.are.equal(3e7 * (3e7 + 1) // 2, last)
  end)

  it("answers the original asker after the handler resumed", function()
    local c = system:spawn("counter", 41)
    local p = system:spawn("proxy")
    assert.are.equal(41, p:ask{ "via", c, { "get" } })
  end)

  it("raise clear errors for an actor-side ask to a dead actor or a timeout", function()
    local p = system:spawn("proxy")
    local dead = system:spawn("echo")
    dead:stop()
    dead:join(2)
    local r = p:ask{ "try", dead, "x" }
    assert.is_false(r[1])
    assert.matches("actor is dead", r[2])
    local slow = system:spawn("hog")
    r = p:ask({ "try", slow, { "work", 3e7 }, 0.01 }, 3)
    assert.is_false(r[1])
    assert.matches("ask timed out", r[2])
  end)

  it("have the standard libraries whether their names appear in the code or not", function()
    -- named in the bytecode: opened at spawn; reached dynamically: opened on first use
    local a = system:spawn("return { receive = function(ctx, m) return math.floor(m) end }\n")
    assert.are.equal(3, a:ask(3.7))
    local b = system:spawn("return { receive = function(ctx, m) return (load('return ' .. m))() end }\n")
    assert.are.equal("Hi", b:ask("utf8.char(72, 105)"))
    assert.are.equal("1-2", b:ask("table.concat({1, 2}, '-')"))
    assert.is_true(b:ask("coroutine.isyieldable() ~= nil"))
    assert.are.equal("float", b:ask("_G['ma' .. 'th'].type(1.5)"))
    assert.is_true(b:ask("no_such_global == nil and io == nil and os == nil"))
  end)

  it("stop from init without waiting for a first message", function()
    local q = system:spawn("return { init = function(ctx) ctx:stop() end, receive = function() end }\n")
    assert.is_true(q:join(2))
    assert.is_false(q:alive())
  end)

  it("see the failure text of an actor that failed an actor-side ask", function()
    local p = system:spawn("proxy")
    local c = system:spawn("counter", 0)
    local r = p:ask{ "try", c, { "boom" } }
    assert.is_false(r[1])
    assert.matches("the actor failed: .*counter.lua:%d+: boom", r[2])
  end)

  it("spawn children that are returned as refs", function()
    local p = system:spawn("proxy")
    local child = p:ask{ "spawn", "counter", 5 }
    assert.are.equal(5, child:ask{ "get" })
    assert.are.equal("lua", child:info().behaviour)
  end)

  it("use send_after, watch and ctx:stop", function()
    local w = system:spawn("watcher")
    assert.is_true(w:ask{ "later", 0.02 })
    assert.are.equal(1, util.wait_until(function()
      local n = w:ask{ "ticks" } return n > 0 and n end))
    local target = system:spawn("echo")
    w:ask{ "watch", target }
    target:stop()
    local ev = util.wait_until(function() local e = w:ask{ "events" } return #e > 0 and e end)
    assert.is_true(ev[1].ref == target)
    assert.are.equal(0, ev[1].code)
    assert.are.equal("stopping", w:ask{ "stop_me" })
    assert.is_true(w:join(2))
  end)

  it("fail on error and restart keeping the queued messages", function()
    local col = system:spawn("collector", { name = "col" })
    local f = system:spawn("forwarder", "col")
    f:tell("boom")
    for i = 1, 20 do f:tell(i) end
    local n = util.wait_until(function() local c = col:ask{ "count" } return c == 20 and c end, 3)
    assert.are.equal(20, n)
    local items = col:ask{ "get" }
    for i = 1, 20 do assert.are.equal(i, items[i]) end
    assert.are.equal(1, f:ask("restarts"))
    assert.is_true(system:metrics().restarts >= 1)
  end)

  it("fail only the actor that exceeds its memory limit", function()
    local small = system:spawn("hog", { memory_limit = 1024 * 1024 })
    local other = system:spawn("hog")
    assert.are.equal(100, small:ask{ "grow", 100 })
    local ok, err = pcall(small.ask, small, { "grow", 4096 }, 2)
    assert.is_false(ok)
    assert.matches("not enough memory", err)
    assert.are.equal("pong", small:ask("ping"))       -- restarted with a fresh state
    assert.are.equal(1, small:ask("restarts"))
    assert.are.equal(2000, other:ask{ "grow", 2000 }) -- the default limit (16 MiB) is fine
    assert.is_true(small:ask("memory") < 1024 * 1024)
  end)

  it("refuse a state that cannot even start within the limit, saying why at the first ask", function()
    -- the spawn does not wait for init: it returns a ref, the ask says why
    local tiny = system:spawn("hog", { memory_limit = 4096, restart = "temporary" })
    local ok, err = pcall(tiny.ask, tiny, "ping", 2)
    assert.is_false(ok)
    assert.matches("zactor: ask: actor %d+%.%d+ failed to start: cannot create a Lua state within memory_limit=4096", err)
    assert.is_true(tiny:join(2))
    ok, err = pcall(tiny.tell, tiny, "ping")
    assert.is_false(ok)
    assert.matches("zactor: tell: actor %d+%.%d+ failed to start: cannot create a Lua state", err)
  end)

  it("stop a runaway handler through the instruction budget", function()
    local h = system:spawn("hog", { budget_ms = 100 })
    local t0 = zactor.clock()
    local ok, err = pcall(h.ask, h, "spin", 3)
    assert.is_false(ok)
    assert.matches("budget of 100 ms", err)
    assert.is_true(zactor.clock() - t0 < 1.5)
    assert.are.equal("pong", h:ask("ping"))
    ok, err = pcall(h.ask, h, "spin_pcall", 3)     -- pcall cannot swallow the stop
    assert.is_false(ok)
    assert.matches("budget", err)
    assert.are.equal("pong", h:ask("ping"))
    assert.are.equal(2, h:ask("restarts"))
  end)

  it("do not touch io or os unless asked to", function()
    local src = "return { receive = function() return { io == nil, os == nil, string ~= nil } end }"
    assert.are.same({ true, true, true }, system:spawn(src):ask(1))
    assert.are.same({ false, false, true }, system:spawn(src, { open_io_os = true }):ask(1))
  end)

  it("run in parallel on both workers", function()
    -- While one actor is busy for ~0.3 s, a second one must run on the other
    -- worker (timing-free check: which worker ran each handler).
    local a, b = system:spawn("hog"), system:spawn("hog")
    local n = 6e7
    local pending = system:spawn("proxy")
    pending:tell{ "via_tell", a, { "work_where", n }, 10 }
    zactor.sleep(0.02)
    local wb = b:ask({ "work_where", 1e5 }, 10)
    local wa = util.wait_until(function() return pending:ask{ "last" } end, 10)
    assert.are.equal("number", type(wa))
    assert.are_not.equal(wa, wb)
  end)
end)
