/*
 * Build-only check: <apc/io.h> compiles on its own, twice (include
 * guard), with -pedantic-errors.
 */
#include <apc/io.h>
#include <apc/io.h>
