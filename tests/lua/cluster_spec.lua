-- The cluster from Lua: zactor.system{ cluster = {...} }, with a redis-server
-- this spec starts on a free port in a temporary directory, and a second
-- node as another lua5.4 process. Everything started here is killed in
-- teardown; every wait is bounded.
local zactor = require "zactor"

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return (out:gsub("%s+$", ""))
end

local function wait_for(pred, seconds)
  local deadline = zactor.clock() + seconds
  while true do
    local v = pred()
    if v or zactor.clock() > deadline then return v end
    zactor.sleep(0.02)
  end
end

describe("cluster", function()
  local dir, port, url
  local children = {}

  lazy_setup(function()
    dir = sh("mktemp -d /tmp/za-luacluster-XXXXXX")
    port = sh([[python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])']])
    url = "redis://127.0.0.1:" .. port .. "/0"
    os.execute(("redis-server --port %s --bind 127.0.0.1 --dir %s --save '' --appendonly no " ..
                "--daemonize yes --pidfile %s/redis.pid --logfile %s/redis.log"):format(port, dir, dir, dir))
    assert.is_true(wait_for(function()
      return sh("redis-cli -p " .. port .. " ping 2>/dev/null") == "PONG"
    end, 15), "redis-server did not start")
  end)

  lazy_teardown(function()
    for _, pid in ipairs(children) do os.execute("kill -9 " .. pid .. " 2>/dev/null") end
    if dir then
      os.execute("kill -9 $(cat " .. dir .. "/redis.pid 2>/dev/null) 2>/dev/null")
      os.execute("rm -rf " .. dir)
    end
  end)

  -- another node: a lua5.4 process serving "echo@<name>"; returns pid, node id, its stdin
  local function start_node(cluster, name)
    local script = dir .. "/node.lua"
    local f = assert(io.open(script, "w"))
    f:write([[
package.cpath = "./lua/?.so;" .. package.cpath
package.path = "./tests/lua/actors/?.lua;" .. package.path
local zactor = require "zactor"
local url, cluster, name = ...
local system <close> = zactor.system{ workers = 1,
  cluster = { redis = url, name = cluster, node_name = name, spawnable = { "counter", "echo" } } }
system:spawn("echo", { name = "echo@" .. name })
io.write("READY ", system:node().id, "\n")
io.flush()
local deadline = zactor.clock() + 60
while zactor.clock() < deadline do zactor.sleep(0.1) end
]])
    f:close()
    local out = dir .. "/" .. name .. ".out"
    -- (remote spawns resolve module names in LUA_PATH)
    local pid = sh(("LUA_PATH='./tests/lua/actors/?.lua;;' lua5.4 %s %s %s %s > %s 2>&1 & echo $!")
      :format(script, url, cluster, name, out))
    children[#children + 1] = pid
    local id
    wait_for(function()
      local h = io.open(out)
      if not h then return false end
      local s = h:read("a")
      h:close()
      id = s:match("READY (%d+)")
      return id ~= nil
    end, 20)
    assert.is_not_nil(id, "node " .. name .. " did not start")
    return pid, tonumber(id)
  end

  it("joins, lists nodes and refuses bad settings with clear errors", function()
    local system <close> = zactor.system{ workers = 1,
      cluster = { redis = url, name = "lc1", node_name = "lua-1" } }
    local me = system:node()
    assert.are.equal("lua-1", me.name)
    assert.is_true(me.id > 0)
    assert.truthy(me.endpoint:match("^tcp://127%.0%.0%.1:%d+$"))
    assert.are.equal(1, #system:nodes())
    local ok, err = pcall(zactor.system, { cluster = { redis = url, name = "lc1", node_name = "lua-1" } })
    assert.is_false(ok)
    assert.truthy(tostring(err):match("taken"))
    ok, err = pcall(zactor.system, { cluster = { redis = url } })
    assert.is_false(ok)
    assert.truthy(tostring(err):match("name"))
    ok, err = pcall(zactor.system, { cluster = { redis = url, name = "x", colour = "red" } })
    assert.is_false(ok)
    assert.truthy(tostring(err):match("unknown cluster option 'colour'"))
    ok, err = pcall(zactor.system, { cluster = { redis = url, name = "x", listen = "tcp://0.0.0.0:0" } })
    assert.is_false(ok)
    assert.truthy(tostring(err):match("non%-loopback"))
    ok, err = pcall(zactor.system, { cluster = { redis = "redis://127.0.0.1:1/0", name = "x" } })
    assert.is_false(ok)
    assert.truthy(tostring(err):match("Redis"))
    local plain <close> = zactor.system{ workers = 1 }
    assert.is_nil(plain:node())
    assert.are.equal(0, #plain:nodes())
  end)

  it("asks an actor on another Lua node, and sees it go down", function()
    local system <close> = zactor.system{ workers = 2,
      cluster = { redis = url, name = "lc2", node_name = "lua-main" } }
    local pid, id = start_node("lc2", "lua-b")
    local echo = wait_for(function() return system:lookup("echo@lua-b") end, 10)
    assert.is_not_nil(echo)
    assert.are.equal(id, echo:node())
    assert.are_not.equal(system:node().id, echo:node())
    assert.are.same({ "hi", 1 }, echo:ask({ "hi", 1 }, 5))
    assert.is_true(wait_for(function() return #system:nodes() == 2 end, 5))
    local ups = system:node_events()
    local saw_up = false
    for _, e in ipairs(ups) do if e.kind == "up" and e.node.name == "lua-b" then saw_up = true end end
    assert.is_true(saw_up)

    os.execute("kill -9 " .. pid)
    local ok, err = pcall(echo.ask, echo, "anyone?", 30)
    assert.is_false(ok)
    assert.truthy(tostring(err):match("node%-down"))
    local downs = {}
    wait_for(function()
      for _, e in ipairs(system:node_events()) do downs[#downs + 1] = e end
      return #downs > 0
    end, 5)
    assert.are.equal("down", downs[1].kind)
    assert.are.equal(id, downs[1].node.id)
    assert.is_nil(system:lookup("echo@lua-b"))
  end)

  it("spawns on another node by name or id, only what that node allows", function()
    local system <close> = zactor.system{ workers = 2,
      cluster = { redis = url, name = "lc3", node_name = "lua-main3" } }
    local _, id = start_node("lc3", "lua-s")
    assert.is_true(wait_for(function() return #system:nodes() == 2 end, 10))
    local c = system:spawn("counter", 5, { node = "lua-s", name = "counter@lua-s" })
    assert.are.equal(id, c:node())
    c:tell({ "add", 2 })
    assert.are.equal(7, c:ask({ "get" }, 5))
    assert.are.equal(c:id(), system:lookup("counter@lua-s"):id())
    local e = system:spawn("echo", { node = id })
    assert.are.equal(id, e:node())
    assert.are.same({ "x" }, e:ask({ "x" }, 5))

    local ok, err = pcall(system.spawn, system, "collector", { node = "lua-s" })
    assert.is_false(ok)
    assert.truthy(tostring(err):match("does not allow spawning 'collector'"))
    ok, err = pcall(system.spawn, system, "counter", { node = "nope" })
    assert.is_false(ok)
    assert.truthy(tostring(err):match("no live member named 'nope'"))
    ok, err = pcall(system.spawn, system, "counter", { node = "lua-s", name = "counter@lua-s" })
    assert.is_false(ok)
    assert.truthy(tostring(err):match("taken") or tostring(err):match("registered"))
    ok, err = pcall(system.spawn, system, "counter", { node = "lua-s", capacity = 3 })
    assert.is_false(ok)
    assert.truthy(tostring(err):match("only 'name' and 'timeout_ms'"))
    local plain <close> = zactor.system{ workers = 1 }
    ok, err = pcall(plain.spawn, plain, "counter", { node = "lua-s" })
    assert.is_false(ok)
    assert.truthy(tostring(err):match("not in a cluster"))

    -- actors see the cluster: their node, the members, names on any node
    local probe = system:spawn([[
return { receive = function(ctx, m)
  if m == "spawn" then return { pcall(ctx.spawn, ctx, "counter", { node = "lua-s" }) } end
  local e = ctx:lookup("counter@lua-s")
  return { ctx:node().name, ctx:node().id, #ctx:nodes(), e and e:node() or false }
end }]])
    assert.are.same({ "lua-main3", system:node().id, 2, id }, probe:ask("who", 5))
    local r = probe:ask("spawn", 5)
    assert.is_false(r[1])
    assert.truthy(tostring(r[2]):match("option 'node' is for system:spawn"))
    local lonely = plain:spawn("return { receive = function(ctx) return { ctx:node() == nil, #ctx:nodes() } end }")
    assert.are.same({ true, 0 }, lonely:ask("?", 5))
  end)
end)
