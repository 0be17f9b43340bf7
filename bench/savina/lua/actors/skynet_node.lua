-- skynet, a node of the tree. Its start (the first message, or the init
-- argument for the root) is num * 8 + level: the node covers the 10^level
-- leaves numbered num, num+1, ... A leaf (level 0) answers num to its
-- parent; a node spawns 10 children, starts each on a tenth of its range,
-- sums their answers and answers the sum. Every node stops after answering.
local POW10 = { [0] = 1, 10, 100, 1000, 10000, 100000, 1000000, 10000000 }
local parent, path
local started = false
local sum, got = 0, 0

local function start(ctx, m)
  started = true
  local level, num = m % 8, m // 8
  if level == 0 then
    parent:tell(num)
    ctx:stop()
    return
  end
  local size, self = POW10[level - 1], ctx.self
  for i = 0, 9 do
    ctx:spawn(path, self, path):tell((num + i * size) * 8 + level - 1)
  end
end

return {
  init = function(ctx, p, own_path, m)
    parent, path = p, own_path
    if m then start(ctx, m) end
  end,
  receive = function(ctx, m)
    if not started then return start(ctx, m) end
    sum = sum + m
    got = got + 1
    if got == 10 then
      parent:tell(sum)
      ctx:stop()
    end
  end,
}
