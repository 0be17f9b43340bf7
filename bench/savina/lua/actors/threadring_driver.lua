-- threadring, set-up: spawns n ring nodes, links each to the next and gives
-- the token (r hops left) to node 1. The nodes report to `report` themselves.
return {
  init = function(ctx, rep, dir, n, r)
    local path = dir .. "/threadring_node.lua"
    local ring = {}
    for i = 1, n do ring[i] = ctx:spawn(path, i, rep) end
    for i = 1, n do ring[i]:tell(ring[i % n + 1]) end
    ring[1]:tell(r)
  end,
  receive = function() end,
}
