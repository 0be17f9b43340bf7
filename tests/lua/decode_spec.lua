-- The direct MessagePack -> Lua decoder (used for every message an actor
-- receives, for replies, and by zactor.unpack): widths, special values, and
-- the inputs it must reject with a Lua error rather than crash or leak.
local zactor = require "zactor"

local function unhex(h) return (h:gsub("..", function(x) return string.char(tonumber(x, 16)) end)) end
local function dec(h) return zactor.unpack(unhex(h)) end

describe("decoder", function()
  it("reads every integer width and sign", function()
    assert.are.equal(127, dec("7f"))
    assert.are.equal(-32, dec("e0"))
    assert.are.equal(255, dec("ccff"))
    assert.are.equal(65535, dec("cdffff"))
    assert.are.equal(4294967295, dec("ceffffffff"))
    assert.are.equal(math.maxinteger, dec("cf7fffffffffffffff"))
    assert.are.equal(-128, dec("d080"))
    assert.are.equal(-32768, dec("d18000"))
    assert.are.equal(-2147483648, dec("d280000000"))
    assert.are.equal(math.mininteger, dec("d38000000000000000"))
    for _, h in ipairs { "ccff", "d080", "cf7fffffffffffffff" } do
      assert.are.equal("integer", math.type(dec(h)))
    end
  end)

  it("turns a uint64 above maxinteger into a zactor.uint64, reads float32 and float64", function()
    local v = dec("cfffffffffffffffff")
    assert.are.equal("userdata", type(v))
    assert.are.equal(zactor.uint64_mt, getmetatable(v))
    assert.are.equal("18446744073709551615", tostring(v))
    assert.is_true(v == dec("cfffffffffffffffff"))
    assert.is_true(dec("cf8000000000000000") < v)
    assert.is_true(math.maxinteger < v and -1 < v and not (v < 0))
    assert.are.equal("cfffffffffffffffff", (zactor.pack(v):gsub(".", function(c) return ("%02x"):format(c:byte()) end)))
    assert.are.equal(1.5, dec("ca3fc00000"))
    assert.are.equal("float", math.type(dec("cb3ff0000000000000")))
  end)

  it("reads str/bin/array/map of every length width", function()
    assert.are.equal("abc", dec("d903616263"))
    assert.are.equal("abc", dec("da0003616263"))
    assert.are.equal("abc", dec("db00000003616263"))
    assert.are.equal("\1\2", tostring(dec("c500020102")))
    assert.is_true(zactor.is_bytes(dec("c500020102")))
    assert.are.equal("abc", tostring(dec("c6" .. "00000003" .. "616263")))
    local a = dec("dc0002" .. "01" .. "02")
    assert.are.same({ 1, 2 }, a)
    local m = dec("de0001" .. "a161" .. "01")
    assert.are.equal(1, m.a)
    assert.are.equal(zactor.map_mt, getmetatable(m))
    assert.are.same({ 7 }, dec("dd00000001" .. "07"))
  end)

  it("keeps nil keys and values as zactor.null, refuses NaN map keys", function()
    local m = dec("82" .. "c0" .. "01" .. "a162" .. "c0")
    assert.are.equal(1, m[zactor.null])
    assert.are.equal(zactor.null, m.b)
    local a = dec("93" .. "c0" .. "01" .. "c0")
    assert.are.equal(3, #a)
    assert.are.equal(zactor.null, a[1])
    assert.are.equal(zactor.null, a[3])
    assert.is_nil(dec("c0")) -- a nil payload stays nil
    local ok, err = pcall(dec, "81" .. "cb7ff8000000000000" .. "01")
    assert.is_false(ok)
    assert.matches("NaN map key", err)
  end)

  local bad = {
    { "", "empty input" },
    { "92 01", "truncated" },
    { "a5 6162", "truncated" },
    { "01 02", "trailing bytes" },
    { "c1", "invalid byte" },
    { "a2 fffe", "str is not valid UTF-8" },       -- fuzz lua_decode: came back as zactor.bytes
    { "92 01 d9 02 c180", "str is not valid UTF-8" }, -- overlong, inside an array
    { "d4 05 00", "unsupported MessagePack ext type" },
    { "c7 04 01 00000000", "wrong size" },
    { "ddffffffff 01", "truncated MessagePack container" }, -- hostile count, 1 byte of items
    { "dfffffffff", "truncated MessagePack container" },
    { string.rep("91", 40) .. "01", "nested too deep" },
  }
  for _, case in ipairs(bad) do
    it("rejects " .. (case[2]) .. " (" .. case[1]:sub(1, 16) .. ")", function()
      local ok, err = pcall(dec, (case[1]:gsub(" ", "")))
      assert.is_false(ok)
      assert.matches("bad MessagePack: .*" .. case[2]:gsub("%p", "%%%0"), err)
    end)
  end

  it("accepts 32 nested levels (the encoder's limit)", function()
    local v = dec(string.rep("91", 32) .. "01")
    for _ = 1, 32 do v = v[1] end
    assert.are.equal(1, v)
  end)
end)
