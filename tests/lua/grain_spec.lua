-- Grains (virtual actors) and persistent actors in Lua (issue 13):
-- system:grain, ctx:state/save/clear/persist/remind/forget, persistence_id.
local zactor = require "zactor"
local util = require "util"

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p '" .. p .. "'"))
  return p
end

-- The activations of grain type/key now (system:grains()).
local function active(system, type, key)
  for _, g in ipairs(system:grains()) do
    if g.type == type and g.key == key then return g end
  end
  return nil
end

local function wait_gone(system, type, key)
  return util.wait_until(function() return active(system, type, key) == nil end, 10)
end

describe("Lua grains", function()
  local system, dir, url
  before_each(function()
    dir = tmpdir()
    url = "sqlite://" .. dir .. "/g.db"
    system = zactor.system{ workers = 2, storage = url }
  end)
  after_each(function()
    system:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("register_grain registers a class before any ref, so messages by type name activate it", function()
    assert.are.equal("acct", system:register_grain("g_account", { type = "acct" }))
    assert.are.equal("acct", system:register_grain("g_account", { type = "acct" })) -- again: fine
    assert.are.equal(4, system:grain("acct", "zed"):ask({ "deposit", 4 }, 5))
    assert.has_error(function() system:register_grain("no_such_behaviour_xyz") end)
  end)

  it("activates on the first message, not before, and lists the activation", function()
    local alice = system:grain("g_account", "alice")
    assert.is_nil(active(system, "g_account", "alice"))
    assert.are.equal(10, alice:ask({ "deposit", 10 }, 5))
    local g = active(system, "g_account", "alice")
    assert.is_table(g)
    assert.are.equal("active", g.status)
    assert.are.equal(alice, g.ref)
    assert.is_true(g.since > 1.6e9)
    assert.are.equal("alice", alice:ask{ "key" })
    -- ctx.self is the grain reference, not the activation's
    assert.are.equal(alice, alice:ask{ "self" })
    -- the same (type, key) is the same reference; another key another grain
    assert.are.equal(alice, system:grain("g_account", "alice"))
    local bob = system:grain("g_account", "bob")
    assert.are_not.equal(alice, bob)
    assert.are.equal(0, bob:ask{ "get" }.balance)
  end)

  it("keeps its state across idle deactivation; on_deactivate may save", function()
    local alice = system:grain("g_account", "alice")
    assert.are.equal(10, alice:ask({ "deposit", 10 }, 5))
    assert.truthy(wait_gone(system, "g_account", "alice")) -- idle_timeout = 0.5
    local st = alice:ask({ "get" }, 5) -- activated again from the store
    assert.are.equal(10, st.balance)
    assert.are.equal(2, st.activations)
    assert.is_true(st.deactivated)
    -- ctx:deactivate() asks for it at once
    assert.is_true(alice:ask{ "deactivate" })
    assert.truthy(wait_gone(system, "g_account", "alice"))
    assert.are.equal(3, alice:ask{ "get" }.activations)
  end)

  it("survives a restart of the program (a new system on the same file)", function()
    assert.are.equal(7, system:grain("g_account", "carol"):ask({ "deposit", 7 }, 5))
    system:close()
    system = zactor.system{ workers = 2, storage = url }
    assert.are.equal(7, system:grain("g_account", "carol"):ask({ "get" }, 5).balance)
  end)

  it("a save after the row changed behind its back is a conflict, and the next activation reads the new row", function()
    local dave = system:grain("g_account", "dave")
    assert.are.equal(5, dave:ask({ "deposit", 5 }, 5))
    local store = zactor.store(url)
    local row, version = store:read{ "g_account", "dave" }
    assert.are.equal(5, row.balance)
    row.balance = 100
    assert.are.equal(version + 1, store:write({ "g_account", "dave" }, row, version))
    local res = dave:ask({ "deposit", 1 }, 5)
    assert.are.equal("conflict", res[1])
    assert.is_string(res[2])
    -- a conflict deactivates the stale activation (its on_deactivate's save
    -- is refused too): the next one loads 100
    assert.truthy(wait_gone(system, "g_account", "dave"))
    assert.are.equal(100, (store:read{ "g_account", "dave" }).balance) -- nothing written
    store:close()
    local st = dave:ask({ "get" }, 5)
    assert.are.equal(100, st.balance)
    assert.are.equal(2, st.activations)
  end)

  it("a state outside the value model is a clear error at save, nothing written", function()
    local erin = system:grain("g_account", "erin")
    assert.are.equal(3, erin:ask({ "deposit", 3 }, 5))
    local res = erin:ask{ "bad_state" }
    assert.is_false(res[1])
    assert.matches("ctx:save: the state is not in the value model, nothing written", res[2], 1, true)
    assert.matches("function", res[2], 1, true)
    local store = zactor.store(url)
    local row, version = store:read{ "g_account", "erin" }
    store:close()
    assert.are.equal(3, row.balance)
    assert.is_nil(row.callback)
    assert.are.equal(1, version)
  end)

  it("ctx:clear deletes the stored state", function()
    local fay = system:grain("g_account", "fay")
    assert.are.equal(4, fay:ask({ "deposit", 4 }, 5))
    assert.is_true(fay:ask{ "clear" })
    local store = zactor.store(url)
    assert.is_nil(store:read{ "g_account", "fay" })
    store:close()
  end)

  it("a journaled grain appends events, applies them, and replays them on activation", function()
    local cart = system:grain("g_cart", "c1")
    for i = 1, 5 do assert.are.equal(i, cart:ask({ "add", "item" .. i }, 5)) end
    assert.are.same({ "item1", "item2", "item3", "item4", "item5" }, cart:ask{ "items" })
    assert.is_true(cart:ask{ "deactivate" })
    assert.truthy(wait_gone(system, "g_cart", "c1"))
    -- the snapshot row is [seq, state] at seq 3 (snapshot_every = 3); drop
    -- the events it covers, so the next activation must start from it
    local store = zactor.store(url)
    local snap = store:read{ "g_cart", "c1" }
    assert.are.equal(3, snap[1])
    assert.are.same({ "item1", "item2", "item3" }, snap[2].items)
    assert.are.equal(5, store:highest{ "g_cart", "c1" })
    store:delete_to({ "g_cart", "c1" }, 3)
    store:close()
    -- activated again: snapshot (seq 3) + events 4 and 5
    assert.are.same({ "item1", "item2", "item3", "item4", "item5" }, cart:ask({ "items" }, 5))
    assert.are.equal(6, cart:ask({ "add", "item6" }, 5))
    -- the listing's version is the journal's seq (updated just after the
    -- completion reaches the grain)
    assert.truthy(util.wait_until(function()
      local g = active(system, "g_cart", "c1")
      return g and g.version == 6
    end, 5))
    -- bad input: an event outside the value model; save on a journaled grain
    local res = cart:ask{ "bad_event" }
    assert.is_false(res[1])
    assert.matches("ctx:persist: the event is not in the value model, nothing written", res[2], 1, true)
    res = cart:ask{ "save" }
    assert.matches("use ctx:persist", res[2], 1, true)
    assert.are.equal(6, #cart:ask{ "items" })
  end)

  it("reminders fire as on_reminder calls and can be forgotten", function()
    local clock = system:grain("g_clock", "k1")
    assert.is_true(clock:ask({ "remind", "tick", { period = 1, due = 0.05 } }, 5))
    local t = util.wait_until(function()
      local r = clock:ask{ "ticks" }
      return r.ticks >= 1 and r
    end, 10)
    assert.truthy(t)
    assert.are.equal("tick", t.last.reminder)
    assert.are.equal(0, t.last.missed)
    assert.are.equal(1, t.last.period)
    assert.is_number(t.last.due)
    assert.is_true(clock:ask{ "forget", "tick" })
    assert.is_false(clock:ask{ "forget", "tick" })
    -- without on_reminder, a reminder comes through receive(ctx, r, tag)
    local src = [[
      local got
      return { receive = function(ctx, m, tag)
        if type(m) == "table" and m.reminder then got = { m.reminder, tag } return end
        if m == "set" then return ctx:remind("r", { period = 1, due = 0.01 }) end
        if m == "forget" then return ctx:forget("r") end
        return got
      end }]]
    local plain = system:grain(src, "k2", { type = "g_plain_reminded" })
    assert.is_true(plain:ask("set"))
    local got = util.wait_until(function() return plain:ask("got") end, 10)
    assert.are.same({ "r", -5 }, got) -- ZA_TAG_REMINDER
    assert.is_true(plain:ask("forget"))
    -- bad reminder options
    local res = clock:ask{ "bad", "x", { period = 0.5 } }
    assert.matches("period must be at least 1 second", res[2], 1, true)
    res = clock:ask{ "bad", "x", { every = 5 } }
    assert.matches("unknown option 'every'", res[2], 1, true)
    res = clock:ask{ "bad", "x", {} }
    assert.matches("option 'period' (seconds, >= 1) is required", res[2], 1, true)
  end)

  it("a grain asks another grain by type and key, and a plain actor", function()
    local alice = system:grain("g_account", "alice")
    assert.are.equal(2, system:grain("g_account", "bob"):ask({ "deposit", 2 }, 5))
    assert.are.equal(2, alice:ask({ "ask_grain", "g_account", "bob", { "get" } }, 5).balance)
    local echo = system:spawn("echo")
    assert.are.equal("hi", alice:ask({ "ask", echo, "hi" }, 5))
  end)

  it("refuses bad input with clear errors", function()
    assert.has_error(function() system:grain("g_account", 5) end,
      "zactor: grain: the key must be a string, not number")
    local ok, err = pcall(system.grain, system, "g_account", "")
    assert.is_false(ok)
    assert.matches("grain: bad key ''", err, 1, true)
    ok, err = pcall(system.grain, system, "g_no_such_module", "k")
    assert.is_false(ok)
    assert.matches("g_no_such_module", err, 1, true)
    ok, err = pcall(system.grain, system, "g_bad_journal", "k")
    assert.is_false(ok)
    assert.matches("a journaled grain needs apply", err, 1, true)
    ok, err = pcall(system.grain, system, "g_account", "k", { idle = 3 })
    assert.is_false(ok)
    assert.matches("unknown option 'idle'", err, 1, true)
    ok, err = pcall(zactor.system, { storage = 5 })
    assert.is_false(ok)
    assert.matches("option 'storage' must be a URL string", err, 1, true)
    ok, err = pcall(zactor.system, { storage = "nosuch://x" })
    assert.is_false(ok)
    -- ctx:persist on a grain that is not journaled
    local res = system:grain("g_account", "gil"):ask{ "persist" }
    assert.matches("only a journaled grain", res[2], 1, true)
    -- ctx:state / ctx:save in a plain actor
    local plain = system:spawn("plain_saver")
    assert.matches("this actor has no persistent state", plain:ask("save"), 1, true)
    assert.matches("this actor has no persistent state", plain:ask("state"), 1, true)
  end)
end)

describe("persistent actors (persistence_id)", function()
  local system, dir, url
  before_each(function()
    dir = tmpdir()
    url = "sqlite://" .. dir .. "/p.db"
    system = zactor.system{ workers = 2, storage = url }
  end)
  after_each(function()
    system:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("loads the state before init and saves it with ctx:save", function()
    local c = system:spawn("p_counter", 5, { persistence_id = "c1" })
    assert.are.equal(1, c:ask("inc"))   -- the store's version
    assert.are.equal(2, c:ask("inc"))
    assert.are.same({ n = 7, inits = 1 }, c:ask("get"))
    system:close()
    system = zactor.system{ workers = 2, storage = url }
    c = system:spawn("p_counter", 5, { persistence_id = "c1" })
    assert.are.same({ n = 7, inits = 2 }, c:ask("get"))
  end)

  it("a restart reloads the stored state (unsaved changes are gone)", function()
    local c = system:spawn("p_counter", 0, { persistence_id = "c2" })
    assert.are.equal(1, c:ask("inc"))
    assert.are.equal(101, c:ask("bump"))
    c:tell("crash")
    local st = util.wait_until(function()
      local ok, v = pcall(c.ask, c, "get", 1)
      return ok and v.inits == 2 and v
    end, 10)
    assert.are.same({ n = 1, inits = 2 }, st)
    assert.is_true(c:ask("clear"))
    local store = zactor.store(url)
    assert.is_nil(store:read{ "zactor.actor", "c2" })
    store:close()
  end)

  it("refuses a bad persistence_id", function()
    local ok, err = pcall(system.spawn, system, "p_counter", { persistence_id = 5 })
    assert.is_false(ok)
    assert.matches("option 'persistence_id' must be a string", err, 1, true)
    ok, err = pcall(system.spawn, system, "p_counter", { persistence_id = "" })
    assert.is_false(ok)
    assert.matches("persistence_id must be 1..1024 bytes", err, 1, true)
  end)
end)
