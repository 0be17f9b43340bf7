-- fjthrput, the sender and collector: spawns a workers, sends n messages to
-- each, round robin (message i goes to worker i mod a), then sums the
-- workers' reports (each reports how many it handled) and tells `report`.
local report, a
local total, reports = 0, 0

return {
  init = function(ctx, rep, dir, na, n)
    report, a = rep, na
    local path, self = dir .. "/fjthrput_worker.lua", ctx.self
    local workers = {}
    for i = 1, a do workers[i] = ctx:spawn(path, self, n) end
    for _ = 1, n do
      for i = 1, a do workers[i]:tell(1) end
    end
  end,
  receive = function(_, handled)
    total = total + handled
    reports = reports + 1
    if reports == a then report:tell(total) end
  end,
}
