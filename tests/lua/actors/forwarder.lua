-- forwarder.lua: fails on "boom", forwards anything else to the collector.
-- Used to show that a restart keeps the messages queued behind a failure.
return {
  init = function(ctx, name) _G.collector = ctx:lookup(name) end,
  receive = function(ctx, msg)
    if msg == "boom" then error("boom on purpose") end
    if msg == "restarts" then return ctx.restarts end
    collector:tell{ "put", msg }
  end,
}
