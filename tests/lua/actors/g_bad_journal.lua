-- Not a valid grain: journaled without apply (tests/lua/grain_spec.lua).
return {
  journaled = true,
  receive = function() end,
}
