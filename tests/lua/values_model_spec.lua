-- The value model in Lua (issue 10, finding 16): zactor.null, marked maps,
-- zactor.bytes, zactor.uint64, the constructors, what actor states see; and
-- (finding 17) a ref of one System refused by another.
local zactor = require "zactor"

local function hex(s) return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end

describe("value model", function()
  local system, echo
  setup(function()
    system = zactor.system{ workers = 2 }
    echo = system:spawn("echo")
  end)
  teardown(function() system:close() end)

  it("zactor.null stands for nil inside arrays and maps", function()
    assert.are.equal("userdata", type(zactor.null))
    assert.are.equal("94" .. "01c003c0", hex(zactor.pack{ 1, zactor.null, 3, zactor.null }))
    local a = echo:ask{ 1, zactor.null, 3, zactor.null }
    assert.are.equal(4, #a)
    assert.are.equal(zactor.null, a[4])
    local m = echo:ask(zactor.map{ a = zactor.null, [zactor.null] = 1 })
    assert.are.equal(zactor.null, m.a)
    assert.are.equal(1, m[zactor.null])
    assert.are.equal(zactor.null, zactor.unpack(zactor.pack{ zactor.null })[1])
  end)

  it("marks maps so that empty and 1..n-keyed maps stay maps", function()
    assert.are.equal("80", hex(zactor.pack(zactor.map{})))
    assert.are.equal("90", hex(zactor.pack({})))
    assert.are.equal("90", hex(zactor.pack(zactor.array{})))
    assert.are.equal("8101a161", hex(zactor.pack(zactor.map{ "a" })))
    local m = echo:ask(zactor.map{})
    assert.are.equal(zactor.map_mt, getmetatable(m))
    assert.are.equal("80", hex(zactor.pack(m)))
    m = echo:ask(zactor.map{ "a", "b" })
    assert.are.equal(zactor.map_mt, getmetatable(m))
    assert.are.equal("a", m[1])
    assert.are.equal("93" .. "01c003", hex(zactor.pack(zactor.array({ 1, nil, 3 }, 3))))
    local ok, err = pcall(zactor.pack, zactor.array{ 1, x = 2 })
    assert.is_false(ok)
    assert.matches("zactor.array with keys other than 1..#t", err)
  end)

  it("keeps bytes distinct from text", function()
    local b = zactor.bytes("hi")
    assert.is_true(zactor.is_bytes(b))
    assert.is_false(zactor.is_bytes("hi"))
    assert.are.equal("c4026869", hex(zactor.pack(b)))
    assert.are.equal("a26869", hex(zactor.pack("hi")))
    local back = echo:ask(b)
    assert.is_true(zactor.is_bytes(back))
    assert.are.equal(2, #back)
    assert.are.equal("hi", tostring(back))
    assert.are.equal("i", back:sub(2))
    assert.are.equal("hi", back:sub(1, -1))
    assert.are.equal(104, back:byte(1))
    assert.is_true(back == zactor.bytes("hi"))
    assert.are.equal("hi!", back .. "!")
    assert.are.equal("c4026869", hex(zactor.pack(back))) -- came in as bin, goes out as bin
  end)

  it("keeps uint64 beyond math.maxinteger exact", function()
    local big = zactor.unpack(zactor.pack(zactor.unpack("\207\255\255\255\255\255\255\255\255")))
    assert.are.equal("18446744073709551615", tostring(big))
    assert.are.equal("cfffffffffffffffff", hex(zactor.pack(echo:ask(big))))
  end)

  it("gives actor states the same zactor.null and the constructors", function()
    local probe = system:spawn([[
      return { receive = function(ctx, msg)
        return { msg[1] == zactor.null, zactor.map{}, zactor.bytes("x"), zactor.null }
      end }]])
    local r = probe:ask{ zactor.null }
    assert.is_true(r[1])
    assert.are.equal(zactor.map_mt, getmetatable(r[2]))
    assert.are.equal("x", tostring(r[3]))
    assert.are.equal(zactor.null, r[4])
  end)

  it("refuses other light userdata", function()
    local ok, err = pcall(zactor.pack, { zactor.ref_from_id }) -- a function
    assert.is_false(ok)
    assert.matches("function", err)
  end)

  it("refuses a ref of another System instead of aliasing a local actor", function()
    local other = zactor.system{ workers = 1 }
    local target = other:spawn("return { receive = function() return 'target' end }")
    system:spawn("return { receive = function() return 'wrong actor' end }")
    local ok, err = pcall(echo.ask, echo, { target }, 2)
    assert.is_false(ok)
    assert.matches("foreign actor reference", err)
    -- a ref of the right System still round trips
    assert.is_true(echo:ask{ echo }[1] == echo)
    other:close()
  end)
end)
