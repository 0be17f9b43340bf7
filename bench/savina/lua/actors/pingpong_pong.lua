-- pingpong, the pong actor: answers every ping to the ping actor.
local ping

return {
  init = function(_, p) ping = p end,
  receive = function(_, m) ping:tell(m) end,
}
