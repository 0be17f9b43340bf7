-- Values across states: round trips through an actor, the shared
-- conformance vectors, and values that cannot cross.
local zactor = require "zactor"
local json = require "json"

local function hex(s) return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end
local function unhex(h) return (h:gsub("..", function(x) return string.char(tonumber(x, 16)) end)) end

-- Deep equality that also requires integer vs float to match, maps vs
-- arrays to match when a is a marked map (zactor.map_mt), and matches userdata keys (bytes) by value.
local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) == "number" then
    if a ~= a then return b ~= b end
    return math.type(a) == math.type(b) and a == b
  end
  if type(a) ~= "table" then return a == b end
  if getmetatable(a) == zactor.map_mt and getmetatable(b) ~= zactor.map_mt then return false end
  local n = 0
  for k, v in pairs(a) do
    n = n + 1
    local bv = b[k]
    if bv == nil and type(k) == "userdata" then
      for k2, v2 in pairs(b) do if k2 == k then bv = v2 end end
    end
    if bv == nil or not same(v, bv) then return false end
  end
  for _ in pairs(b) do n = n - 1 end
  return n == 0
end

-- Typed tree (see tests/conformance/values.json) -> Lua value; inner is
-- true inside a container (where nil is zactor.null).
local function build(t, inner)
  local k, v = t.ref and "ref" or nil, t.ref
  if not k then k, v = next(t) end
  if k == "nil" then return inner and zactor.null or nil
  elseif k == "bool" or k == "str" then return v
  elseif k == "int" then return math.tointeger(v)
  elseif k == "uint" then return zactor.unpack(unhex("cf" .. ("%016x"):format(math.tointeger(v:sub(1, -2)) * 10 + tonumber(v:sub(-1)))))
  elseif k == "float" then
    if v == "inf" then return math.huge elseif v == "-inf" then return -math.huge
    elseif v == "nan" then return 0 / 0 end
    return v + 0.0
  elseif k == "bin" then return zactor.bytes(unhex(v))
  elseif k == "ref" then return zactor.ref_from_id(v)
  elseif k == "array" then
    local a = {}
    for i = 1, v.n do a[i] = build(v[i], true) end
    return a
  elseif k == "map" then
    local m = zactor.map{}
    for i = 1, v.n do m[build(v[i][1], true)] = build(v[i][2], true) end
    return m
  end
  error("unknown typed value " .. tostring(k))
end

describe("values", function()
  local system, echo
  setup(function()
    system = zactor.system{ workers = 2 }
    echo = system:spawn("echo")
  end)
  teardown(function() system:close() end)

  local function rt(v) return echo:ask(v, 2) end

  it("keep integers and floats distinct", function()
    assert.are.equal("integer", math.type(rt(1)))
    assert.are.equal("float", math.type(rt(1.0)))
    assert.are.equal(math.maxinteger, rt(math.maxinteger))
    assert.are.equal(math.mininteger, rt(math.mininteger))
    assert.are.equal(math.huge, rt(math.huge))
    local nan = rt(0 / 0)
    assert.is_true(nan ~= nan)
    assert.is_true(same({ 1, 2.5, -3 }, rt({ 1, 2.5, -3 })))
  end)

  it("round trip nil, booleans, strings (binary-safe)", function()
    assert.is_nil(rt(nil))
    assert.is_true(rt(true))
    assert.is_false(rt(false))
    assert.are.equal("", rt(""))
    -- not UTF-8: sent as bin, so it comes back as zactor.bytes
    assert.are.equal("h\0llo\255\254", tostring(rt("h\0llo\255\254")))
    assert.is_true(zactor.is_bytes(rt("h\0llo\255\254")))
    assert.are.equal("€uro", rt("€uro"))
    local big = string.rep("z", 1 << 20)
    assert.are.equal(big, rt(big))
  end)

  it("round trip nested tables, maps and the empty table (an empty array)", function()
    local v = { name = "x", list = { 1, { 2, { 3 } } }, map = { [10] = "ten", [1.5] = "f" }, t = {} }
    assert.is_true(same(v, rt(v)))
    assert.is_true(same({}, rt({})))
    assert.are.equal("90", hex(zactor.pack({})))
    assert.is_true(same({ [1] = "a", [3] = "c" }, rt({ [1] = "a", [3] = "c" }))) -- a map
  end)

  it("round trip refs, alone and inside tables", function()
    local r = rt(echo)
    assert.is_true(r == echo)
    local t = rt({ to = echo, list = { echo } })
    assert.is_true(t.to == echo and t.list[1] == echo)
    assert.are.equal("pong", system:spawn("hog"):ask("ping"))
    assert.are.equal(5, t.to:ask(5)) -- a decoded ref is usable
  end)

  it("reject values that cannot cross, and enqueue nothing", function()
    local before = echo:ask("seen")
    local cyc = {}
    cyc.self = cyc
    local deep = {}
    local d = deep
    for _ = 1, 40 do d[1] = {} d = d[1] end
    local cases = {
      { function() end, "cannot send a function value" },
      { { f = print }, "cannot send a function value %(at %.f%)" },
      { coroutine.create(function() end), "cannot send a coroutine value" },
      { io.stdout, "cannot send a userdata value" },
      { { 1, { 2, cyc } }, "cannot send a cyclic table" },
      { deep, "cannot send a table nested deeper than 32 levels" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(echo.tell, echo, c[1])
      assert.is_false(ok)
      assert.matches("zactor: bad value: " .. c[2], err)
      ok, err = pcall(echo.ask, echo, c[1])
      assert.is_false(ok)
      assert.matches(c[2], err)
    end
    assert.are.equal(before + 1, echo:ask("seen"))
    local ok, err = pcall(system.spawn, system, "echo", print)
    assert.is_false(ok)
    assert.matches("bad spawn argument 1: cannot send a function", err)
  end)

  it("reject a reply value that cannot cross, failing the actor", function()
    local bad = system:spawn("return { receive = function() return print end }")
    local ok, err = pcall(bad.ask, bad, 1)
    assert.is_false(ok)
    assert.matches("bad reply value", err)
  end)

  describe("shared conformance vectors", function()
    local f = assert(io.open("tests/conformance/values.json", "rb"))
    local doc = json.decode(f:read("a"))
    f:close()
    for i = 1, doc.invalid.n do
      local vec = doc.invalid[i]
      it("refuses: " .. vec.name, function()
        local ok, err = pcall(zactor.unpack, unhex(vec.hex))
        assert.is_false(ok)
        assert.matches("bad MessagePack: " .. vec.error:gsub("%p", "%%%0"), err)
      end)
    end
    for i = 1, doc.vectors.n do
      local vec = doc.vectors[i]
      it(vec.name, function()
        local bytes = unhex(vec.hex)
        if vec.lua_rejects then
          local ok, err = pcall(zactor.unpack, bytes)
          assert.is_false(ok)
          assert.matches(vec.lua_rejects, err)
          return
        end
        local expected = build(vec.value)
        assert.is_true(same(expected, zactor.unpack(bytes)), "decode " .. vec.hex)
        if not vec.decode_only then
          local packed = zactor.pack(expected)
          if vec.unordered then
            assert.is_true(same(expected, zactor.unpack(packed)))
          else
            assert.are.equal(vec.hex, hex(packed))
          end
          assert.is_true(same(expected, echo:ask(expected)), "through an actor")
        end
      end)
    end
  end)
end)
