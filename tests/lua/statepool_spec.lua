-- Reuse of actor states (csrc/hosts/lua/statepool.c): a stopped actor's
-- lua_State is reset and given to the next Lua actor. A reused state must be
-- indistinguishable from a fresh one, and a state that failed, hit its
-- memory limit or set a finalizer is never reused. One worker, so the next
-- actor starts on the thread (and pool shard) where the last one stopped;
-- zactor.lua_pool_stats() shows that a reuse did happen, so these tests
-- cannot pass by never reusing.
local zactor = require "zactor"

-- What an actor sees of its environment, as one comparable table.
local PROBE = [[
local function keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = tostring(k) end
  table.sort(ks)
  return table.concat(ks, ",")
end
return {
  init = function(ctx)
    local smt = getmetatable("")
    collectgarbage()
    probe = {
      globals = keys(_G),
      string = keys(string),
      math = keys(math),
      smt = keys(smt),
      smt_index = smt.__index == string,
      upper = ("abc"):upper(),
      pi = math.pi,
      gmeta = getmetatable(_G) ~= nil,
      leak = rawget(_G, "leak"),
      fin = rawget(_G, "finalized"),
      array_mt = keys(zactor.array_mt),
      string_id = tostring(string),
      hold = rawget(_G, "hold"),
      gc_running = collectgarbage("isrunning"),
      random = math.random(1 << 40),
      gc_mode = collectgarbage("incremental"), -- returns the mode it was in
      kb = collectgarbage("count"),
    }
  end,
  receive = function(ctx, m)
    ctx:stop()
    return probe
  end,
}
]]

-- Mutates everything it can reach, then stops.
local VANDAL = [[
return {
  receive = function(ctx, m)
    leak = "from the last actor"
    string.upper = function() return "hijacked" end
    string.extra = 1
    string.rep = nil
    math.pi = 3
    math.sin = nil
    getmetatable("").__index = { upper = function() return "smt" end }
    getmetatable("").__add = function() return 0 end
    math.randomseed(42)
    collectgarbage("generational")
    collectgarbage("stop")
    setmetatable(_G, { __index = function() return "ghost" end })
    zactor.array_mt.extra = true
    hold = { 1, 2, 3 }
    ctx:stop()
    return tostring(rawget(_G, "string")) -- the library table: the same object if reused
  end,
}
]]

local function stats() return zactor.lua_pool_stats() end

