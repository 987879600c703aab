/*
 * apcrt Windows backend: private declarations.
 *
 * The backend is a thin mapping onto kernel32: apc_handle is a HANDLE,
 * statuses are the Win32 error codes, and each call does what its Win32
 * counterpart does, with as little logic of its own as the portable API
 * allows.  Where the portable API promises more than Windows (a NULL APC
 * routine refused, a wait error returned instead of stored), the few
 * lines that bridge it say so.
 */
#ifndef APC_WIN32_INTERNAL_H
#define APC_WIN32_INTERNAL_H

#include <windows.h>

#include <apc/apc.h>

/*
 * io.c: UTF-8 to a NUL-terminated wide string on the heap (free it), or
 * NULL with *err set: bad (the caller's code) for bytes that are not
 * UTF-8, ERROR_NOT_ENOUGH_MEMORY.
 */
WCHAR *apc__utf8_to_wide(const char *s, uint32_t bad, uint32_t *err);

#endif /* APC_WIN32_INTERNAL_H */
