-- savina.lua: the Savina workloads on Lua runtimes (see ../README.md).
--
--   lua5.4 bench/savina/lua/savina.lua --runtime zactor|luv|cqueues <workload> key=value ...
--
-- Runs the workload once and prints one JSON line on stdout. The workload
-- logic is the behaviour modules in actors/ (one file per actor kind),
-- written against a small actor API: init(ctx, ...), receive(ctx, msg),
-- ctx.self, ctx:spawn(path, ...), ctx:stop(), ref:tell(value).
--  - zactor: the modules are zactor Lua actors (one lua_State each) on a
--    system with one worker per core;
--  - luv:    rt/luv_rt.lua runs each actor on its own OS thread (uv.new_thread)
--            with its own uv loop, reading its mailbox, a pipe;
--  - cqueues: rt/cq_rt.lua runs a fixed pool of one OS thread per core
--            (cqueues.thread), each a cqueues controller multiplexing its
--            actors as coroutines; threads exchange messages over socket pairs.
-- zactor needs lua/zactor.so: LUA_CPATH="/work/main/lua/?.so;;" or run from
-- the repository root (the script also looks there).
local HERE = (arg and arg[0] or "savina.lua"):match("^(.*)/[^/]*$") or "."
if HERE:sub(1, 1) ~= "/" then
  -- absolute paths read better in tracebacks; $PWD is only trusted when it
  -- is really the working directory (a parent process may have chdir'd)
  local pwd = os.getenv("PWD")
  local f = pwd and io.open(pwd .. "/" .. HERE .. "/savina.lua")
  if f then
    f:close()
    HERE = pwd .. "/" .. HERE
  end
end
local ACTORS = HERE .. "/actors"
local ROOT = HERE .. "/../../.."
local TIMEOUT = tonumber(os.getenv("SAVINA_TIMEOUT") or "") or 600 -- seconds

-- ------------------------------------------------------------------ JSON out

local function json_value(v)
  local t = type(v)
  if t == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c)
      return string.format("\\u%04x", c:byte())
    end) .. '"'
  elseif t == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    return string.format("%.6g", v)
  elseif t == "boolean" then
    return tostring(v)
  elseif t == "nil" then
    return "null"
  end
  -- a list of {key, value} pairs keeps the key order
  local parts = {}
  for _, kv in ipairs(v) do parts[#parts + 1] = json_value(kv[1]) .. ": " .. json_value(kv[2]) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- ---------------------------------------------------------------- workloads

local POW10 = {}
do
  local p = 1
  for level = 0, 7 do
    POW10[p] = level
    p = p * 10
  end
end

-- keys: name and Savina default, in order; driver: the first actor spawned,
-- args: its arguments after (report, dir); expected: the right answer.
local WORKLOADS = {
  pingpong = {
    keys = { { "n", 40000 } },
    driver = "pingpong_ping.lua",
    args = function(p) return p.n end,
    expected = function(p) return p.n end,
  },
  counting = {
    keys = { { "n", 1000000 } },
    driver = "counting_producer.lua",
    args = function(p) return p.n end,
    expected = function(p) return p.n end,
  },
  fjthrput = {
    keys = { { "a", 60 }, { "n", 10000 } },
    driver = "fjthrput_driver.lua",
    args = function(p) return p.a, p.n end,
    expected = function(p) return p.a * p.n end,
  },
  fjcreate = {
    keys = { { "n", 40000 } },
    driver = "fjcreate_driver.lua",
    args = function(p) return p.n end,
    expected = function(p) return p.n end,
    actors = function(p) return p.n + 1 end,
    many_deaths = true,
  },
  threadring = {
    keys = { { "n", 100 }, { "r", 100000 } },
    driver = "threadring_driver.lua",
    args = function(p) return p.n, p.r end,
    expected = function(p) return p.r end,
    actors = function(p) return p.n + 1 end,
  },
  chameneos = {
    keys = { { "c", 100 }, { "n", 200000 } },
    driver = "chameneos_mall.lua",
    args = function(p) return p.c, p.n end,
    expected = function(p) return 2 * p.n end,
    actors = function(p) return p.c + 1 end,
  },
  big = {
    keys = { { "w", 120 }, { "n", 20000 } },
    driver = "big_driver.lua",
    args = function(p) return p.w, p.n end,
    expected = function(p) return p.w * p.n end,
    actors = function(p) return p.w + 1 end,
  },
  skynet = {
    keys = { { "leaves", 1000000 } },
    -- the root node is the driver: (parent = report, its own path, start)
    driver = "skynet_node.lua",
    skynet = true,
    expected = function(p) return p.leaves * (p.leaves - 1) // 2 end,
    actors = function(p) return p.leaves * 10 // 9 end,
    many_deaths = true,
  },
}

local function usage(msg)
  io.stderr:write(msg, "\nusage: savina.lua --runtime zactor|luv|cqueues <workload> key=value ...\n")
  os.exit(2)
end

-- ------------------------------------------------------------- arguments

local runtime, wname, given = nil, nil, {}
do
  local i = 1
  while arg and i <= #arg do
    local a = arg[i]
    if a == "--runtime" then
      runtime = arg[i + 1]
      i = i + 1
    elseif a:match("^%-%-runtime=") then
      runtime = a:match("^%-%-runtime=(.*)$")
    elseif a:find("=", 1, true) then
      local k, v = a:match("^([%w_]+)=(.*)$")
      if not k or not math.tointeger(tonumber(v)) then usage("bad argument: " .. a) end
      given[k] = math.tointeger(tonumber(v))
    elseif not wname then
      wname = a
    else
      usage("unexpected argument: " .. a)
    end
    i = i + 1
  end
end
local RUNTIME_NAMES = { zactor = "zactor-lua", luv = "lua-luv", cqueues = "lua-cqueues" }
if not RUNTIME_NAMES[runtime or ""] then usage("unknown or missing --runtime") end
local W = WORKLOADS[wname or ""]
if not W then usage("unknown or missing workload") end

local params, pjson = {}, {}
for _, kv in ipairs(W.keys) do
  local v = given[kv[1]]
  if v == nil then v = kv[2] end
  given[kv[1]] = nil
  params[kv[1]] = v
  pjson[#pjson + 1] = { kv[1], v }
end
if next(given) then usage("unknown key for " .. wname .. ": " .. next(given)) end
for k, v in pairs(params) do
  if v < 1 then usage(k .. " must be >= 1") end
end
if wname == "skynet" and not POW10[params.leaves] then usage("leaves must be a power of 10 (at most 10^7)") end
if wname == "big" and params.w < 2 then usage("w must be >= 2") end
if wname == "chameneos" and params.c < 2 then usage("c must be >= 2") end

local function emit(fields, code)
  local out = { { "workload", wname }, { "runtime", RUNTIME_NAMES[runtime] }, { "params", pjson } }
  for _, kv in ipairs(fields) do out[#out + 1] = kv end
  io.stdout:write(json_value(out), "\n")
  io.stdout:flush()
  os.exit(code, false) -- no state close: thread runtimes still have threads parked
end

-- The driver's spawn arguments after the report ref.
local function driver_args(dir)
  if W.skynet then
    local path = dir .. "/skynet_node.lua"
    return path, POW10[params.leaves] -- num 0, level = log10(leaves)
  end
  return dir, W.args(params)
end

-- --------------------------------------------------------------- zactor

-- A handler that runs long (the producer's n sends) must not trip the
-- per-handler watchdog (5 s by default): give the driver a generous budget.
local DRIVER_OPTS = { budget_ms = 3600 * 1000 }

local function run_zactor()
  package.cpath = ROOT .. "/lua/?.so;" .. package.cpath
  local zactor = require "zactor"
  local system = zactor.system({ workers = 0 }) -- one worker per online core
  local t0 = zactor.clock()
  local holder = system:spawn(ACTORS .. "/holder.lua")
  local latch = system:spawn(ACTORS .. "/latch.lua", holder)
  local args = table.pack(latch, driver_args(ACTORS))
  args.n = args.n + 1
  args[args.n] = DRIVER_OPTS
  system:spawn(ACTORS .. "/" .. W.driver, table.unpack(args, 1, args.n))
  if W.many_deaths then
    -- ref:join wakes on every actor death system-wide (a broadcast per
    -- death): with n dying workers, poll the latch instead, every 1 ms.
    local deadline = t0 + TIMEOUT
    while latch:alive() and zactor.clock() < deadline do zactor.sleep(0.001) end
  else
    latch:join(TIMEOUT)
  end
  if latch:alive() then return nil, "timed out after " .. TIMEOUT .. " s" end
  local result = holder:ask("get")
  return result, zactor.clock() - t0
end

-- ------------------------------------------------------ luv and cqueues

local function run_threads(rt_file)
  package.path = HERE .. "/rt/?.lua;" .. package.path
  local rt = dofile(HERE .. "/rt/" .. rt_file)
  local limit, why = rt.max_actors()
  if W.actors and W.actors(params) > limit then return nil, nil, why end
  rt.start()
  local t0 = rt.clock()
  local report = rt.inbox()
  rt.spawn(ACTORS .. "/" .. W.driver, report, driver_args(ACTORS))
  local result = rt.wait(TIMEOUT)
  if result == nil then return nil, "timed out after " .. TIMEOUT .. " s" end
  return result, rt.clock() - t0
end

-- ------------------------------------------------------------------- run

local result, secs, unsupported
if runtime == "zactor" then
  result, secs = run_zactor()
elseif runtime == "luv" then
  result, secs, unsupported = run_threads("luv_rt.lua")
else
  result, secs, unsupported = run_threads("cq_rt.lua")
end

if unsupported then emit({ { "ok", false }, { "unsupported", unsupported } }, 0) end
local expected = W.expected(params)
if type(secs) ~= "number" then
  emit({ { "ok", false }, { "error", tostring(secs) }, { "expected", expected } }, 1)
end
local ok = result == expected
emit({ { "seconds", secs }, { "ok", ok }, { "result", result }, { "expected", expected } }, ok and 0 or 1)
