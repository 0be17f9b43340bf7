-- A journaled grain (tests/lua/grain_spec.lua): events are appended, then
-- folded into the state by apply; a snapshot every 3 events.
return {
  journaled = true,
  snapshot_every = 3,
  idle_timeout = 0.5,

  apply = function(state, event)
    state.items = state.items or {}
    state.items[#state.items + 1] = event
    return state
  end,

  receive = function(ctx, msg)
    if msg[1] == "add" then
      return ctx:persist(msg[2])
    elseif msg[1] == "items" then
      return ctx:state().items or {}
    elseif msg[1] == "bad_event" then
      local ok, err = pcall(ctx.persist, ctx, { f = print })
      return { ok, tostring(err) }
    elseif msg[1] == "save" then
      local ok, err = pcall(ctx.save, ctx)
      return { ok, tostring(err) }
    elseif msg[1] == "deactivate" then
      ctx:deactivate()
      return true
    end
  end,
}
