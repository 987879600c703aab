/*
 * Build-only check: <apc/timer.h> compiles on its own, twice (include
 * guard), with -pedantic-errors.
 */
#include <apc/timer.h>
#include <apc/timer.h>
