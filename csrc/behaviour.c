/*
 * Behaviour tables: the ABI check every spawn makes, and loading a table by
 * name from a shared object (what the bindings' spawn_native does).
 *
 * A table loaded by name is whatever the symbol points at: a function, an
 * `extern char **environ`, a table built against an older zactor.h. Reading
 * sizeof(za_behaviour) bytes there can itself fault (a small object at the
 * end of a mapping), so the ELF symbol entry is checked first: a data
 * object (STT_OBJECT) at least as large as a za_behaviour. Then the abi
 * field, which spawn checks again.
 */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdio.h>

#include "behaviour.h"
#include "err.h"

int za__behaviour_check(const za_behaviour *beh) {
    if (beh->abi == ZA_BEHAVIOUR_ABI) return ZA_OK;
    if (beh->abi == 0)
        return za__fail(ZA_EINVAL, "behaviour table has no ABI tag: start its initialiser with "
                                   "ZA_BEHAVIOUR_INIT (or set .abi = ZA_BEHAVIOUR_ABI)");
    /* not even the name is read: in another layout it may not be a pointer */
    return za__fail(ZA_EINVAL,
                    "not a za_behaviour of this zactor (abi tag %#x, expected %#x): rebuild it "
                    "against this zactor.h with ZA_BEHAVIOUR_INIT first in its initialiser",
                    (unsigned)beh->abi, (unsigned)ZA_BEHAVIOUR_ABI);
}

int za_behaviour_load(const char *path, const char *symbol, const za_behaviour **out) {
    if (out) *out = NULL;
    if (!path || !symbol || !out) return za__fail(ZA_EINVAL, "path, symbol or out is NULL");
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        return za__fail(ZA_ENOTFOUND, "cannot load %s: %s", path, e ? e : "dlopen failed");
    }
    /* h is never closed: a table handed out may be spawned and run later */
    dlerror();
    void *p = dlsym(h, symbol);
    if (!p) return za__fail(ZA_ENOTFOUND, "no symbol '%s' in %s", symbol, path);
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (!dladdr1(p, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym || info.dli_saddr != p)
        return za__fail(ZA_EINVAL, "'%s' in %s is not a za_behaviour: no symbol table entry",
                        symbol, path);
    if (ELF64_ST_TYPE(sym->st_info) != STT_OBJECT)
        return za__fail(ZA_EINVAL,
                        "'%s' in %s is not a za_behaviour: not a data object (a function?)", symbol,
                        path);
    if (sym->st_size < sizeof(za_behaviour))
        return za__fail(ZA_EINVAL,
                        "'%s' in %s is not a za_behaviour of this zactor: %zu bytes, expected %zu "
                        "(if it is a behaviour, rebuild it against this zactor.h with "
                        "ZA_BEHAVIOUR_INIT first in its initialiser)",
                        symbol, path, (size_t)sym->st_size, sizeof(za_behaviour));
    const za_behaviour *beh = p;
    int rc = za__behaviour_check(beh);
    if (rc != ZA_OK) {
        char why[256]; /* za__fail writes the buffer za_last_error reads */
        snprintf(why, sizeof why, "%s", za_last_error());
        return za__fail(rc, "'%s' in %s: %s", symbol, path, why);
    }
    *out = beh;
    return ZA_OK;
}
