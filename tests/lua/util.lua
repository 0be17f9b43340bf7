-- Small helpers shared by the specs.
local zactor = require "zactor"
local M = {}

-- Poll fn every 5 ms until it returns a truthy value or `timeout` seconds pass.
function M.wait_until(fn, timeout)
  local deadline = zactor.clock() + (timeout or 2)
  repeat
    local v = fn()
    if v then return v end
    zactor.sleep(0.005)
  until zactor.clock() > deadline
  return nil
end

return M
