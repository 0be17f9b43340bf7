-- Names and other strings that reach the C API, which takes NUL-terminated
-- strings: a Lua string with a NUL inside would arrive cut short (issue 10,
-- finding 25), so every such spot refuses it with an error naming it.
local zactor = require "zactor"

describe("strings with a NUL byte", function()
  local system
  before_each(function() system = zactor.system{ workers = 2 } end)
  after_each(function() system:close() end)

  local ECHO = "return { receive = function(ctx, m) return m end }"

  it("are refused as spawn names instead of registering their prefix", function()
    local ok, err = pcall(system.spawn, system, ECHO, { name = "svc\0evil" })
    assert.is_false(ok)
    assert.matches("spawn: option 'name' contains a NUL byte", err)
    assert.is_nil(system:lookup("svc"))
  end)

  it("are refused by lookup, which would otherwise find the prefix", function()
    system:spawn(ECHO, { name = "svc" })
    assert.is_not_nil(system:lookup("svc"))
    local ok, err = pcall(system.lookup, system, "svc\0other")
    assert.is_false(ok)
    assert.matches("lookup: the name contains a NUL byte", err)
  end)

  it("are refused as behaviour sources", function()
    local ok, err = pcall(system.spawn, system, ECHO .. "\0junk")
    assert.is_false(ok)
    assert.matches("spawn: the behaviour contains a NUL byte", err)
  end)

  it("are refused inside actors (ctx:lookup, ctx:spawn)", function()
    local a = system:spawn([[return { receive = function(ctx, m)
      local ok1, e1 = pcall(ctx.lookup, ctx, "a\0b")
      local ok2, e2 = pcall(ctx.spawn, ctx, "return {receive=function() end}", { name = "x\0y" })
      return { ok1, e1, ok2, e2 }
    end }]])
    local r = a:ask(1, 5)
    assert.is_false(r[1])
    assert.matches("ctx:lookup: the name contains a NUL byte", r[2])
    assert.is_false(r[3])
    assert.matches("option 'name' contains a NUL byte", r[4])
  end)

  it("are refused as store keys", function()
    local store <close> = zactor.store("memory://")
    assert.equal(1, store:write("k", "v", 0))
    local ok, err = pcall(store.read, store, "k\0other")
    assert.is_false(ok)
    assert.matches("the key contains a NUL byte", err)
  end)
end)
