-- fjcreate, a worker: on its one message (the collector) it does Savina's
-- performComputation(37.2), reports 1 to the collector and stops.
local sin = math.sin
local result -- kept, so the computation is not dead code

return {
  receive = function(ctx, collector)
    local s = sin(37.2)
    result = s * s
    collector:tell(1)
    ctx:stop()
  end,
}
