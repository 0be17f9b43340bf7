-- threadring, a node. Messages:
--   a ref        the next node (the link);
--   an integer   the token: hops left; forwarded decremented, and the node
--                that sees 0 ends the run;
--   {id, hops}   the end-of-run count: starts at the node that saw 0, goes
--                once around the ring adding each node's forwarded hops,
--                and is reported by that node when it comes back.
-- The thread runtimes do not order messages of different senders (zactor
-- does), so a message that arrives before the link waits for it.
local id, report, next_node
local forwarded = 0
local early

local function handle(m)
  if type(m) == "number" then
    if m > 0 then
      forwarded = forwarded + 1
      next_node:tell(m - 1)
    else
      next_node:tell({ id, forwarded })
    end
  elseif m[1] == id then
    report:tell(m[2])
  else
    next_node:tell({ m[1], m[2] + forwarded })
  end
end

return {
  init = function(_, i, rep) id, report = i, rep end,
  receive = function(_, m)
    if next_node then return handle(m) end
    if type(m) == "number" or m[1] ~= nil then
      early = early or {}
      early[#early + 1] = m
      return
    end
    next_node = m
    if early then
      for _, x in ipairs(early) do handle(x) end
      early = nil
    end
  end,
}
