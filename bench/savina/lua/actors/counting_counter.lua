-- counting, the counter: 1 increments, 0 asks for the total (sent to the producer).
local producer
local count = 0

return {
  init = function(_, p) producer = p end,
  receive = function(_, m)
    if m == 1 then
      count = count + 1
    else
      producer:tell(count)
    end
  end,
}
