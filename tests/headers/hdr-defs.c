/*
 * Build-only check: <apc/defs.h> compiles on its own, twice (include
 * guard), with -pedantic-errors.
 */
#include <apc/defs.h>
#include <apc/defs.h>
