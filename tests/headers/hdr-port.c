/*
 * Build-only check: <apc/port.h> compiles on its own, twice (include
 * guard), with -pedantic-errors.
 */
#include <apc/port.h>
#include <apc/port.h>
