-- Native C behaviours spawned from Lua: system:spawn_native(path, symbol, ...)
-- loads a shared object whose za_* calls bind to the runtime inside the
-- module (tests/native/counter.c, compiled here with the system's cc).
local zactor = require "zactor"

local function build_counter()
  local root = os.getenv("ZACTOR_ROOT") or "."
  local so = os.tmpname() .. ".so"
  local cmd = string.format(
    "cc -std=c11 -O2 -shared -fPIC -I%s/csrc/include %s/tests/native/counter.c -o %s",
    root, root, so)
  assert(os.execute(cmd), "cannot compile tests/native/counter.c")
  return so
end

describe("spawn_native", function()
  local system, so
  setup(function() so = build_counter() end)
  teardown(function() os.remove(so) end)
  before_each(function() system = zactor.system{ workers = 2 } end)
  after_each(function() system:close() end)

  it("runs a C behaviour with its spawn arguments and a name", function()
    local c = system:spawn_native(so, "counter_behaviour", 10, { name = "native" })
    c:tell{ "add", 5 }
    assert.are.equal(15, c:ask({ "get" }, 2))
    assert.are.equal(c, system:lookup("native"))
  end)

  it("raise clear errors for a missing file or symbol", function()
    local ok, err = pcall(system.spawn_native, system, "/nonexistent/lib.so", "x")
    assert.is_false(ok)
    assert.matches("spawn_native: .*nonexistent", err)
    ok, err = pcall(system.spawn_native, system, so, "no_such_behaviour")
    assert.is_false(ok)
    assert.matches("no symbol 'no_such_behaviour'", err)
  end)

  it("refuse a symbol that is not a za_behaviour instead of crashing", function()
    -- libc's environ (8 bytes) crashed the process; printf was refused only by luck
    local ok, err = pcall(system.spawn_native, system, "libc.so.6", "environ")
    assert.is_false(ok)
    assert.matches("not a za_behaviour", err)
    ok, err = pcall(system.spawn_native, system, "libc.so.6", "printf")
    assert.is_false(ok)
    assert.matches("not a data object", err)
    ok, err = pcall(system.spawn_native, system, so .. "\0x", "counter_behaviour")
    assert.is_false(ok)
    assert.matches("NUL", err)
  end)

  it("report a C actor's failure to the asker and restart it", function()
    local c = system:spawn_native(so, "counter_behaviour", 3)
    local ok, err = pcall(c.ask, c, { "boom" }, 2)
    assert.is_false(ok)
    assert.matches("native boom", err)
    assert.are.equal(3, c:ask({ "get" }, 2))
  end)

  it("talk to Lua actors both ways", function()
    local c = system:spawn_native(so, "counter_behaviour", 0)
    local p = system:spawn("proxy")
    c:tell{ "add", 41 }
    assert.are.equal(41, p:ask{ "via", c, { "get" } })
    for _ = 1, 1000 do c:tell{ "add", 1 } end
    assert.are.equal(1041, c:ask({ "get" }, 2))
  end)
end)
