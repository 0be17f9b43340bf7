-- wordcount.lua: a Lua worker of the word-count demo
-- (python/examples/wordcount_demo.py). Each worker owns its own lua_State;
-- the workers run in parallel on every core.
--
-- init(ctx, merger, progress, fail_at): merger is the native C merge actor,
-- progress the Python progress actor; fail_at = n makes the first
-- incarnation fail on its n-th chunk (the demo's injected failure).
-- receive {"chunk", id, text}: counts the words (runs of ASCII letters,
-- lower-cased), tells the merger {"counts", id, counts} and the progress
-- actor {"done", id, nwords}, and answers the ask with nwords.
local merger, progress, fail_at
local handled = 0

return {
  init = function(ctx, m, p, f)
    merger, progress, fail_at = m, p, f
  end,

  receive = function(ctx, msg)
    local id, text = msg[2], msg[3]
    handled = handled + 1
    if fail_at and ctx.restarts == 0 and handled == fail_at then
      error("injected failure while counting chunk " .. id)
    end
    local counts, n = {}, 0
    for w in text:lower():gmatch("%a+") do -- one lower() per chunk, not per word
      counts[w] = (counts[w] or 0) + 1
      n = n + 1
    end
    merger:tell{ "counts", id, counts }
    progress:tell{ "done", id, n }
    return n
  end,
}
