-- The main-script API: system, spawn, tell, ask, lookup, refs, errors.
local zactor = require "zactor"

describe("zactor module", function()
  local system
  before_each(function() system = zactor.system{ workers = 2 } end)
  after_each(function() system:close() end)

  it("runs the README example", function()
    local counter = system:spawn("counter", 10, { name = "counter" })
    counter:tell{ "add", 5 }
    assert.are.equal(15, counter:ask({ "get" }, 1.0))
    assert.is_true(system:lookup("counter") == counter)
    counter:stop()
    assert.is_true(counter:join(2))
    assert.is_false(counter:alive())
  end)

  it("can be required twice (luaopen_zactor is idempotent)", function()
    package.loaded.zactor = nil
    local again = require "zactor"
    local s2 <close> = again.system{ workers = 1 }
    local c = s2:spawn("counter", 1)
    assert.are.equal(1, c:ask({ "get" }))
    -- refs from the first load still work with the shared metatable
    local c1 = system:spawn("counter", 2)
    assert.are.equal(2, c1:ask({ "get" }))
  end)

  it("spawns from a path and from source text", function()
    local a = system:spawn("tests/lua/actors/counter.lua", 7)
    assert.are.equal(7, a:ask({ "get" }))
    local b = system:spawn("return { receive = function(ctx, m) return m * 2 end }")
    assert.are.equal(42, b:ask(21))
  end)

  it("passes several init arguments, and a trailing table that is not options", function()
    local src = "local a, b, c\nreturn { init = function(ctx, x, y, z) a, b, c = x, y, z end,\n" ..
                "receive = function() return { a, b, c } end }"
    local r = system:spawn(src, 1, "two", { 3 })
    assert.are.same({ 1, "two", { 3 } }, r:ask("x"))
  end)

  it("has ref equality, tostring and ids", function()
    local a = system:spawn("echo")
    local b = system:spawn("echo")
    assert.is_true(a == a)
    assert.is_false(a == b)
    assert.matches("^zactor%.ref%(%d+%.%d+%)$", tostring(a))
    assert.are.equal("number", type(a:id()))
    assert.is_true(a:ask(a) == a) -- a ref travels and comes back equal
  end)

  it("returns nil from lookup for unknown names and rejects taken names", function()
    assert.is_nil(system:lookup("nobody"))
    system:spawn("echo", { name = "dup" })
    assert.has_error(function() system:spawn("echo", { name = "dup" }) end,
      "zactor: spawn: name 'dup' is taken")
  end)

  it("reports spawn errors clearly", function()
    assert.has_error(function() system:spawn("no_such_module_xyz") end)
    local ok, err = pcall(system.spawn, system, "no_such_module_xyz")
    assert.is_false(ok)
    assert.matches("module 'no_such_module_xyz' not found", err)
    ok, err = pcall(system.spawn, system, "return {\n receive = ")
    assert.is_false(ok)
    assert.matches("cannot load Lua behaviour", err)
    -- a table whose keys are all options or near misses is an options
    -- table: a typo is an error that names the option meant
    ok, err = pcall(system.spawn, system, "echo", { name = "x", capcity = 1 })
    assert.is_false(ok)
    assert.matches("spawn: unknown option 'capcity' %(did you mean 'capacity'%?%) %(valid options: name, capacity, ", err)
    -- a key that is no option at all makes it an init argument (a record)
    ok, err = pcall(system.spawn, system, "echo", { name = "x", bogus = 1, capacity = 1 })
    assert.is_true(ok, err)
    assert.is_nil(system:lookup("x"))
  end)

  it("resolves module names in the caller's package.path, at each spawn", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert.is_true(os.execute("mkdir '" .. dir .. "'"))
    local f = assert(io.open(dir .. "/pathmod_xyz.lua", "w"))
    f:write("return { receive = function(ctx, m)\n" ..
            "  if m == 'child' then return ctx:ask(ctx:spawn('pathmod_xyz'), 'hi') end\n" ..
            "  return 'here' end }")
    f:close()
    local saved = package.path
    package.path = dir .. "/?.lua;" .. saved
    local ok, r = pcall(system.spawn, system, "pathmod_xyz")
    package.path = saved
    assert.is_true(ok, r)
    assert.are.equal("here", r:ask(1))
    -- the actor's own ctx:spawn searches the path it was spawned with
    assert.are.equal("here", r:ask("child"))
    -- back on the old path, the name is not found: no process-wide path
    local ok2, err = pcall(system.spawn, system, "pathmod_xyz")
    os.remove(dir .. "/pathmod_xyz.lua")
    os.remove(dir)
    assert.is_false(ok2)
    assert.matches("module 'pathmod_xyz' not found", err)
  end)

  it("rejects unknown options and bad option values", function()
    local ok, err = pcall(system.spawn, system, "echo", { restart = "sometimes" })
    assert.is_false(ok)
    assert.matches("spawn: option 'restart' must be one of permanent, transient, temporary, not 'sometimes'", err)
  end)

  it("fails an ask to a dead actor with a clear error", function()
    local e = system:spawn("echo")
    e:stop()
    e:join(2)
    assert.has_error(function() e:ask("hi", 1) end, "zactor: ask: actor is dead")
    assert.has_error(function() e:tell("hi") end, "zactor: tell: actor is dead")
  end)

  it("times out an ask", function()
    local h = system:spawn("hog", { budget_ms = 2000 })
    local t0 = zactor.clock()
    local ok, err = pcall(h.ask, h, { "work", 2e7 }, 0.02)
    assert.is_false(ok)
    assert.matches("ask timed out after 0.02 s", err)
    assert.is_true(zactor.clock() - t0 < 1.0)
  end)

  it("reports a full mailbox", function()
    local h = system:spawn("hog", { capacity = 1, budget_ms = 2000 })
    h:tell{ "work", 5e7 }           -- keeps it busy
    zactor.sleep(0.02)
    local saw
    for _ = 1, 5 do
      local ok, err = pcall(h.tell, h, "ping")
      if not ok then saw = err break end
    end
    assert.are.equal("zactor: tell: mailbox full", saw:match("zactor: tell: mailbox full"))
  end)

  it("gives a failed ask the error and its traceback", function()
    local c = system:spawn("counter", 0)
    local ok, err = pcall(c.ask, c, { "boom" }, 1)
    assert.is_false(ok)
    assert.matches("the actor failed: .*counter.lua:%d+: boom", err)
  end)

  it("closes with <close> and refuses use afterwards", function()
    local ref
    do
      local s <close> = zactor.system{ workers = 1 }
      ref = s:spawn("echo")
      assert.are.equal(1, ref:ask(1))
    end
    assert.has_error(function() ref:tell(1) end, "zactor: the system of this ref is closed")
    system:close()
    system:close() -- twice is fine
    system = zactor.system{ workers = 1 }
  end)

  it("exposes metrics", function()
    local e = system:spawn("echo")
    for i = 1, 10 do e:tell(i) end
    assert.are.equal(11, e:ask("seen"))
    local m = system:metrics()
    assert.is_true(m.sent >= 11)
    assert.is_true(m.spawned >= 1)
    assert.are.equal("number", type(m.queue_latency.p50_ns))
    assert.are.equal(2, system:workers())
  end)

  it("validates system options", function()
    assert.has_error(function() zactor.system{ workers = -1 } end, "zactor: system: option 'workers' must be >= 0, not -1")
    assert.has_error(function() zactor.system(5) end)
  end)
end)
