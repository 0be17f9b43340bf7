-- watcher.lua: watches refs, records DOWN events; schedules ticks with send_after
local events, ticks = {}, 0
return {
  receive = function(ctx, msg)
    if msg.event == "down" then events[#events + 1] = { ref = msg.ref, reason = msg.reason, code = msg.code }; return end
    if msg[1] == "watch" then ctx:watch(msg[2]) return true end
    if msg[1] == "events" then return events end
    if msg[1] == "later" then ctx:send_after(msg[2], ctx.self, { "tick" }) return true end
    if msg[1] == "tick" then ticks = ticks + 1 return end
    if msg[1] == "ticks" then return ticks end
    if msg[1] == "stop_me" then ctx:stop() return "stopping" end
  end,
}
