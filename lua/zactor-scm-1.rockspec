-- LuaRocks spec for the zactor Lua module, built from a checkout:
--   luarocks make lua/zactor-scm-1.rockspec        (at the repository root)
-- Needs the Lua 5.4 headers and msgpack-c (Debian: liblua5.4-dev,
-- libmsgpack-dev), and for the storage layer SQLite and hiredis
-- (libsqlite3-dev, libhiredis-dev) and libpq's headers (libpq-dev; libpq
-- itself is loaded at run time), for the HTTP endpoint libmicrohttpd's
-- headers (libmicrohttpd-dev; loaded at run time too), for the cluster
-- ZeroMQ (libzmq3-dev); `make deps` installs
-- them. Like `make lua`, the module
-- compiles the runtime (csrc/), the Lua host and the glue, and links no
-- liblua: the Lua API comes from the interpreter that loads it.
rockspec_format = "3.0"
package = "zactor"
version = "scm-1"
source = {
   url = "git+file://.",
}
description = {
   summary = "Actors with their own lua_State, in parallel on native worker threads",
   detailed = [[
zactor is an actor runtime in C. Its Lua module gives every Lua actor its own
lua_State and runs them in parallel on the runtime's worker threads, with C
mailboxes, supervision, timers, ask/reply and names; the same actors can be
spawned from Python and talk to Python and C actors.]],
   license = "MIT",
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
external_dependencies = {
   MSGPACK = { header = "msgpack.h", library = "msgpackc" },
   -- the storage layer (csrc/store/): libsqlite3-dev, libhiredis-dev, libpq-dev
   SQLITE = { header = "sqlite3.h", library = "sqlite3" },
   HIREDIS = { header = "hiredis/hiredis.h", library = "hiredis" },
   PQ = { header = "libpq-fe.h" }, -- headers only: libpq is loaded at run time
   -- the HTTP endpoint (csrc/http/): headers only, libmicrohttpd is loaded
   -- when a system serves HTTP (csrc/http/mhd.c)
   MICROHTTPD = { header = "microhttpd.h" },
   -- the cluster (csrc/cluster/): libzmq3-dev (hiredis as above)
   ZMQ = { header = "zmq.h", library = "zmq" },
}
build = {
   type = "builtin",
   modules = {
      zactor = {
         sources = {
            "csrc/actor.c", "csrc/ask.c", "csrc/behaviour.c", "csrc/chain.c", "csrc/deadletter.c", "csrc/err.c",
            "csrc/introspect.c", "csrc/metrics.c",
            "csrc/label.c", "csrc/spans.c", "csrc/http/route_cluster.c",
            "csrc/http/route_grains.c",
            "csrc/msgpool.c", "csrc/outbox.c", "csrc/refseq.c", "csrc/registry.c", "csrc/scheduler.c",
            "csrc/send.c", "csrc/slots.c", "csrc/spawn.c", "csrc/startfail.c", "csrc/supervise.c",
            "csrc/system.c", "csrc/timer.c", "csrc/trace.c", "csrc/value.c",
            "csrc/cluster/cluster.c", "csrc/cluster/envelope.c", "csrc/cluster/membership.c",
            "csrc/cluster/names.c", "csrc/cluster/pickle.c", "csrc/cluster/remote.c",
            "csrc/cluster/remote_spawn.c", "csrc/cluster/transport.c",
            "csrc/http/dashboard_html.c", "csrc/http/json.c", "csrc/http/mhd.c", "csrc/http/prom.c",
            "csrc/http/routes.c", "csrc/http/server.c", "csrc/store/memory.c", "csrc/store/postgres.c",
            "csrc/store/redis.c", "csrc/store/remindrows.c", "csrc/store/sqlite.c", "csrc/store/store.c",
            "csrc/grain/activation.c", "csrc/grain/directory.c", "csrc/grain/grains.c",
            "csrc/grain/identity.c", "csrc/grain/idle.c", "csrc/grain/persist.c",
            "csrc/grain/placement.c", "csrc/grain/reminders.c",
            "csrc/cluster/grainref.c", "csrc/cluster/hrw.c", "csrc/cluster/lease.c", "csrc/cluster/placement.c",
            "csrc/grain/relocate.c",
            "csrc/hosts/lua/actor.c", "csrc/hosts/lua/alloc.c", "csrc/hosts/lua/askall.c", "csrc/hosts/lua/asks.c",
            "csrc/hosts/lua/api_cluster.c", "csrc/hosts/lua/api_ctx.c", "csrc/hosts/lua/api_ref.c",
            "csrc/hosts/lua/codec.c", "csrc/hosts/lua/grain.c",
            "csrc/hosts/lua/numbers.c", "csrc/hosts/lua/opts.c", "csrc/hosts/lua/patterns.c", "csrc/hosts/lua/persist.c",
            "csrc/hosts/lua/proto.c", "csrc/hosts/lua/run.c", "csrc/hosts/lua/sandbox.c", "csrc/hosts/lua/sleep.c",
            "csrc/hosts/lua/stash.c", "csrc/hosts/lua/statepool.c", "csrc/hosts/lua/stopwait.c",
            "csrc/hosts/lua/watchdog.c", "lua/cluster.c", "lua/grain.c", "lua/module.c", "lua/native.c", "lua/ref.c", "lua/store.c",
            "lua/system.c", "lua/values.c",
         },
         defines = { "_GNU_SOURCE" },
         incdirs = { "csrc/include", "csrc", "$(MSGPACK_INCDIR)", "$(SQLITE_INCDIR)",
                     "$(HIREDIS_INCDIR)", "$(PQ_INCDIR)", "/usr/include/postgresql",
                     "$(MICROHTTPD_INCDIR)", "$(ZMQ_INCDIR)" },
         libdirs = { "$(MSGPACK_LIBDIR)", "$(SQLITE_LIBDIR)", "$(HIREDIS_LIBDIR)", "$(ZMQ_LIBDIR)" },
         libraries = { "msgpackc", "sqlite3", "hiredis", "zmq", "pthread", "m" },
      },
   },
}
