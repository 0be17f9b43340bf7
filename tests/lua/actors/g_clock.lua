-- A grain with reminders (tests/lua/grain_spec.lua).
return {
  on_reminder = function(ctx, r)
    local s = ctx:state()
    s.ticks = (s.ticks or 0) + 1
    s.last = r
  end,

  receive = function(ctx, msg)
    local s = ctx:state()
    if msg[1] == "remind" then
      return ctx:remind(msg[2], msg[3])
    elseif msg[1] == "forget" then
      return ctx:forget(msg[2])
    elseif msg[1] == "ticks" then
      return { ticks = s.ticks or 0, last = s.last }
    elseif msg[1] == "bad" then
      local ok, err = pcall(ctx.remind, ctx, msg[2], msg[3])
      return { ok, tostring(err) }
    end
  end,
}
