/*
 * Build-only check: <apc/sync.h> compiles on its own, twice (include
 * guard), with -pedantic-errors.
 */
#include <apc/sync.h>
#include <apc/sync.h>
