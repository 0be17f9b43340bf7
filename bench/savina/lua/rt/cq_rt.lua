-- cq_rt.lua: the actor API of actors/*.lua on lua-cqueues: a fixed pool of
-- OS threads, each a cqueues controller multiplexing its actors as coroutines.
--
-- cqueues is built around one controller per thread running many coroutines
-- that wait on descriptors and condition variables; cqueues.thread starts an
-- OS thread with its own Lua state and a socket pair to its parent. So:
--  - one worker thread per core (cqueues.thread.start); the main thread only
--    spawns the first actor and waits for the answer;
--  - an actor is a coroutine on its worker's controller with a mailbox (a
--    Lua queue) and a cqueues.condition it waits on when the mailbox is empty;
--  - a send to an actor of the same worker queues the value itself (one Lua
--    state: no copy) and signals the condition;
--  - a send to another worker appends a record (rt/codec.lua) to that
--    worker's output buffer; a flusher coroutine writes the buffers to the
--    worker-to-worker socket pairs after each scheduling round (or at once
--    past 64 KiB), and one pump coroutine per socket reads records and
--    delivers them. The socket pairs between workers are made by the main
--    thread and handed over with sendfd (the documented way to pass a
--    descriptor to a cqueues thread).
-- New actors go to the workers round robin, starting with the spawner's own.
-- Refs are integers: the target worker is id % (workers + 1); node 0 is main.
local RT_CODE, CODEC_CODE = ...
local cqueues = require "cqueues"
local condition = require "cqueues.condition"
local socket = require "cqueues.socket"
local codec
if CODEC_CODE then
  codec = load(CODEC_CODE, "=codec", "b")()
else
  local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
  codec = dofile(dir .. "/codec.lua")
  RT_CODE = string.dump(assert(loadfile(dir .. "/cq_rt.lua")))
  CODEC_CODE = string.dump(assert(loadfile(dir .. "/codec.lua")))
end

local pack, unpack, concat, byte = string.pack, string.unpack, table.concat, string.byte
local mtype = math.type
local encode, decode_at = codec.encode, codec.decode_at
local B_MSG, B_SPAWN, B_INT = byte("M"), byte("S"), byte("i")
local FLUSH_AT = 64 * 1024

local M = {}
local ME, NN -- this node (0 = main, 1..K workers), K + 1
local K
local cq -- this thread's controller
local seq, rr = 0, 0

-- ------------------------------------------------------------------ refs

local RefMT = {}
RefMT.__index = RefMT
codec.RefMT = RefMT
local refs = setmetatable({}, { __mode = "v" })
local function make_ref(id)
  local r = refs[id]
  if not r then
    r = setmetatable({ id = id }, RefMT)
    refs[id] = r
  end
  return r
end
codec.make_ref = make_ref

-- ------------------------------------------------------ output to sockets

local peers = {} -- node -> socket
local outs = {} -- node -> {n, bytes, [i] = record string}
local flush_cond = condition.new()
local flush_wanted = false

local function flush(node)
  local o = outs[node]
  if o.busy then return end -- another coroutine is writing (it re-checks)
  o.busy = true
  local sock = peers[node]
  while o.n > 0 do
    local s = concat(o, "", 1, o.n)
    o.n, o.bytes = 0, 0
    assert(sock:write(s)) -- no buffering mode: yields until written
  end
  o.busy = false
end

local function out_record(node, rec)
  local o = outs[node]
  local n = o.n + 1
  o[n] = rec
  o.n = n
  o.bytes = o.bytes + #rec
  if o.bytes >= FLUSH_AT and cqueues.running() then
    flush(node)
  elseif not flush_wanted then
    flush_wanted = true
    flush_cond:signal()
  end
end

local function flusher()
  while true do
    while not flush_wanted do flush_cond:wait() end
    flush_wanted = false
    for node in pairs(outs) do
      if outs[node].n > 0 then flush(node) end
    end
  end
end

-- ---------------------------------------------------------------- actors

local actors = {} -- id -> actor {box, head, tail, cond, waiting, ctx}
local chunks = {} -- path -> compiled module (called once per actor)

local function mailbox(id)
  local a = actors[id]
  if not a then -- a message that overtook the spawn record
    a = { head = 1, tail = 0, waiting = false }
    actors[id] = a
  end
  return a
end

local function deliver(id, v)
  local a = actors[id] or mailbox(id)
  local t = a.tail + 1
  a[t] = v
  a.tail = t
  if a.waiting then
    a.waiting = false
    a.cond:signal()
  end
end

local function send(id, v)
  local node = id % NN
  if node == ME then return deliver(id, v) end
  if mtype(v) == "integer" then
    out_record(node, pack("<I4c1jc1j", 18, "M", id, "i", v))
  else
    local p = encode(v)
    out_record(node, pack("<I4c1j", 9 + #p, "M", id) .. p)
  end
end

function RefMT.tell(self, v)
  send(self.id, v)
  return true
end

local Ctx = {}
Ctx.__index = Ctx
function Ctx.spawn(_, spec, ...) return M.spawn(spec, ...) end
function Ctx.stop(ctx) ctx.stopped = true end
function Ctx.tell(_, ref, v) return ref:tell(v) end

local function actor_main(a, spec, args)
  local chunk = chunks[spec]
  if not chunk then
    chunk = assert(loadfile(spec))
    chunks[spec] = chunk
  end
  local beh = chunk() -- fresh module locals: this actor's state
  local ctx = setmetatable({ self = make_ref(a.id), stopped = false }, Ctx)
  if beh.init then beh.init(ctx, table.unpack(args, 1, args.n)) end
  local receive = beh.receive
  local cond = a.cond
  while not ctx.stopped do
    local h = a.head
    if h > a.tail then
      a.waiting = true
      cond:wait()
    else
      local m = a[h]
      a[h] = nil
      a.head = h + 1
      receive(ctx, m)
    end
  end
  actors[a.id] = nil
end

local function start_actor(id, spec, args)
  local a = mailbox(id)
  a.id = id
  a.cond = condition.new()
  cq:wrap(actor_main, a, spec, args)
end

function M.spawn(spec, ...)
  seq = seq + 1
  local node = rr % K + 1
  rr = rr + 1
  local id = (seq * NN + ME) * NN + node
  if node == ME then
    local args = table.pack(...)
    if args.n > 0 and codec.is_opts(args[args.n]) then args.n = args.n - 1 end
    start_actor(id, spec, args)
  else
    local p = codec.pack_args(...)
    out_record(node, pack("<I4c1js4", 13 + #spec + #p, "S", id, spec) .. p)
  end
  return make_ref(id)
end

-- Read records from a socket and deliver them, until EOF.
local function pump(sock)
  local pending
  while true do
    local chunk = sock:read(-65536)
    if not chunk then return end
    local s = pending and pending .. chunk or chunk
    local p, len = 1, #s
    while p + 3 <= len do
      local n = unpack("<I4", s, p)
      local e = p + 4 + n
      if e - 1 > len then break end
      local kind = byte(s, p + 4)
      local id = unpack("<j", s, p + 5)
      if kind == B_MSG then
        if n == 18 and byte(s, p + 13) == B_INT then
          deliver(id, (unpack("<j", s, p + 14)))
        else
          deliver(id, (decode_at(s, p + 13)))
        end
      elseif kind == B_SPAWN then
        local spec, q = unpack("<s4", s, p + 13)
        start_actor(id, spec, codec.unpack_args(s:sub(q, e - 1)))
      else
        error("cq_rt: bad record kind " .. tostring(kind))
      end
      p = e
    end
    pending = p <= len and s:sub(p) or nil
  end
end

local function add_peer(node, sock)
  sock:setmode("b", "bn")
  sock:setbufsiz(65536, 65536)
  peers[node] = sock
  outs[node] = { n = 0, bytes = 0, busy = false }
  cq:wrap(pump, sock)
end

-- --------------------------------------------------------- worker thread

function M.run_worker(con, me, k)
  ME, K = me, k
  NN = K + 1
  rr = ME - 1 -- the first actor a worker spawns stays on it
  cq = cqueues.new()
  cq:wrap(function()
    -- the sockets to the other workers, then the go-ahead to main
    for _ = 1, K - 1 do
      local msg, sock = con:recvfd(8)
      assert(sock, "cq_rt: worker did not receive its peer socket")
      add_peer(unpack("<I4", msg), sock)
    end
    add_peer(0, con)
    cq:wrap(flusher)
    con:write("R")
  end)
  while true do
    local ok, err = cq:loop()
    if ok then break end
    io.stderr:write("cq_rt worker ", ME, ": ", tostring(err), "\n")
    os.exit(1, false) -- a failed actor would leave the run waiting forever
  end
end

-- ------------------------------------------------------------ main thread

local function cores()
  local f = io.open("/sys/devices/system/cpu/online")
  local s = f and f:read("l")
  if f then f:close() end
  local n = 0
  for part in (s or ""):gmatch("[^,]+") do
    local a, b = part:match("^(%d+)%-(%d+)$")
    n = n + (a and (tonumber(b) - tonumber(a) + 1) or 1)
  end
  return n > 0 and n or 1
end

function M.max_actors() return math.maxinteger, "" end

function M.clock() return cqueues.monotime() end

local thread_handles = {}
local result_box

function M.start()
  ME, K = 0, cores()
  NN = K + 1
  cq = cqueues.new()
  local thread = require "cqueues.thread"
  local cons = {}
  for w = 1, K do
    local thr, con = thread.start(function(c, me, k, rt_code, codec_code)
      local rt = load(rt_code, "=cq_rt", "b")(rt_code, codec_code)
      rt.run_worker(c, tonumber(me), tonumber(k))
    end, tostring(w), tostring(K), RT_CODE, CODEC_CODE)
    assert(thr, "cq_rt: thread.start failed")
    thread_handles[w], cons[w] = thr, con
  end
  local ready = 0
  cq:wrap(function()
    for i = 1, K do
      for j = i + 1, K do
        local a, b = socket.pair()
        assert(cons[i]:sendfd(pack("<I4", j), a))
        assert(cons[j]:sendfd(pack("<I4", i), b))
        a:close()
        b:close()
      end
    end
    for w = 1, K do
      assert(cons[w]:read(1) == "R")
      ready = ready + 1
    end
    for w = 1, K do add_peer(w, cons[w]) end
    cq:wrap(flusher)
  end)
  while ready < K do assert(cq:step()) end
end

function M.inbox()
  seq = seq + 1
  local id = (seq * NN + ME) * NN + ME
  result_box = mailbox(id)
  return make_ref(id)
end

function M.wait(timeout)
  local deadline = cqueues.monotime() + timeout
  while result_box.tail < 1 do
    local left = deadline - cqueues.monotime()
    if left <= 0 then return nil end
    local ok, err = cq:step(left)
    if not ok then error("cq_rt main: " .. tostring(err)) end
  end
  return result_box[1]
end

return M
