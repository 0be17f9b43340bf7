-- The HTTP endpoint from Lua: zactor.system{ http = ... }, system:http_url(),
-- Lua actors listed by /actors, the bearer token, bad options. Requests go
-- through curl (Debian curl, in make deps' list for the http subsystem).
local zactor = require "zactor"
local json = require "json"

-- GET url; returns the status code and the body.
local function get(url, header)
  local h = header and ("-H '" .. header .. "' ") or ""
  local p = assert(io.popen("curl -s -m 10 -w '\\n%{http_code}' " .. h .. "'" .. url .. "'"))
  local out = p:read("a")
  p:close()
  local body, code = out:match("^(.*)\n(%d+)$")
  return tonumber(code), body
end

describe("http endpoint (Lua)", function()
  it("serves the actors of a Lua program", function()
    local system <close> = zactor.system{ workers = 2, http = "127.0.0.1:0" }
    local url = system:http_url()
    assert.is_string(url)
    assert.truthy(url:match("^http://127%.0%.0%.1:%d+$"))
    local c = system:spawn("counter", 1, { name = "lua-counter" })
    assert.are.equal(1, c:ask({ "get" }, 2))
    local code, body = get(url .. "/actors?language=lua")
    assert.are.equal(200, code)
    local doc = json.decode(body)
    assert.are.equal(1, doc.total)
    assert.are.equal("lua-counter", doc.actors[1].name)
    assert.are.equal("lua", doc.actors[1].language)
    assert.are.equal("alive", doc.actors[1].state)
    -- a Lua actor reports its module (or file) as its behaviour
    assert.are.equal("counter", doc.actors[1].behaviour)
    assert.are.equal(200, (get(url .. "/health/ready")))
    assert.are.equal(404, (get(url .. "/no/such/path")))
    code, body = get(url .. "/metrics")
    assert.are.equal(200, code)
    assert.truthy(body:find('zactor_behaviour_actors{behaviour="counter",language="lua"} 1', 1, true))
    -- Lua source text has no name: "lua"
    local anon = system:spawn("return { receive = function(ctx, m) return m end }")
    assert.are.equal(7, anon:ask(7, 2))
    code, body = get(url .. "/metrics")
    assert.truthy(body:find('zactor_behaviour_actors{behaviour="lua",language="lua"} 1', 1, true))
    c:stop()
    assert.is_true(c:join(2))
    system:shutdown(5)
    -- the endpoint goes with the system
    assert.are.equal(0, (get(url .. "/health/live"))) -- curl: no connection
  end)

  it("asks for the bearer token when one is set", function()
    local system <close> = zactor.system{ workers = 1, http = "127.0.0.1:0", http_token = "tok" }
    local url = system:http_url()
    assert.are.equal(401, (get(url .. "/actors")))
    assert.are.equal(401, (get(url .. "/actors", "Authorization: Bearer nope")))
    assert.are.equal(200, (get(url .. "/actors", "Authorization: Bearer tok")))
    assert.are.equal(200, (get(url .. "/health/live")))
  end)

  it("refuses bad options with a message", function()
    assert.has_error(function() zactor.system{ http = 9100 } end,
      "zactor: option 'http' must be a string like '127.0.0.1:9100'")
    local ok, err = pcall(zactor.system, { http = "0.0.0.0:0" })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("http_token", 1, true))
    ok, err = pcall(zactor.system, { http = "127.0.0.1:notaport" })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("bad port", 1, true))
    local system <close> = zactor.system{ workers = 1 }
    assert.is_nil(system:http_url())
  end)
end)

describe("trace context (Lua)", function()
  local TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
  local OTHER = "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01"
  after_each(function() zactor.trace(false) end)

  it("is carried to Lua actors, readable and settable with ctx:trace()", function()
    local system <close> = zactor.system{ workers = 2 }
    local echo = system:spawn("return { receive = function(ctx, m) return ctx:trace() end }")
    assert.is_nil(echo:ask("x", 2))
    zactor.trace(TP)
    assert.are.equal(TP, zactor.trace())
    assert.are.equal(TP, echo:ask("x", 2))
    -- a handler that changes it: what it asks next carries the new one
    local front = system:spawn([[
      return { receive = function(ctx, m)
        ctx:trace(m.tp)
        return ctx:ask(m.to, "x", 2)
      end }]])
    assert.are.equal(OTHER, front:ask({ tp = OTHER, to = echo }, 2))
    assert.has_error(function() zactor.trace("nope") end)
    zactor.trace(false)
    assert.is_nil(zactor.trace())
    assert.is_nil(echo:ask("x", 2))
  end)
end)
