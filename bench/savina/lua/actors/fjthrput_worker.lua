-- fjthrput, a worker: every message costs Savina's performComputation(37.2);
-- after n messages it tells the collector how many it handled.
local sin = math.sin
local collector, n
local handled = 0
local result = 0.0 -- kept, so the computation is not dead code

return {
  init = function(_, c, count) collector, n = c, count end,
  receive = function(_, _)
    local s = sin(37.2)
    result = s * s
    handled = handled + 1
    if handled == n then collector:tell(handled) end
  end,
}
