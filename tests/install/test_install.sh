#!/usr/bin/env bash
# `make` then `make install` into a temporary prefix, then the README's C
# example ("A C actor in 20 lines", extracted from README.md) built against
# that prefix with pkg-config, shared and --static, and run. Also: DESTDIR
# (files under DESTDIR/PREFIX, the .pc names PREFIX), the exported symbols of
# libzactor.so (the public za_* API only) and one version everywhere.
# Run by `make test-install` (part of `make test`).
set -euo pipefail
cd "$(dirname "$0")/../.."
MAKE=${MAKE:-make}
CC=${CC:-cc}
fails=0
ok()   { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; fails=$((fails + 1)); }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

# ---------------------------------------------------------------- make, install
$MAKE --no-print-directory >/dev/null
for f in build/release/libzactor.a build/release/libzactor.so build/release/zactor.pc lua/zactor.so; do
    [ -f "$f" ] && ok "make built $f" || fail "make did not build $f"
done
$MAKE --no-print-directory install PREFIX="$prefix" >/dev/null
for f in lib/libzactor.a lib/libzactor.so lib/libzactor.so.0 include/zactor.h lib/pkgconfig/zactor.pc \
         lib/lua/5.4/zactor.so; do
    [ -e "$prefix/$f" ] && ok "installed $f" || fail "make install did not install $f"
done

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
pc_prefix=$(pkg-config --variable=prefix zactor)
[ "$pc_prefix" = "$prefix" ] && ok "zactor.pc names its prefix" \
    || fail "zactor.pc prefix is '$pc_prefix', installed to '$prefix'"
static_libs=$(pkg-config --static --libs zactor)
for l in -lzactor -lmsgpackc -lm; do
    case " $static_libs " in *" $l "*) ok "pkg-config --static --libs has $l" ;;
        *) fail "pkg-config --static --libs zactor lacks $l: $static_libs" ;; esac
done

# ------------------------------------------------------ the README's C example
awk '/^## A C actor in 20 lines/ { sec = 1; next }
     sec && /^## / { exit }
     sec && /^```c$/ { code = 1; next }
     code && /^```$/ { exit }
     code { print }' README.md > "$tmp/demo.c"
if grep -q 'za_system_create' "$tmp/demo.c"; then ok "README example extracted ($(wc -l < "$tmp/demo.c") lines)"
else fail "no C example under '## A C actor in 20 lines' in README.md"; fi

# shared: as the README says, LD_LIBRARY_PATH for a prefix outside ld.so's paths
# shellcheck disable=SC2046
if $CC -o "$tmp/demo-shared" "$tmp/demo.c" $(pkg-config --cflags --libs zactor); then
    out=$(LD_LIBRARY_PATH=$prefix/lib "$tmp/demo-shared")
    [ "$out" = "sum = 5050" ] && ok "README example, shared: $out" || fail "README example, shared: got '$out'"
    so=$(LD_LIBRARY_PATH=$prefix/lib ldd "$tmp/demo-shared" | awk '/libzactor/ { print $3 }')
    [ "$so" = "$prefix/lib/libzactor.so.0" ] && ok "linked to the installed libzactor.so.0" \
        || fail "libzactor resolved to '$so'"
else fail "README example does not compile with pkg-config --cflags --libs zactor"; fi

# static: libzactor.a with its private dependencies from `pkg-config --static`
# (msgpack-c, pthread, libm, and the subsystems' libraries). -l:libzactor.a
# takes the archive although the .so sits beside it; the other libraries stay
# as the system provides them (a fully -static binary needs a static archive
# of every dependency, which Debian does not ship for all of them: libzmq's
# Kerberos, libpq's).
static_flags=$(pkg-config --static --cflags --libs zactor | sed 's/-lzactor\b/-l:libzactor.a/')
# shellcheck disable=SC2086
if $CC -o "$tmp/demo-static" "$tmp/demo.c" $static_flags; then
    out=$(env -u LD_LIBRARY_PATH "$tmp/demo-static")
    [ "$out" = "sum = 5050" ] && ok "README example, static libzactor.a: $out" \
        || fail "README example, static libzactor.a: got '$out'"
    if readelf -d "$tmp/demo-static" 2>/dev/null | grep NEEDED | grep libzactor >/dev/null; then
        fail "the static build still needs libzactor.so"
    else ok "the static build needs no libzactor.so"; fi
