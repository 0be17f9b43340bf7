-- sleeper.lua: ctx:sleep suspends the handler on a timer, ctx:ask_all on
-- several asks; concurrency 1 (the default): other messages wait meanwhile,
-- except those of the actor a handler is asking (re-entry)
local log = {}
return {
  receive = function(ctx, msg)
    if msg[1] == "nap" then
      ctx:sleep(msg[2])
      log[#log + 1] = msg[3]
      return msg[3]
    end
    if msg[1] == "log" then return log end
    if msg[1] == "ping" then return "pong" end
    if msg[1] == "via" then return ctx:ask(msg[2], msg[3], msg[4] or 2) end
    if msg[1] == "bad" then return ctx:sleep(msg[2]) end
    if msg[1] == "all" then return ctx:ask_all(msg[2], msg[3]) end
    if msg[1] == "try_all" then
      local ok, err = pcall(ctx.ask_all, ctx, msg[2], msg[3])
      return { ok, tostring(err) }
    end
  end,
}
