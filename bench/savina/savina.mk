# The Savina suite (bench/savina/README.md): zactor against CAF, Erlang,
# Pykka, Thespian, lua-luv and lua-cqueues. Included at the end of the main
# Makefile (it uses PYTHON, PY_DEPS, MSGPACK_LIBS and the `lib`/`lua` rules
# defined there). `make test` never depends on anything here.
#
#   make bench-peers                          all workloads, all runtimes, 3 runs
#   make bench-peers PEERS_ARGS="--quick --runs 1"
#   make bench-peers PEERS_ARGS="--only pingpong,skynet --runtimes native"
#
# A program whose sources are not there yet is simply not built; the harness
# then reports its cells as "missing".

SAVINA_B      := build/savina
SAVINA_VENV   := build/venv-peers
PEERS_ARGS    ?=
# Sub-makes re-read the makefile that included this fragment.
SAVINA_MF     := --no-print-directory -f $(firstword $(MAKEFILE_LIST))

SAVINA_C_SRCS   := $(wildcard bench/savina/c/*.c)
SAVINA_C_HDRS   := $(wildcard bench/savina/c/*.h)
SAVINA_CAF_SRCS := $(wildcard bench/savina/caf/*.cpp)
SAVINA_CAF_HDRS := $(wildcard bench/savina/caf/*.hpp bench/savina/caf/*.h)
SAVINA_ERL_SRCS := $(wildcard bench/savina/erlang/*.erl)
SAVINA_ERL_HDRS := $(wildcard bench/savina/erlang/*.hrl)

# The programs to build: only those whose sources exist.
SAVINA_PROGS := $(if $(SAVINA_C_SRCS),$(SAVINA_B)/savina_zactor) \
                $(if $(SAVINA_CAF_SRCS),$(SAVINA_B)/savina_caf) \
                $(if $(SAVINA_ERL_SRCS),$(SAVINA_B)/erlang/savina.beam)

# Benchmark flags: release optimisation, warnings are errors for our own C.
SAVINA_CFLAGS   := -std=c11 -O2 -Wall -Wextra -Werror -pthread -Icsrc/include
SAVINA_CXXFLAGS := -std=c++17 -O2 -Wall -pthread
SAVINA_LIBS     := $(or $(MSGPACK_LIBS),-lmsgpackc) $(SUB_LIBS) -pthread -lm

# Debian packages of the peers: CAF 0.17, Erlang/OTP (erlang-base holds erl,
# erlc and the compiler), the two Lua threading libraries, a C++ compiler.
# The lock timeout waits for another apt run instead of failing.
SAVINA_DEB_PKGS := libcaf-dev erlang-base lua-luv lua-cqueues lua5.4 g++

.PHONY: bench-peers bench-peers-deps bench-peers-build

bench-peers-deps:
	@missing=""; for p in $(SAVINA_DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq $$missing; \
	else echo "bench-peers-deps: all Debian packages present"; fi
	@$(MAKE) $(SAVINA_MF) $(SAVINA_VENV)/.installed

# A virtualenv of its own, so the benchmark's Pykka/Thespian/matplotlib never
# leak into build/venv (the test venv). Reinstalled only when a source of the
# zactor package changed (stamp file, as for build/venv).
$(SAVINA_VENV)/bin/python:
	$(or $(PYTHON),python3) -m venv $(SAVINA_VENV)

$(SAVINA_VENV)/.installed: $(SAVINA_VENV)/bin/python $(PY_DEPS) bench/savina/savina.mk
	$(SAVINA_VENV)/bin/python -m pip install -q --upgrade pip
	$(SAVINA_VENV)/bin/python -m pip install -q . pykka thespian matplotlib
	@touch $@

# zactor's native program links the release static library. Under
# VARIANT=release the main Makefile's own rule builds it; otherwise ask a
# release sub-make for it.
ifneq ($(VARIANT),release)
build/release/libzactor.a: FORCE_SAVINA_LIB
	$(MAKE) $(SAVINA_MF) VARIANT=release lib
.PHONY: FORCE_SAVINA_LIB
FORCE_SAVINA_LIB:
endif

$(SAVINA_B)/savina_zactor: $(SAVINA_C_SRCS) $(SAVINA_C_HDRS) build/release/libzactor.a bench/savina/savina.mk
	@mkdir -p $(dir $@)
	$(CC) $(SAVINA_CFLAGS) -o $@ $(SAVINA_C_SRCS) build/release/libzactor.a $(SAVINA_LIBS)

$(SAVINA_B)/savina_caf: $(SAVINA_CAF_SRCS) $(SAVINA_CAF_HDRS) bench/savina/savina.mk
	@mkdir -p $(dir $@)
	$(CXX) $(SAVINA_CXXFLAGS) -o $@ $(SAVINA_CAF_SRCS) -lcaf_core

# erlc writes one .beam per module; savina.beam stands for all of them.
$(SAVINA_B)/erlang/savina.beam: $(SAVINA_ERL_SRCS) $(SAVINA_ERL_HDRS) bench/savina/savina.mk
	@mkdir -p $(dir $@)
	erlc -o $(dir $@) $(SAVINA_ERL_SRCS)

bench-peers-build: $(SAVINA_PROGS) lua/zactor.so

# deps first (compilers, Lua, venv support), then the peers, then a build with
# VARIANT=release so build/release/libzactor.a is the main Makefile's rule.
bench-peers:
	@$(MAKE) $(SAVINA_MF) deps
	@$(MAKE) $(SAVINA_MF) bench-peers-deps
	@$(MAKE) $(SAVINA_MF) VARIANT=release bench-peers-build
	@mkdir -p bench/results
	$(SAVINA_VENV)/bin/python bench/savina/run_peers.py $(PEERS_ARGS)
