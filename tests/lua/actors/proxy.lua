-- proxy.lua: asks other actors from inside a handler (ctx:ask suspends the
-- handler's coroutine; with concurrency = 8 the actor keeps serving other
-- messages meanwhile)
local last
return {
  concurrency = 8, -- handlers interleave while one waits in ctx:ask
  receive = function(ctx, msg)
    if msg[1] == "via" then return ctx:ask(msg[2], msg[3], msg[4] or 1.0) end
    if msg[1] == "via_tell" then last = ctx:ask(msg[2], msg[3], msg[4] or 2.0); return end
    if msg[1] == "last" then return last end
    if msg[1] == "ping" then return "pong" end
    if msg[1] == "try" then
      local ok, err = pcall(ctx.ask, ctx, msg[2], msg[3], msg[4] or 1.0)
      return { ok, tostring(err) }
    end
    if msg[1] == "spawn" then return ctx:spawn(msg[2], table.unpack(msg, 3)) end
    if msg[1] == "self" then return ctx.self end
  end,
}
