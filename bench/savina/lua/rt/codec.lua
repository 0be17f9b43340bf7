-- codec.lua: the byte encoding of messages for the luv and cqueues runtimes.
--
-- zactor copies every message as MessagePack in C; the threading libraries
-- have no message type of their own, so values that cross a thread are
-- turned into bytes here, with string.pack. Small integers are by far the
-- most common message in the Savina workloads, so they take a short path.
--
-- Values: nil, booleans, integers, floats, strings, tables (an array when the
-- keys are exactly 1..n, else a map) and actor refs (tables whose metatable
-- is M.RefMT and whose .id is an integer; M.make_ref(id) builds one).
local pack, unpack, byte = string.pack, string.unpack, string.byte
local mtype, concat = math.type, table.concat

local M = { RefMT = false, make_ref = false }

local B_INT, B_DBL, B_STR, B_TRUE, B_FALSE, B_NIL, B_ARR, B_MAP, B_REF =
  byte("i"), byte("d"), byte("s"), byte("t"), byte("f"), byte("z"), byte("a"), byte("m"), byte("r")

local enc -- forward

-- Append the encoding of v to out (a list of strings); returns the new length.
enc = function(v, out, n)
  local t = type(v)
  if t == "number" then
    n = n + 1
    out[n] = mtype(v) == "integer" and pack("<c1j", "i", v) or pack("<c1n", "d", v)
  elseif t == "string" then
    n = n + 1
    out[n] = pack("<c1s4", "s", v)
  elseif t == "boolean" then
    n = n + 1
    out[n] = v and "t" or "f"
  elseif t == "nil" then
    n = n + 1
    out[n] = "z"
  elseif t == "table" then
    if getmetatable(v) == M.RefMT then
      n = n + 1
      out[n] = pack("<c1j", "r", v.id)
      return n
    end
    local len, count = #v, 0
    for _ in pairs(v) do count = count + 1 end
    if count == len then
      n = n + 1
      out[n] = pack("<c1I4", "a", len)
      for i = 1, len do n = enc(v[i], out, n) end
    else
      n = n + 1
      out[n] = pack("<c1I4", "m", count)
      for k, x in pairs(v) do
        n = enc(k, out, n)
        n = enc(x, out, n)
      end
    end
  else
    error("cannot send a " .. t .. " value", 3)
  end
  return n
end

-- The encoding of one value.
function M.encode(v)
  if mtype(v) == "integer" then return pack("<c1j", "i", v) end
  local out = {}
  local n = enc(v, out, 0)
  return concat(out, "", 1, n)
end

-- Decode the value at position p of s; returns it and the next position.
local function dec(s, p)
  local b = byte(s, p)
  if b == B_INT then return unpack("<j", s, p + 1) end
  if b == B_REF then
    local id, q = unpack("<j", s, p + 1)
    return M.make_ref(id), q
  end
  if b == B_STR then return unpack("<s4", s, p + 1) end
  if b == B_DBL then return unpack("<n", s, p + 1) end
  if b == B_TRUE then return true, p + 1 end
  if b == B_FALSE then return false, p + 1 end
  if b == B_NIL then return nil, p + 1 end
  if b == B_ARR then
    local cnt, q = unpack("<I4", s, p + 1)
    local t = {}
    for i = 1, cnt do t[i], q = dec(s, q) end
    return t, q
  end
  if b == B_MAP then
    local cnt, q = unpack("<I4", s, p + 1)
    local t = {}
    for _ = 1, cnt do
      local k
      k, q = dec(s, q)
      t[k], q = dec(s, q)
    end
    return t, q
  end
  error(("codec: bad type byte %s at %d"):format(tostring(b), p))
end
M.decode_at = dec

function M.decode(s) return (dec(s, 1)) end

-- A trailing zactor spawn-options table ({budget_ms = ...}) means nothing
-- to the thread runtimes: it is dropped so behaviours see the same arguments.
local OPT_KEYS = { budget_ms = true, memory_limit = true, capacity = true, name = true }
local function is_opts(v)
  if type(v) ~= "table" or getmetatable(v) == M.RefMT or next(v) == nil then return false end
  for k in pairs(v) do
    if not OPT_KEYS[k] then return false end
  end
  return true
end

M.is_opts = is_opts

-- Spawn arguments: a count, then each value (nil allowed).
function M.pack_args(...)
  local cnt = select("#", ...)
  if cnt > 0 and is_opts((select(cnt, ...))) then cnt = cnt - 1 end
  local out = { pack("<I4", cnt) }
  local n = 1
  for i = 1, cnt do n = enc((select(i, ...)), out, n) end
  return concat(out, "", 1, n)
end

function M.unpack_args(s)
  local cnt, p = unpack("<I4", s)
  local t = { n = cnt }
  for i = 1, cnt do t[i], p = dec(s, p) end
  return t
end

return M
