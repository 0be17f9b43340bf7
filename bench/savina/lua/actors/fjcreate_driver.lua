-- fjcreate, the creator and collector: creates n worker actors and sends each
-- one message (its collector, this actor); counts the workers' reports.
local report, n
local count = 0

return {
  init = function(ctx, rep, dir, total)
    report, n = rep, total
    local path, self = dir .. "/fjcreate_worker.lua", ctx.self
    for _ = 1, n do ctx:spawn(path):tell(self) end
  end,
  receive = function(_, m)
    count = count + m
    if count == n then report:tell(count) end
  end,
}
