-- A plain actor calling ctx:state / ctx:save (tests/lua/grain_spec.lua).
return {
  receive = function(ctx, msg)
    local ok, err = pcall(ctx[msg], ctx)
    return tostring(err)
  end,
}
