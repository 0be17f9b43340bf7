-- cycler.lua: concurrency 1 (the default). "via" asks another actor and
-- returns its answer (so chains of actors asking each other can be built);
-- "guard" suspends with a to-be-closed variable that reports when it is
-- closed; "nap_fail" fails after a nap (a restart while messages wait in
-- the stash); "rec"/"log" record what this incarnation handled.
local log = {}
return {
  receive = function(ctx, msg)
    local op = msg[1]
    if op == "via" then return ctx:ask(msg[2], msg[3], msg[4] or 1) end
    if op == "ping" then return "pong" end
    if op == "guard" then
      local observer = msg[2]
      local g <close> = setmetatable({}, { __close = function()
        observer:tell{ "put", "closed in incarnation " .. ctx.restarts }
      end })
      ctx:sleep(msg[3])
      return "woke"
    end
    if op == "guard_file" then -- (spawned with open_io_os) the same, reported in a file
      local path = msg[2]
      local g <close> = setmetatable({}, { __close = function()
        local f = assert(io.open(path, "w"))
        f:write("closed")
        f:close()
      end })
      ctx:sleep(msg[3])
      return "woke"
    end
    if op == "fail" then error("boom") end
    if op == "nap_fail" then
      ctx:sleep(msg[2])
      error("boom after a nap")
    end
    if op == "rec" then
      log[#log + 1] = msg[2]
      return #log
    end
    if op == "log" then return { restarts = ctx.restarts, log = log } end
  end,
}
