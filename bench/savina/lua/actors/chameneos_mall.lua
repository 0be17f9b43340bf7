-- chameneos, the mall: spawns c creatures, sends each the list of all
-- creatures, then pairs the creatures that ask to meet. It holds at most one
-- waiting creature; the second one's request is forwarded to the waiting one.
-- After n meetings every request is answered with "fade" (0); the faded
-- creatures report their meeting counts, whose sum goes to `report`.
-- Messages (integers): > 0 a request to meet, id * 4 + colour;
-- < 0 a faded creature's count, -(meetings + 1).
local report, c, creatures
local left, waiting = 0, nil
local faded, sum = 0, 0

return {
  init = function(ctx, rep, dir, nc, n)
    report, c, left = rep, nc, n
    local path, self = dir .. "/chameneos_creature.lua", ctx.self
    creatures = {}
    for i = 1, c do creatures[i] = ctx:spawn(path, self, i, (i - 1) % 3) end
    for i = 1, c do creatures[i]:tell(creatures) end
  end,
  receive = function(_, m)
    if m > 0 then
      if left == 0 then
        creatures[m // 4]:tell(0)
      elseif waiting then
        left = left - 1
        creatures[waiting // 4]:tell(m)
        waiting = nil
      else
        waiting = m
      end
    else
      faded = faded + 1
      sum = sum - m - 1
      if faded == c then report:tell(sum) end
    end
  end,
}
