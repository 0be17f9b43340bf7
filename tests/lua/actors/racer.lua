-- racer.lua: ctx:first (the first of several asks to finish wins) and
-- ctx:ask_all, plain or under pcall so the test sees the error text.
return {
  concurrency = 4,
  receive = function(ctx, msg)
    local op = msg[1]
    if op == "first" then
      local v, i = ctx:first(msg[2], msg[3])
      return { v, i }
    end
    if op == "try_first" then
      local ok, v, i = pcall(ctx.first, ctx, msg[2], msg[3])
      return { ok, ok and v or tostring(v), i }
    end
    if op == "try_ask" then
      local ok, v = pcall(ctx.ask, ctx, msg[2], msg[3], msg[4])
      return { ok, ok and v or tostring(v) }
    end
    if op == "try_all" then
      local ok, v = pcall(ctx.ask_all, ctx, msg[2], msg[3])
      return { ok, ok and v or tostring(v) }
    end
    if op == "ping" then return "pong" end
  end,
}
