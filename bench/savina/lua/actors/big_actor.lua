-- big, one actor: pings a pseudo-random other actor (xorshift64, seeded by
-- its id), waits for the pong, pings the next one, until it has had n pongs;
-- then it reports n to the sink. It answers every ping, also after that.
-- Messages: the list of all actors (start), an integer > 0 (a ping from
-- that actor id), 0 (a pong). Pings that arrive before the list wait for it.
local id, n, sink, peers, others
local pongs = 0
local x
local early

local function ping_next()
  x = x ~ (x << 13)
  x = x ~ (x >> 7)
  x = x ~ (x << 17)
  local t = x % others + 1 -- 1 .. w-1, then skip ourselves
  if t >= id then t = t + 1 end
  peers[t]:tell(id)
end

return {
  init = function(_, i, count, s)
    id, n, sink = i, count, s
    x = i * 0x9E3779B97F4A7C15 -- odd multiplier: never 0
  end,
  receive = function(_, m)
    if m == 0 then
      pongs = pongs + 1
      if pongs < n then
        ping_next()
      else
        sink:tell(pongs)
      end
    elseif type(m) == "number" then
      if peers then
        peers[m]:tell(0)
      else
        early = early or {}
        early[#early + 1] = m
      end
    else
      peers, others = m, #m - 1
      if early then
        for _, from in ipairs(early) do peers[from]:tell(0) end
        early = nil
      end
      ping_next()
    end
  end,
}
