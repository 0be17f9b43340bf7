-- Issue 10 ("Hardening"), the Lua findings: the sandbox (no bytecode, no
-- files, no native modules), the budget over every coroutine and over the
-- string patterns, spawn and option errors that say why, one numeric rule.
-- Scenarios that crashed or hung the process before their fix run in a
-- child lua5.4 with a time limit, so a regression fails instead of hanging.
local zactor = require "zactor"
local util = require "util"

local root = os.getenv("ZACTOR_ROOT") or "."

-- Run Lua source in a child interpreter (limit seconds); returns ok, output.
local function child(src, limit)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write('package.cpath = "' .. root .. '/lua/?.so;" .. package.cpath\n', src)
  f:close()
  local p = io.popen(string.format("timeout -s KILL %d lua5.4 %s 2>&1", limit or 30, path))
  local out = p:read("a")
  local ok = p:close()
  os.remove(path)
  return ok, out
end

describe("Lua sandbox", function()
  local system
  before_each(function() system = zactor.system{ workers = 2 } end)
  after_each(function() system:close() end)

  it("loads text only: no binary chunks, no string.dump (finding 1)", function()
    local a = system:spawn([[return { receive = function(ctx, m)
      local f1, e1 = load(m)
      local ok2, e2 = pcall(load, m, "x", "b")
      local f3 = load("return 1 + 1")
      return { f1 == nil, tostring(e1), ok2, tostring(e2), string.dump == nil, f3(),
               load("return x", "n", "t", { x = 7 })() }
    end }]])
    local r = a:ask(string.dump(function() return 42 end))
    assert.is_true(r[1])
    assert.matches("binary chunk", r[2])
    assert.matches("binary chunks are not allowed", r[4])
    assert.is_true(r[5])
    assert.are.equal(2, r[6])
    assert.are.equal(7, r[7])
  end)

  it("a patched binary chunk cannot crash the process (finding 1)", function()
    local ok, out = child([[
      local zactor = require "zactor"
      local s = zactor.system{ workers = 1 }
      -- LOADK with its constant index patched to 2^17-1: reads far outside
      -- the constant array (segfaults a plain lua5.4)
      local code = string.dump(function() local x = "abc" return x end)
      local i = code:find("\3\0\0\0", 20, true)
      local bad = code:sub(1, i - 1) .. "\3\128\255\255" .. code:sub(i + 4)
      local a = s:spawn("return { receive = function(ctx, m) local f = load(m) return f and tostring(f()) or 'refused' end }\n")
      print(a:ask(bad))
      s:close()
    ]], 30)
    assert.is_true(ok, out)
    assert.matches("refused", out)
  end)

  it("has no dofile/loadfile/require/package without open_io_os (finding 2)", function()
    local a = system:spawn([[return { receive = function()
      return { dofile == nil, loadfile == nil, require == nil, package == nil, io == nil, os == nil }
    end }]])
    assert.are.same({ true, true, true, true, true, true }, a:ask(1))
  end)

  it("with open_io_os, dofile/loadfile read text only (finding 2)", function()
    local bin, txt = os.tmpname(), os.tmpname()
    local f = io.open(bin, "wb"); f:write(string.dump(function() return 1 end)); f:close()
    f = io.open(txt, "w"); f:write("return 6 * 7"); f:close()
    local a = system:spawn([[return { receive = function(ctx, m)
      local f1, e1 = loadfile(m[1])
      local ok2, e2 = pcall(dofile, m[1])
      return { f1 == nil, tostring(e1), ok2, tostring(e2), dofile(m[2]), loadfile(m[2])(), package == nil }
    end }]], { open_io_os = true })
    local r = a:ask{ bin, txt }
    os.remove(bin); os.remove(txt)
    assert.is_true(r[1])
    assert.matches("binary chunk", r[2])
    assert.is_false(r[3])
    assert.matches("binary chunk", r[4])
    assert.are.equal(42, r[5])
    assert.are.equal(42, r[6])
    assert.is_true(r[7])
  end)

  it("open_io_os must be a boolean, and the error names it (finding 2)", function()
    local src = "return { receive = function() return io ~= nil end }\n"
    local ok, err = pcall(system.spawn, system, src, { open_io_os = "false" })
    assert.is_false(ok)
    assert.matches("open_io_os", err)
    assert.matches("boolean", err)
    assert.is_false(system:spawn(src, { open_io_os = false }):ask(1))
  end)
end)

