-- A minimal JSON reader for the conformance vectors (no dependency needed).
-- Integers without '.'/exponent become Lua integers, others floats.
local M = {}

function M.decode(s)
  local pos = 1
  local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
  local value
  local function str()
    local out, i = {}, pos + 1
    while true do
      local c = s:sub(i, i)
      if c == '"' then pos = i + 1 return table.concat(out) end
      if c == "\\" then
        local e = s:sub(i + 1, i + 1)
        local map = { b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", ['"'] = '"', ["\\"] = "\\", ["/"] = "/" }
        if e == "u" then
          out[#out + 1] = utf8.char(tonumber(s:sub(i + 2, i + 5), 16)); i = i + 6
        else
          out[#out + 1] = assert(map[e], "bad escape"); i = i + 2
        end
      else
        out[#out + 1] = c; i = i + 1
      end
    end
  end
  function value()
    ws()
    local c = s:sub(pos, pos)
    if c == "{" then
      local t = {}; pos = pos + 1; ws()
      if s:sub(pos, pos) == "}" then pos = pos + 1 return t end
      repeat
        ws(); local k = str(); ws(); assert(s:sub(pos, pos) == ":"); pos = pos + 1
        t[k] = value(); ws(); c = s:sub(pos, pos); pos = pos + 1
      until c == "}"
      return t
    elseif c == "[" then
      local t = { n = 0 }; pos = pos + 1; ws()
      if s:sub(pos, pos) == "]" then pos = pos + 1 return t end
      repeat
        t.n = t.n + 1; t[t.n] = value(); ws(); c = s:sub(pos, pos); pos = pos + 1
      until c == "]"
      return t
    elseif c == '"' then return str()
    elseif s:find("^true", pos) then pos = pos + 4 return true
    elseif s:find("^false", pos) then pos = pos + 5 return false
    elseif s:find("^null", pos) then pos = pos + 4 return M.null
    else
      local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
      pos = pos + #num
      if num:find("[.eE]") then return tonumber(num) + 0.0 end
      return math.tointeger(tonumber(num)) or tonumber(num)
    end
  end
  return value()
end

M.null = setmetatable({}, { __tostring = function() return "null" end })
return M
