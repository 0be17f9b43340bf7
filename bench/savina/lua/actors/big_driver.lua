-- big, set-up and sink: spawns w actors, sends each the list of all of them
-- (which starts it), and sums the pong counts they report when done.
local report, w
local total, done = 0, 0

return {
  init = function(ctx, rep, dir, nw, n)
    report, w = rep, nw
    local path, self = dir .. "/big_actor.lua", ctx.self
    local actors = {}
    for i = 1, w do actors[i] = ctx:spawn(path, i, n, self) end
    for i = 1, w do actors[i]:tell(actors) end
  end,
  receive = function(_, pongs)
    total = total + pongs
    done = done + 1
    if done == w then report:tell(total) end
  end,
}