else fail "README example does not link with pkg-config --static and libzactor.a"; fi

# --------------------------------------------------------------------- DESTDIR
dest=$tmp/dest
$MAKE --no-print-directory install DESTDIR="$dest" PREFIX=/opt/zactor >/dev/null
if [ -f "$dest/opt/zactor/lib/pkgconfig/zactor.pc" ] && [ -f "$dest/opt/zactor/lib/libzactor.so.0" ] \
   && [ -f "$dest/opt/zactor/include/zactor.h" ]; then ok "DESTDIR: files under DESTDIR/PREFIX"
else fail "DESTDIR: files not under $dest/opt/zactor"; fi
grep -qx 'prefix=/opt/zactor' "$dest/opt/zactor/lib/pkgconfig/zactor.pc" 2>/dev/null \
    && ok "DESTDIR: zactor.pc names PREFIX, not DESTDIR" || fail "DESTDIR: zactor.pc prefix is wrong"

# ------------------------------------------------------------ exported symbols
extra=$(nm -D --defined-only "$prefix/lib/libzactor.so" | awk '{ print $3 }' | grep -v '^za_[a-z]' || true)
[ -z "$extra" ] && ok "libzactor.so exports only za_[a-z]* ($(nm -D --defined-only "$prefix/lib/libzactor.so" | wc -l) symbols)" \
    || fail "libzactor.so exports non-public symbols: $(echo "$extra" | head -5 | tr '\n' ' ')"
# (grep reads the whole list: with pipefail, grep -q leaving early makes nm die of SIGPIPE)
nm -D --defined-only "$prefix/lib/libzactor.so" | grep ' za_system_create$' >/dev/null \
    && ok "libzactor.so exports za_system_create" || fail "libzactor.so lacks za_system_create"

# ---------------------------------------------------------------- one version
hdr=$(awk '$2 ~ /^ZA_VERSION_(MAJOR|MINOR|PATCH)$/ { d[$2] = $3 }
           END { print d["ZA_VERSION_MAJOR"] "." d["ZA_VERSION_MINOR"] "." d["ZA_VERSION_PATCH"] }' csrc/include/zactor.h)
[ "$(pkg-config --modversion zactor)" = "$hdr" ] && ok "zactor.pc version $hdr" \
    || fail "zactor.pc version $(pkg-config --modversion zactor), zactor.h $hdr"
[ "$($MAKE --no-print-directory -s version)" = "$hdr" ] && ok "make version $hdr" || fail "make version differs"
rockspec=$($MAKE --no-print-directory -s rockspec | tail -1)
# the generated release rockspec must load, name the version and list existing sources
# ... and list every source the Lua module is built from (what `make lua` compiles), no more
if lua5.4 - "$rockspec" "$hdr" csrc/*.c csrc/hosts/lua/*.c $(ls csrc/cluster/*.c csrc/store/*.c csrc/http/*.c csrc/grain/*.c 2>/dev/null) lua/*.c <<'LUA'; then ok "$rockspec: version $hdr-1, sources exist and are complete"; else fail "$rockspec"; fi
local path, want = arg[1], arg[2]
local spec = {}
assert(loadfile(path, "t", spec))()
assert(spec.package == "zactor", "package " .. tostring(spec.package))
assert(spec.version == want .. "-1", "version " .. tostring(spec.version) .. ", expected " .. want .. "-1")
assert(spec.source and spec.source.tag == "v" .. want, "source.tag")
local listed = {}
for _, src in ipairs(spec.build.modules.zactor.sources) do
  assert(io.open(src), "listed source missing: " .. src):close()
  listed[src] = true
end
for i = 3, #arg do
  assert(listed[arg[i]], "source not listed in the rockspec: " .. arg[i])
end
LUA
scm=$(lua5.4 -e 'local s = {}; loadfile("lua/zactor-scm-1.rockspec", "t", s)(); print(s.version)')
[ "$scm" = "scm-1" ] && ok "lua/zactor-scm-1.rockspec is the development rockspec (scm-1)" \
    || fail "lua/zactor-scm-1.rockspec has version '$scm'"

if [ $fails -ne 0 ]; then echo "test-install: $fails failed"; exit 1; fi
echo "test-install: all passed"
