-- collector.lua: keeps every {"put", v}; {"get"} returns them in order
local items = {}
return {
  receive = function(ctx, msg)
    if msg[1] == "put" then items[#items + 1] = msg[2]
    elseif msg[1] == "get" then return items
    elseif msg[1] == "count" then return #items end
  end,
}
