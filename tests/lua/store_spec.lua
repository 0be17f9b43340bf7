-- zactor.store from Lua: the storage layer on memory:// and sqlite://
-- (the C conformance suite and the Python tests cover Redis and PostgreSQL).
local zactor = require "zactor"

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p '" .. p .. "'"))
  return p
end

for _, kind in ipairs{ "memory", "sqlite" } do
  describe("zactor.store " .. kind, function()
    local store, dir
    before_each(function()
      if kind == "sqlite" then
        dir = tmpdir()
        store = zactor.store("sqlite://" .. dir .. "/s.db")
      else
        store = zactor.store("memory://")
      end
    end)
    after_each(function()
      store:close()
      if dir then os.execute("rm -rf '" .. dir .. "'") end
    end)

    it("fences off an older token: nil, \"fenced\", msg and nothing written", function()
      assert.are.equal(1, store:write("f", "a", 0, 5))
      local ok, err, msg = store:write("f", "stale", 1, { fence = 3 })
      assert.is_nil(ok)
      assert.are.equal("fenced", err)
      assert.are.equal("fenced: token 3 < stored 5", msg)
      assert.are.equal("a", (store:read("f")))
      assert.are.equal(2, store:write("f", "b", 1, { fence = 5 }))
      assert.are.equal(3, store:write("f", "c", 2)) -- no token: not fenced
      ok, err = store:clear("f", nil, 4)
      assert.are.equal("fenced", err)
      assert.is_true(store:clear("f", 3, 6))
      assert.are.equal(1, store:append("fj", 1, "e", 7))
      ok, err = store:append("fj", 2, "e", 6)
      assert.are.equal("fenced", err)
      ok, err = store:delete_to("fj", 1, 6)
      assert.are.equal("fenced", err)
      assert.is_true(store:delete_to("fj", 1, 8))
      assert.has_error(function() store:write("f", 1, 0, "x") end)
      assert.has_error(function() store:write("f", 1, 0, -1) end)
    end)

    it("writes with versions; a stale write is a conflict and writes nothing", function()
      assert.is_nil(store:read("acct"))
      assert.are.equal(1, store:write("acct", { balance = 10 }, 0))
      assert.are.equal(2, store:write("acct", { balance = 20 }, 1))
      local v, err, msg = store:write("acct", { balance = 99 }, 1)
      assert.is_nil(v)
      assert.are.equal("conflict", err)
      assert.truthy(msg:find("expected 1, stored 2", 1, true))
      local value, version = store:read("acct")
      assert.are.equal(20, value.balance)
      assert.are.equal(2, version)
      assert.are.equal(kind, store:scheme())
    end)

    it("keeps (type, id) keys apart and round-trips the value model", function()
      store:write({ "a:b", "c" }, 1, 0)
      store:write({ "a", "b:c" }, { 1, "two", { x = 3.5 } }, 0)
      assert.are.equal(1, (store:read{ "a:b", "c" }))
      local v = store:read{ "a", "b:c" }
      assert.are.equal("two", v[2])
      assert.are.equal(3.5, v[3].x)
      assert.has_error(function() store:read(42) end,
        "zactor.store: a key is an id string or a {type, id} table of strings, not number")
    end)

    it("clears with or without a version", function()
      store:write("c", "x", 0)
      local ok, err = store:clear("c", 7)
      assert.is_nil(ok)
      assert.are.equal("conflict", err)
      assert.is_true(store:clear("c", 1))
      assert.is_nil(store:read("c"))
      assert.is_true(store:clear("c"))
    end)

    it("appends in sequence, replays in order, deletes a prefix", function()
      assert.are.equal(0, store:highest("j"))
      local s, err = store:append("j", 2, "gap")
      assert.is_nil(s)
      assert.are.equal("conflict", err)
      for i = 1, 3 do assert.are.equal(i, store:append("j", i, { "ev", i })) end
      local evs = store:replay("j")
      assert.are.equal(3, #evs)
      for i = 1, 3 do
        assert.are.equal(i, evs[i][1])
        assert.are.equal(i, evs[i][2][2])
      end
      assert.are.equal(2, store:replay("j", 2, 1)[1][1])
      store:delete_to("j", 2)
      evs = store:replay("j")
      assert.are.equal(1, #evs)
      assert.are.equal(3, evs[1][1])
      assert.are.equal(3, store:highest("j"))
    end)

    it("refuses bad input with a message and writes nothing", function()
      assert.has_error(function() store:write("k", function() end, 0) end)
      assert.has_error(function() store:write("k", 1, -1) end,
        "zactor.store: version must be >= 0 (got -1)")
      assert.has_error(function() store:append("k", 0, 1) end)
      assert.is_nil(store:read("k"))
    end)
  end)
end

describe("zactor.store open and close", function()
  it("gives clear errors for bad URLs and unreachable servers", function()
    assert.has_error(function() zactor.store("ftp://x") end)
    local ok, err = pcall(zactor.store, "redis://127.0.0.1:1/0")
    assert.is_false(ok)
    assert.truthy(err:find("cannot connect", 1, true))
    ok, err = pcall(zactor.store, "memory://", { bogus = 1 })
    assert.is_false(ok)
    assert.truthy(err:find("unknown option 'bogus'", 1, true))
  end)

  it("closes with <close>, and a closed store refuses calls", function()
    local s
    do
      local st <close> = zactor.store("memory://")
      s = st
      st:write("k", 1, 0)
    end
    assert.has_error(function() s:read("k") end, "zactor.store: the store is closed")
    s:close() -- idempotent
    assert.are.equal("zactor.store (closed)", tostring(s))
  end)

  it("keeps data across reopen (sqlite)", function()
    local dir = tmpdir()
    local url = "sqlite://" .. dir .. "/r.db"
    local s = zactor.store(url)
    s:write("k", { n = 1 }, 0)
    s:close()
    s = zactor.store(url)
    local v, ver = s:read("k")
    assert.are.equal(1, v.n)
    assert.are.equal(1, ver)
    s:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)
