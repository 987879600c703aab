/*
 * Build-only check: <apc/apc.h> compiles on its own, twice (include
 * guard), with -pedantic-errors.
 */
#include <apc/apc.h>
#include <apc/apc.h>
