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

#endif /* APC_WIN32_INTERNAL_H */
