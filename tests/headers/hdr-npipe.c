/*
 * Build-only check: <apc/npipe.h> compiles on its own, twice (include
 * guard), with -pedantic-errors.
 */
#include <apc/npipe.h>
#include <apc/npipe.h>
