-- pingpong, the ping actor: sends ping 1 to its pong actor and, for every
-- pong that comes back, the next ping, until n pongs came back; then tells
-- the count to `report`. Messages are the ping numbers (integers).
local pong, report, n
local pongs = 0

return {
  init = function(ctx, rep, dir, count)
    report, n = rep, count
    pong = ctx:spawn(dir .. "/pingpong_pong.lua", ctx.self)
    pong:tell(1)
  end,
  receive = function(_, _)
    pongs = pongs + 1
    if pongs < n then
      pong:tell(pongs + 1)
    else
      report:tell(pongs)
    end
  end,
}
