-- tracer.lua: records when each "nap" handler starts and ends, so a spec can
-- tell by the order of events whether handlers interleaved (no concurrency
-- field: the `concurrency` spawn option, else 1, decides)
local log = {}
return {
  receive = function(ctx, msg)
    if msg[1] == "nap" then
      log[#log + 1] = "start " .. msg[3]
      ctx:sleep(msg[2])
      log[#log + 1] = "end " .. msg[3]
      return msg[3]
    end
    if msg[1] == "log" then return log end
    if msg[1] == "spawn" then return ctx:spawn(msg[2], msg[3]) end
  end,
}
