-- zactor only: the run's end. Takes the first value it gets, hands it to the
-- holder and stops, so the main script can wait with ref:join (a condition
-- variable, no polling) and then ask the holder for the value.
local holder

return {
  init = function(_, h) holder = h end,
  receive = function(ctx, m)
    holder:tell({ m })
    ctx:stop()
  end,
}
