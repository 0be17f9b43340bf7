-- echo.lua: answers an ask with the message itself; {"sender"} returns ctx.sender
local seen = 0
return {
  receive = function(ctx, msg, tag)
    seen = seen + 1
    if msg == "seen" then return seen end
    if type(msg) == "table" and msg[1] == "sender" then return ctx.sender end
    if msg == "tag" then return tag end
    return msg
  end,
}
