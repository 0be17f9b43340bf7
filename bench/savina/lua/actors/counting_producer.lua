-- counting, the producer: sends n increments (1) to a counter it spawns,
-- then "get" (0); the counter answers its total, which goes to `report`.
local report

return {
  init = function(ctx, rep, dir, n)
    report = rep
    local counter = ctx:spawn(dir .. "/counting_counter.lua", ctx.self)
    for _ = 1, n do counter:tell(1) end
    counter:tell(0)
  end,
  receive = function(_, total) report:tell(total) end,
}