describe("reused Lua states", function()
  local system
  before_each(function() system = zactor.system{ workers = 1 } end)
  after_each(function() system:close() end)

  local function probe()
    return system:spawn(PROBE .. "\n"):ask("probe", 5)
  end

  it("look like fresh ones after an actor changed globals, libraries and metatables", function()
    local fresh = probe() -- a state whose pristine point matches the probe's libraries
    local before = stats()
    local vandal_id = system:spawn(VANDAL .. "\n"):ask("go", 5)
    local again = probe()
    local after = stats()
    assert.is_true(after.reused > before.reused, "the probe did not get a reused state")
    assert.are.equal(vandal_id, again.string_id, "the probe did not get the vandal's state")
    assert.is_nil(again.hold)
    assert.are.equal(fresh.globals, again.globals)
    assert.are.equal(fresh.string, again.string)
    assert.are.equal(fresh.math, again.math)
    assert.are.equal(fresh.smt, again.smt)
    assert.is_true(again.smt_index)
    assert.are.equal("ABC", again.upper)
    assert.are.equal(math.pi, again.pi)
    assert.are.equal(fresh.gmeta, again.gmeta)
    assert.is_nil(again.leak)
    assert.is_true(again.gc_running)
    math.randomseed(42) -- the vandal's seed: its sequence must not carry over
    local seeded = { [math.random(1 << 40)] = true, [math.random(1 << 40)] = true }
    assert.is_nil(seeded[again.random], "math.random continued the last actor's sequence")
    assert.are.equal("incremental", again.gc_mode)
    assert.are.equal(fresh.array_mt, again.array_mt)
    -- the last actor's garbage does not count once collected
    assert.is_true(again.kb < fresh.kb + 8, ("%.1f KB vs %.1f KB fresh"):format(again.kb, fresh.kb))
  end)

  it("keep no handler, ctx state or registry entry of the last actor", function()
    local src = [[
      local n = 0
      return {
        init = function(ctx, tag) mytag = tag end,
        receive = function(ctx, m)
          n = n + 1
          if m == "stop" then ctx:stop() end
          return { tag = mytag, n = n, self = tostring(ctx.self) }
        end,
        child_failed = function() end,
      }
    ]]
    local a = system:spawn(src, "first")
    a:ask(1, 5)
    local ra = a:ask("stop", 5)
    local before = stats()
    local b = system:spawn(src, "second")
    local rb = b:ask(1, 5)
    assert.is_true(stats().reused > before.reused)
    assert.are.equal("first", ra.tag)
    assert.are.equal(2, ra.n)
    assert.are.same({ tag = "second", n = 1, self = tostring(b) }, rb)
    assert.are_not.equal(ra.self, rb.self)
  end)

  it("serve an actor of another System (refs carry the new System's identity)", function()
    -- States are pooled per thread, and threads take the pool's 8 shards in
    -- turn: over 10 one-worker Systems in a row, the echo gets a state that
    -- the binder of an earlier System left (its encoder bound to that System
    -- by the tell), and answers the ref it got.
    local binder = "return { receive = function(ctx, m) ctx.self:tell(0) ctx:stop() return true end }\n"
    local echo = "return { receive = function(ctx, m) ctx:stop() return m end }\n"
    local before = stats()
    for _ = 1, 10 do
      local s = zactor.system{ workers = 1 }
      local ok, err = pcall(function()
        local e = s:spawn(echo)
        assert.is_true(e:ask(e, 5) == e)
        e:join(5)
        local b = s:spawn(binder)
        assert.is_true(b:ask(0, 5))
        b:join(5)
      end)
      s:close()
      assert(ok, err)
    end
    assert.is_true(stats().reused > before.reused)
  end)

  it("run the behaviour a reused state kept as if it were loaded anew", function()
    -- a chunk that replaces _ENV at its top level: its next run must see the globals again
    local env = [[
      local seen, g = tag, _G
      _ENV = { tag = "replaced" }
      return { receive = function(ctx, m) ctx:stop() return { seen = seen, g = g ~= nil } end }
    ]]
    local other = "return { receive = function(ctx, m) ctx:stop() return 'other' end }\n"
    local before = stats()
    for i = 1, 3 do -- the same behaviour twice (its kept chunk runs again), then another one
      assert.are.same({ g = true }, system:spawn(env):ask(i, 5))
      assert.are.same({ g = true }, system:spawn(env):ask(i, 5))
      assert.are.equal("other", system:spawn(other):ask(i, 5))
    end
    assert.is_true(stats().reused >= before.reused + 8)
  end)

  it("honour the new actor's memory limit, with the old actor's garbage collected first", function()
    -- the last actor leaves ~100 KB of garbage behind
    assert.is_true(system:spawn([[return { receive = function(ctx)
      local t = {} for i = 1, 1500 do t[i] = ("x"):rep(40) .. i end
      garbage = t
      ctx:stop()
      return true end }
    ]]):ask(0, 5))
    local before = stats()
    -- the next one may hold 64 KB of its own within a 160 KB limit, but not 400 KB
    local hog = system:spawn([[return { receive = function(ctx, kb)
      local t = {}
      local ok = pcall(function() for i = 1, kb do t[i] = ("y"):rep(1000) .. i end end)
      t = nil
      collectgarbage()
      return ok end }
    ]], { memory_limit = 160 * 1024 })
    assert.is_true(hog:ask(64, 5))
    assert.is_true(stats().reused > before.reused, "the hog did not get a reused state")
    assert.is_false(hog:ask(400, 5))
  end)

  it("are not reused after the actor failed or hit its memory limit", function()
    local before = stats()
    local bad = system:spawn([[return { receive = function() error("boom") end }
    ]], { restart = "temporary" })
    assert.has_error(function() bad:ask(1, 5) end)
    local hog = system:spawn([[return { receive = function(ctx)
      local ok = pcall(function() local t = {} for i = 1, 1e6 do t[i] = i end end)
      ctx:stop()
      return ok end }
    ]], { memory_limit = 128 * 1024 })
    assert.is_false(hog:ask(0, 5))
    hog:join(5)
    local after = stats()
    assert.is_true(after.refused >= before.refused + 2,
      ("refused %d -> %d"):format(before.refused, after.refused))
  end)

  it("are not reused when the actor set a finalizer; it runs when the state closes", function()
    -- the finalizer writes a global: were the state reused, the next actor would see it
    local before = stats()
    assert.is_true(system:spawn([[return { receive = function(ctx)
      setmetatable({}, { __gc = function() finalized = true end })
      ctx:stop()
      return true end }
    ]]):ask(0, 5))
    local via_mt = system:spawn([[return { receive = function(ctx)
      zactor.array_mt.__gc = function() finalized = true end
      ctx:stop()
      return true end }
    ]])
    assert.is_true(via_mt:ask(0, 5))
    via_mt:join(5)
    local after = stats()
    assert.are.equal(before.refused + 2, after.refused)
    local p = probe()
    assert.is_nil(p.fin)
  end)
end)
