-- zactor only: keeps the run's result ({value}); the ask "get" returns it.
local box

return {
  receive = function(_, m)
    if m == "get" then return box and box[1] end
    box = m
  end,
}
