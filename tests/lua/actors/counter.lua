-- counter.lua: the README's behaviour module, loaded into a fresh state per actor
local n = 0
return {
  init = function(ctx, start) n = start or 0 end,
  receive = function(ctx, msg)
    if msg[1] == "add" then n = n + msg[2]
    elseif msg[1] == "get" then return n
    elseif msg[1] == "boom" then error("boom") end
  end,
  stop = function(ctx) end,
}
