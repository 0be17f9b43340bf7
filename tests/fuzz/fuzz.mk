# Fuzzing (tests/fuzz/README.md). Included at the end of the top-level
# Makefile; uses only its own variables (FUZZ_*), plus MSGPACK_CFLAGS /
# MSGPACK_LIBS / LUA_CFLAGS when the Makefile defines them.
#
#   make fuzz-deps          Debian packages (clang, libFuzzer runtime, ...)
#   make fuzz-build         the libFuzzer targets under build/fuzz/
#   make fuzz               every target for FUZZ_SECONDS each (default 60)
#   make fuzz-smoke         every target for FUZZ_SMOKE_SECONDS each (default
#                           10), fixed seed, fails on any crash
#   make fuzz-one FUZZ_TARGET=value_decode FUZZ_SECONDS=600
#   make fuzz-repro         replay tests/fuzz/crashes/*/* (known findings)
#
# The C library and the Lua host are compiled from wildcards (csrc/*.c,
# csrc/hosts/*.c, csrc/hosts/lua/*.c) so splitting files does not break it.

FUZZ_CC            ?= clang
FUZZ_B             := build/fuzz
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_SEED          ?= 1
FUZZ_C_TARGETS     := value_decode lua_decode lua_opts
FUZZ_PY_TARGETS    := py_unpack py_lua_echo
FUZZ_TARGETS       := $(FUZZ_C_TARGETS) $(FUZZ_PY_TARGETS)
FUZZ_VENV          := build/venv-fuzz
FUZZ_DEB_PKGS      := clang libclang-rt-14-dev libmsgpack-dev liblua5.4-dev pkg-config \
                      python3 python3-dev python3-venv

FUZZ_MSGPACK_CFLAGS := $(or $(MSGPACK_CFLAGS),$(shell pkg-config --cflags msgpack 2>/dev/null))
FUZZ_MSGPACK_LIBS   := $(or $(MSGPACK_LIBS),$(shell pkg-config --libs msgpack 2>/dev/null || echo -lmsgpackc))
FUZZ_LUA_CFLAGS     := $(or $(LUA_CFLAGS),$(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4))
FUZZ_LUA_LIBS       := $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4)

FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -pthread -fPIC -g -O1 $(FUZZ_SAN) -Wall -Wno-unused-parameter \
               -Icsrc/include -Icsrc -Icsrc/hosts $(FUZZ_MSGPACK_CFLAGS) $(FUZZ_LUA_CFLAGS) \
               -DZA_LUA_HOST_WANT_LUA_API=1 $(SUB_CFLAGS) $(FUZZ_EXTRA_CFLAGS)
