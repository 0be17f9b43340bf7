-- napper.lua: concurrency = 8: up to 8 handlers interleave while they sleep
local log = {}
return {
  concurrency = 8,
  receive = function(ctx, msg)
    if msg[1] == "nap" then
      ctx:sleep(msg[2])
      log[#log + 1] = msg[3]
      return msg[3]
    end
    if msg[1] == "log" then return log end
    if msg[1] == "ping" then return "pong" end
  end,
}
