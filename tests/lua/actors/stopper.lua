-- stopper.lua: a stop handler that waits (issue 11). init(cfg): cfg.mode
-- says what stop does, cfg.obs (a collector) or cfg.path (a file, with
-- open_io_os: usable while the system shuts down) gets the reports.
--   "ask": ctx:ask(cfg.target, cfg.msg)        "sleep": ctx:sleep(cfg.sec)
--   "all": ctx:ask_all(cfg.asks)               "first": ctx:first(cfg.asks)
--   "slow": a <close> guard, then ctx:sleep(30): past stop_timeout, closed
--   "ask_fail": ctx:ask that fails (caught with pcall)
local cfg
local function report(ctx, what)
  local text = (ctx.restarts > 0 and "restarted " or "") .. tostring(what)
  if cfg.path then
    local f = assert(io.open(cfg.path, "a"))
    f:write(text, "\n")
    f:close()
  else
    cfg.obs:tell{ "put", text }
  end
end
return {
  stop_timeout = 0.5,
  init = function(ctx, c) cfg = c end,
  receive = function(ctx, msg)
    if msg[1] == "fail" then error("boom") end
    if msg[1] == "ping" then return "pong" end
  end,
  stop = function(ctx)
    local mode = cfg.mode
    if mode == "ask" then
      report(ctx, "asked: " .. tostring(ctx:ask(cfg.target, cfg.msg, 2)))
    elseif mode == "sleep" then
      ctx:sleep(cfg.sec)
      report(ctx, "slept")
    elseif mode == "all" then
      report(ctx, "all: " .. table.concat(ctx:ask_all(cfg.asks), ","))
    elseif mode == "first" then
      local v, i = ctx:first(cfg.first_asks)
      report(ctx, "first: " .. tostring(v) .. " #" .. i)
    elseif mode == "slow" then
      local g <close> = setmetatable({}, { __close = function() report(ctx, "closed") end })
      ctx:sleep(30)
      report(ctx, "not reached")
    elseif mode == "ask_fail" then
      local ok, err = pcall(ctx.ask, ctx, cfg.target, cfg.msg, 2)
      report(ctx, tostring(ok) .. " " .. tostring(err))
    end
  end,
}