# The subsystem folders (csrc/store, ...) too, with the Makefile's SUBSYS,
# SUB_CFLAGS and SUB_LIBS: the Python glue calls into them (za_store_*), so
# the instrumented extension would not import without them.
FUZZ_LIB_SRCS := $(wildcard csrc/*.c csrc/hosts/*.c csrc/hosts/lua/*.c) \
                 $(foreach s,$(SUBSYS),$(wildcard csrc/$(s)/*.c))
FUZZ_LIB_HDRS := $(wildcard csrc/*.h csrc/include/*.h csrc/hosts/*.h csrc/hosts/lua/*.h) \
                 $(foreach s,$(SUBSYS),$(wildcard csrc/$(s)/*.h))
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=$(FUZZ_B)/obj/%.o)
FUZZ_BINS     := $(FUZZ_C_TARGETS:%=$(FUZZ_B)/%)

# The library is instrumented for coverage (fuzzer-no-link) and sanitizers;
# each target links libFuzzer's main (-fsanitize=fuzzer).
$(FUZZ_B)/obj/%.o: %.c $(FUZZ_LIB_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_B)/libzactor-fuzz.a: $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_B)/%: tests/fuzz/%.c tests/fuzz/fuzz_util.h $(FUZZ_B)/libzactor-fuzz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< -o $@ $(FUZZ_B)/libzactor-fuzz.a \
	  $(FUZZ_LUA_LIBS) $(FUZZ_MSGPACK_LIBS) $(SUB_LIBS) -pthread -lm -ldl

.PHONY: fuzz-deps fuzz-build fuzz-py fuzz fuzz-smoke fuzz-one fuzz-repro fuzz-clean

fuzz-deps:
	@missing=""; for p in $(FUZZ_DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else echo "fuzz-deps: all Debian packages present"; fi

fuzz-build: fuzz-deps
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

# atheris (PyPI) and the zactor package in their own venv; redone when a
# source of the package changed (stamp file).
FUZZ_PY_DEPS := setup.py pyproject.toml $(FUZZ_LIB_SRCS) $(FUZZ_LIB_HDRS) \
                $(wildcard python/zactor/*.c python/zactor/*.h python/zactor/*.py)
$(FUZZ_VENV)/bin/python:
	python3 -m venv $(FUZZ_VENV)

$(FUZZ_VENV)/.installed: $(FUZZ_VENV)/bin/python $(FUZZ_PY_DEPS)
	$(FUZZ_VENV)/bin/python -m pip install -q --upgrade pip
	$(FUZZ_VENV)/bin/python -m pip install -q atheris
	$(FUZZ_VENV)/bin/python -m pip install -q .
	@touch $@

# The atheris targets import an instrumented copy of the package: the
# extension rebuilt with clang, coverage (fuzzer-no-link) and ASan+UBSan, from
# the same wildcards, into build/fuzz/py/zactor/ (PYTHONPATH), run with
# atheris's ASan+libFuzzer runtime preloaded (run.sh). So libFuzzer sees the C
# decoder's coverage and ASan/UBSan check the C code under the Python API.
FUZZ_PY_OUT  := $(FUZZ_B)/py/zactor
FUZZ_PY_GLUE := $(wildcard python/zactor/*.c)
FUZZ_PY_OBJS := $(FUZZ_PY_GLUE:%.c=$(FUZZ_B)/obj/%.o)
FUZZ_PY_INC   = $(shell $(FUZZ_VENV)/bin/python -c "import sysconfig; print(sysconfig.get_paths()['include'])")
FUZZ_PY_EXT   = $(shell $(FUZZ_VENV)/bin/python -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")

$(FUZZ_B)/obj/python/zactor/%.o: python/zactor/%.c $(FUZZ_LIB_HDRS) $(wildcard python/zactor/*.h) $(FUZZ_VENV)/.installed
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -DZA_WITH_LUA=1 -I$(FUZZ_PY_INC) -c $< -o $@

$(FUZZ_PY_OUT)/.built: $(FUZZ_PY_OBJS) $(FUZZ_LIB_OBJS) $(wildcard python/zactor/*.py python/zactor/*.pyi)
	@mkdir -p $(FUZZ_PY_OUT)
	cp python/zactor/*.py python/zactor/*.pyi $(FUZZ_PY_OUT)/
	$(FUZZ_CC) -shared $(FUZZ_SAN) -fsanitize=fuzzer-no-link -o $(FUZZ_PY_OUT)/_zactor$(FUZZ_PY_EXT) \
	  $(FUZZ_PY_OBJS) $(FUZZ_LIB_OBJS) $(FUZZ_LUA_LIBS) $(FUZZ_MSGPACK_LIBS) $(SUB_LIBS) -pthread -lm -ldl
	@touch $@

fuzz-py: fuzz-deps
	@$(MAKE) --no-print-directory $(FUZZ_VENV)/.installed
	@$(MAKE) --no-print-directory $(FUZZ_PY_OUT)/.built

FUZZ_RUN = FUZZ_B=$(FUZZ_B) FUZZ_VENV=$(FUZZ_VENV) FUZZ_SEED=$(FUZZ_SEED) sh tests/fuzz/run.sh

fuzz: fuzz-build fuzz-py
	@$(FUZZ_RUN) fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build fuzz-py
	@$(FUZZ_RUN) fuzz-smoke $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)

FUZZ_TARGET ?= value_decode
fuzz-one: fuzz-build fuzz-py
	@$(FUZZ_RUN) fuzz $(FUZZ_SECONDS) $(FUZZ_TARGET)

fuzz-repro: fuzz-build fuzz-py
	@$(FUZZ_RUN) repro 0 $(FUZZ_TARGETS)

fuzz-clean:
	rm -rf $(FUZZ_B) $(FUZZ_VENV)
