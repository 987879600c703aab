/*
 * Build-only check: <apc/thread.h> compiles on its own, twice (include
 * guard), with -pedantic-errors.
 */
#include <apc/thread.h>
#include <apc/thread.h>
