-- A persistent actor (spawned with persistence_id, tests/lua/grain_spec.lua):
-- its state is loaded before init, ctx:save() writes it.
return {
  init = function(ctx, start)
    local s = ctx:state()
    s.n = s.n or start or 0
    s.inits = (s.inits or 0) + 1
  end,

  receive = function(ctx, msg)
    local s = ctx:state()
    if msg == "inc" then
      s.n = s.n + 1
      return ctx:save()
    elseif msg == "bump" then -- changed in memory only
      s.n = s.n + 100
      return s.n
    elseif msg == "get" then
      return { n = s.n, inits = s.inits }
    elseif msg == "crash" then
      error("crash on purpose")
    elseif msg == "clear" then
      return ctx:clear()
    end
  end,
}
