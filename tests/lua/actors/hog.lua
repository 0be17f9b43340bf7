-- hog.lua: {"grow", n} allocates n KiB of strings (kept), "ping" -> "pong",
-- "spin" loops forever, "spin_pcall" loops forever inside pcall, {"work", n} counts to n
local keep = {}
return {
  receive = function(ctx, msg)
    if msg == "ping" then return "pong" end
    if msg == "restarts" then return ctx.restarts end
    if msg == "spin" then while true do end end
    if msg == "spin_pcall" then
      while true do pcall(function() while true do end end) end
    end
    if type(msg) == "table" and msg[1] == "grow" then
      for i = 1, msg[2] do keep[#keep + 1] = string.rep("x", 1024) .. i end
      return #keep
    end
    if type(msg) == "table" and msg[1] == "work" then
      local x = 0
      for i = 1, msg[2] do x = x + i end
      return x
    end
    if type(msg) == "table" and msg[1] == "work_where" then
      local x = 0
      for i = 1, msg[2] do x = x + i end
      return ctx.worker
    end
    if msg == "memory" then return ctx.memory end
  end,
}
