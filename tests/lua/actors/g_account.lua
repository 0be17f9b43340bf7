-- A grain (tests/lua/grain_spec.lua): a bank account keyed by its owner.
return {
  idle_timeout = 0.5,

  on_activate = function(ctx)
    local s = ctx:state()
    s.balance = s.balance or 0
    s.activations = (s.activations or 0) + 1
  end,

  on_deactivate = function(ctx)
    ctx:state().deactivated = true
    ctx:save() -- suspends: the activation stops once it is durable
  end,

  receive = function(ctx, msg)
    local op = msg[1]
    local s = ctx:state()
    if op == "deposit" then
      s.balance = s.balance + msg[2]
      local v, err, text = ctx:save()
      if not v then return { err, text } end
      return s.balance
    elseif op == "get" then
      return { balance = s.balance, activations = s.activations, deactivated = s.deactivated or false }
    elseif op == "key" then
      return ctx:key()
    elseif op == "self" then
      return ctx.self
    elseif op == "bad_state" then
      s.callback = function() end
      local ok, err = pcall(ctx.save, ctx)
      s.callback = nil
      return { ok, tostring(err) }
    elseif op == "persist" then
      local ok, err = pcall(ctx.persist, ctx, "x")
      return { ok, tostring(err) }
    elseif op == "clear" then
      return ctx:clear()
    elseif op == "ask" then -- ask another grain or actor, suspending this one
      return ctx:ask(msg[2], msg[3], 5)
    elseif op == "ask_grain" then -- a grain by type (or behaviour) and key
      return ctx:ask(ctx:grain(msg[2], msg[3]), msg[4], 5)
    elseif op == "deactivate" then
      ctx:deactivate()
      return true
    end
    error("unknown op " .. tostring(op))
  end,
}
