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
  cluster = { redis = url, name = cluster, node_name = name } }
system:spawn("echo", { name = "echo@" .. name })
io.write("READY ", system:node().id, "\n")
io.flush()
local deadline = zactor.clock() + 60
while zactor.clock() < deadline do zactor.sleep(0.1) end
]])
    f:close()
    local out = dir .. "/" .. name .. ".out"
    local pid = sh(("lua5.4 %s %s %s %s > %s 2>&1 & echo $!"):format(script, url, cluster, name, out))
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
end)
