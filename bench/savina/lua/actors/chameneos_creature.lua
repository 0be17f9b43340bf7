-- chameneos, a creature. Messages:
--   the list of all creatures   start: ask the mall to meet;
--   > 0  the mall paired us with a creature (its id * 4 + colour): take the
--        complementary colour, tell it to the other one, ask to meet again;
--   < 0  the creature we were paired with sent our new colour, -(colour + 1);
--   0    fade: report the meeting count to the mall and stop.
-- Colours are 0, 1, 2; the complement of two different colours is the third.
local mall, id, colour, peers
local meetings = 0

return {
  init = function(_, m, i, col) mall, id, colour = m, i, col end,
  receive = function(ctx, m)
    if type(m) ~= "number" then
      peers = m
      mall:tell(id * 4 + colour)
    elseif m > 0 then
      local other = m % 4
      if other ~= colour then colour = 3 - colour - other end
      meetings = meetings + 1
      peers[m // 4]:tell(-(colour + 1))
      mall:tell(id * 4 + colour)
    elseif m < 0 then
      colour = -m - 1
      meetings = meetings + 1
      mall:tell(id * 4 + colour)
    else
      mall:tell(-(meetings + 1))
      ctx:stop()
    end
  end,
}
