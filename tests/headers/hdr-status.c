/*
 * Build-only check: <apc/status.h> compiles on its own, twice (include
 * guard), with -pedantic-errors.
 */
#include <apc/status.h>
#include <apc/status.h>
