/* Shared helpers for the cmocka test programs. */
#ifndef ZA_TESTUTIL_H
#define ZA_TESTUTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "zactor.h"

#endif
