/*
 * Build-only check: <apc/windows.h> compiles on its own, twice (include
 * guard), with -pedantic-errors.
 */
#include <apc/windows.h>
#include <apc/windows.h>