describe("Lua budget", function()
  it("stops loops in nested coroutines and catastrophic patterns; workers survive (finding 8)", function()
    local ok, out = child([==[
      local zactor = require "zactor"
      local s = zactor.system{ workers = 2 }
      local a = s:spawn([[return { receive = function(ctx, m)
        if m == "co" then
          local co = coroutine.create(function() while true do end end)
          return { coroutine.resume(co) }
        elseif m == "co2" then
          local co = coroutine.wrap(function()
            local inner = coroutine.create(function() while true do end end)
            coroutine.resume(inner)
            while true do end
          end)
          co()
        elseif m == "wrap" then
          coroutine.wrap(function() while true do end end)()
        elseif m == "find" then
          return string.find(string.rep("a", 5000), string.rep("a-", 30) .. "b")
        elseif m == "gsub" then
          return (string.gsub(string.rep("a", 5000), string.rep("a*", 30) .. "b", "x"))
        elseif m == "gmatch" then
          for x in string.gmatch(string.rep("a", 5000), string.rep("a-", 30) .. "b") do end
        elseif m == "match_pcall" then
          while true do pcall(string.match, string.rep("a", 5000), string.rep("a-", 30) .. "b") end
        end
        return "pong"
      end }]], { budget_ms = 150, max_restarts = 100 })
      local other = s:spawn("return { receive = function(ctx, m) return m + 1 end }\n")
      for _, m in ipairs{ "co", "co2", "wrap", "find", "gsub", "gmatch", "match_pcall" } do
        local t0 = zactor.clock()
        local ok, err = pcall(a.ask, a, m, 10)
        assert(not ok and err:find("budget of 150 ms", 1, true), m .. ": " .. tostring(err))
        assert(zactor.clock() - t0 < 3, m .. " took too long")
        assert(other:ask(1) == 2)
        assert(a:ask("ping") == "pong")
      end
      assert(s:shutdown(5))
      s:close()
      print("ALL STOPPED")
    ]==], 60)
    assert.is_true(ok, out)
    assert.matches("ALL STOPPED", out)
  end)

  it("the budgeted pattern functions agree with Lua's own (finding 8)", function()
    local system = zactor.system{ workers = 1 }
    local a = system:spawn([==[return { receive = function(ctx, c)
      local fn = string[c[1]]
      if c[1] == "gmatch" then
        local out = {}
        for x, y in fn(c[2], c[3]) do out[#out + 1] = { x, y } end
        return out
      end
      return { pcall(fn, table.unpack(c, 2, c.n)) }
    end }]==])
    local cases = {
      { "find", "hello world", "o w" }, { "find", "hello world", "l+" },
      { "find", "hello", "l", 1, true }, { "find", "a.b", ".", 1, true }, { "find", "abc", "b", -1 },
      { "find", "abc", "", 10 }, { "find", "abc", "", 4 }, { "find", "  x  ", "^%s*(.-)%s*$" },
      { "match", "key = value", "(%w+)%s*=%s*(%w+)" }, { "match", "hello", "()ll()" },
      { "match", "[[x]]", "%[(%b[])%]" }, { "match", "THE (quick) fox", "%f[%a]%a+" },
      { "match", "abcabc", "(abc)%1" }, { "match", "x", "[]]" }, { "match", "]", "[]]" },
      { "match", "a-b", "[a%-]+" }, { "match", "A1b2", "[^%d]+" }, { "match", "2024-01-02", "(%d+)-(%d+)-(%d+)$" },
      { "match", "aaa", "a-$" }, { "match", "aaab", "a?a?b" }, { "match", "x$y", "x$y" }, { "match", "a^b", "a^b" },
      { "match", "hello", "^(h)(e)" }, { "match", "hello", "%u" }, { "match", "café", "[\128-\255]+" },
      { "match", "abc", "%" }, { "match", "abc", "[a" }, { "match", "abc", "(a" }, { "match", "abc", "a)" },
      { "match", "abc", "%1" }, { "match", "abc", "%ba" }, { "match", "abc", "%f" },
      { "gsub", "hello world", "o", "0" }, { "gsub", "hello world", "(%w+)", "<%1>" },
      { "gsub", "hello world", "%w+", "%0 %0", 1 }, { "gsub", "abc", "", "-" },
      { "gsub", "hello", "l", { l = "L" } }, { "gsub", "$1 and $2", "%$(%d)", { ["1"] = "one" } },
      { "gsub", "abc", "%w", "%2" }, { "gsub", "abc", "%w", "%x" }, { "gsub", "abc", "^a", "z" },
      { "gsub", "x = 1, y = 2", "(%w+) = (%w+)", "%2 = %1" }, { "gsub", "abc", "b", "%%" },
      { "gsub", "a b", "()", "%1" }, { "gmatch", "one two  three", "%a+" },
      { "gmatch", "k1=v1, k2=v2", "(%w+)=(%w+)" }, { "gmatch", "abc", "" }, { "gmatch", "^a^a", "^a" },
    }
    for _, c in ipairs(cases) do
      c.n = #c
      local want
      if c[1] == "gmatch" then
        want = {}
        for x, y in string.gmatch(c[2], c[3]) do want[#want + 1] = { x, y } end
      else
        want = { pcall(string[c[1]], table.unpack(c, 2, c.n)) }
        if not want[1] then want[2] = want[2]:gsub("^.-:%d+: ", "") end
      end
      local got = a:ask(c)
      if got[1] == false then got[2] = got[2]:gsub("^.-:%d+: ", "") end
      assert.are.same(want, got, c[1] .. "(" .. tostring(c[2]) .. ", " .. tostring(c[3]) .. ")")
    end
    -- gsub with a function replacement
    local g = system:spawn([[return { receive = function(ctx, s)
      return (s:gsub("%d+", function(d) return tonumber(d) * 2 end))
    end }]])
    assert.are.equal("a2 b84", g:ask("a1 b42"))
    system:close()
  end)
end)
