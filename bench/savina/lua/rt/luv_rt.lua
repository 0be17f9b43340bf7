-- luv_rt.lua: the actor API of actors/*.lua on lua-luv, one OS thread per actor.
--
-- luv has threads (uv.new_thread: an OS thread with a fresh Lua state) and
-- per-thread event loops, but no message queue between threads: an async
-- handle keeps only the last argument set when sends pile up, and a handle
-- can only be given to a thread when it is created. So each actor gets:
--  - an OS thread running its own uv loop;
--  - a mailbox: a pipe. The actor reads the read end with a uv pipe handle
--    (read_start); anyone holding the actor's ref (= the write end's fd)
--    writes length-prefixed records (rt/codec.lua) to it.
-- Writes are synchronous (uv.fs_write on a blocking fd) and at most
-- PIPE_BUF (4096) bytes, which POSIX makes atomic, so concurrent senders
-- never interleave records. Sends to the same actor are buffered and written
-- when 4 KiB are pending or when the handler batch ends (after the records
-- of one read), so a burst of sends costs one write per 4 KiB, not one per
-- message. A full pipe blocks the sender, which is the backpressure.
--
-- This file is loaded from bytecode in every actor thread:
--   load(rt_code)(rt_code, codec_code)
local RT_CODE, CODEC_CODE = ...
local uv = require "luv"
local codec
if CODEC_CODE then
  codec = load(CODEC_CODE, "=codec", "b")()
else -- the main thread: compile both once, to hand them to every thread
  local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
  codec = dofile(dir .. "/codec.lua")
  RT_CODE = string.dump(assert(loadfile(dir .. "/luv_rt.lua")))
  CODEC_CODE = string.dump(assert(loadfile(dir .. "/codec.lua")))
end

local pack, unpack, concat, byte = string.pack, string.unpack, table.concat, string.byte
local encode, decode_at = codec.encode, codec.decode_at
local B_INT = byte("i")

local M = {}
local PIPE_BUF = 4096
local MAX_DIRTY = 64 -- past this many actors with pending sends, write them all
local STACK = 256 * 1024 -- per actor thread; plenty for a Lua state

-- ------------------------------------------------------------ refs, sends

local RefMT = {}
RefMT.__index = RefMT
codec.RefMT = RefMT
local refs = {} -- fd -> ref, so decoding a ref allocates once per thread
local function make_ref(fd)
  local r = refs[fd]
  if not r then
    r = setmetatable({ id = fd }, RefMT)
    refs[fd] = r
  end
  return r
end
codec.make_ref = make_ref

local bufs = {} -- fd -> {n = records, bytes = size, [1..n] = records}
local dirty, ndirty = {}, 0

local function write_fd(fd, s)
  local n, err = uv.fs_write(fd, s, -1)
  if n ~= #s then error(("luv_rt: write to fd %d failed: %s"):format(fd, tostring(err or n))) end
end

local function flush_buf(fd, b)
  write_fd(fd, b.n == 1 and b[1] or concat(b, "", 1, b.n))
  b.n, b.bytes = 0, 0
end

local function flush_all()
  for i = 1, ndirty do
    local fd = dirty[i]
    local b = bufs[fd]
    if b.n > 0 then flush_buf(fd, b) end
    dirty[i] = nil
  end
  ndirty = 0
end
M.flush_all = flush_all

function RefMT.tell(self, v)
  local fd = self.id
  local rec
  if math.type(v) == "integer" then
    rec = pack("<I4c1j", 9, "i", v)
  else
    rec = pack("<s4", encode(v))
  end
  local b = bufs[fd]
  if not b then
    b = { n = 0, bytes = 0 }
    bufs[fd] = b
  end
  local n = b.n
  if n == 0 then
    if ndirty == MAX_DIRTY then flush_all() end
    ndirty = ndirty + 1
    dirty[ndirty] = fd
  elseif b.bytes + #rec > PIPE_BUF then
    flush_buf(fd, b)
    n = 0
  end
  b[n + 1] = rec
  b.n = n + 1
  b.bytes = b.bytes + #rec
  return true
end

-- ---------------------------------------------------------------- spawning

local children = {} -- thread handles: a collected handle frees what the thread runs
local code_cache = {}

local function behaviour_code(spec)
  local c = code_cache[spec]
  if not c then
    c = string.dump(assert(loadfile(spec)))
    code_cache[spec] = c
  end
  return c
end

local ENTRY = string.dump(function(rt_code, codec_code, beh_code, spec, rfd, wfd, args)
  local ok, err = xpcall(function()
    local rt = load(rt_code, "=luv_rt", "b")(rt_code, codec_code)
    rt.run_actor(beh_code, spec, math.tointeger(rfd), math.tointeger(wfd), args)
  end, debug.traceback)
  if not ok then -- as luv does for a failing callback: a lost actor would hang the run
    io.stderr:write("luv_rt: actor ", spec, " failed: ", tostring(err), "\n")
    os.exit(1, false)
  end
end)

function M.spawn(spec, ...)
  -- read end non-blocking (the uv loop polls it); write end blocking, so a
  -- full mailbox makes the sender wait instead of failing
  local fds, err = uv.pipe({ nonblock = true }, { nonblock = false })
  if not fds then error("luv_rt: pipe: " .. tostring(err)) end
  local th, terr = uv.new_thread({ stack_size = STACK }, ENTRY, RT_CODE, CODEC_CODE,
    behaviour_code(spec), spec, fds.read, fds.write, codec.pack_args(...))
  if not th then error("luv_rt: new_thread: " .. tostring(terr)) end
  children[#children + 1] = th
  return make_ref(fds.write)
end

-- --------------------------------------------------------------- an actor

local Ctx = {}
Ctx.__index = Ctx
function Ctx.spawn(_, spec, ...) return M.spawn(spec, ...) end
function Ctx.stop(ctx) ctx.stopped = true end
function Ctx.tell(_, ref, v) return ref:tell(v) end

function M.run_actor(beh_code, spec, rfd, wfd, args)
  local beh = load(beh_code, "@" .. spec, "b")()
  local receive = beh.receive
  local ctx = setmetatable({ self = make_ref(wfd), stopped = false }, Ctx)
  local pipe = uv.new_pipe(false)
  assert(pipe:open(rfd))
  if beh.init then
    local a = codec.unpack_args(args)
    beh.init(ctx, table.unpack(a, 1, a.n))
    flush_all()
  end
  local pending = nil -- the start of a record split across reads
  local function on_read(err, chunk)
    if err then error("luv_rt: read: " .. err) end
    if not chunk then return end
    local s = pending and pending .. chunk or chunk
    local p, len = 1, #s
    while p + 3 <= len and not ctx.stopped do
      local n = unpack("<I4", s, p)
      if p + 3 + n > len then break end
      local v
      if n == 9 and byte(s, p + 4) == B_INT then
        v = unpack("<j", s, p + 5)
      else
        v = decode_at(s, p + 4)
      end
      p = p + 4 + n
      receive(ctx, v)
    end
    pending = p <= len and s:sub(p) or nil
    flush_all()
    if ctx.stopped then
      pipe:read_stop()
      pipe:close()
    end
  end
  if not ctx.stopped then pipe:read_start(on_read) else pipe:close() end
  uv.run()
  -- Stopped: nobody sends to a stopped actor in these workloads, so the
  -- mailbox can go; children that stopped are reaped (joined).
  uv.fs_close(wfd)
  for _, th in ipairs(children) do th:join() end
end

-- ------------------------------------------------------------ main thread

function M.max_actors()
  -- Every live actor holds a thread and 7 descriptors of the process's
  -- RLIMIT_NOFILE: its mailbox pipe, and its uv loop's epoll fd, eventfd,
  -- signal pipe and reserve /dev/null (counted in /proc/<pid>/fd).
  local nofile = 1024
  local f = io.open("/proc/self/limits")
  if f then
    for line in f:lines() do
      local v = line:match("^Max open files%s+(%d+)")
      if v then nofile = tonumber(v) end
    end
    f:close()
  end
  local limit = (nofile - 64) // 7
  return limit, ("one OS thread per actor: more than %d live actors would exceed the %d open files "
    .. "allowed (7 per actor thread: its mailbox pipe and its uv loop)"):format(limit, nofile)
end

function M.start() end

function M.clock() return uv.hrtime() / 1e9 end

local main_pipe, main_ref
function M.inbox()
  local fds = assert(uv.pipe({ nonblock = true }, { nonblock = false }))
  main_pipe = uv.new_pipe(false)
  assert(main_pipe:open(fds.read))
  main_ref = make_ref(fds.write)
  return main_ref
end

-- Wait for the first message to the main inbox (nil after timeout seconds).
function M.wait(timeout)
  flush_all()
  local result, got, pending = nil, false, nil
  local timer = uv.new_timer()
  timer:start(math.floor(timeout * 1000), 0, function() uv.stop() end)
  main_pipe:read_start(function(err, chunk)
    assert(not err, err)
    if not chunk then return end
    local s = pending and pending .. chunk or chunk
    if #s < 4 then pending = s return end
    local n = unpack("<I4", s)
    if #s < 4 + n then pending = s return end
    result, got = decode_at(s, 5), true
    uv.stop()
  end)
  uv.run()
  main_pipe:read_stop()
  timer:stop()
  if got then return result end
  return nil
end

return M
