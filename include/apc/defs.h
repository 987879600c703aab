/*
 * apcrt: base definitions shared by every public header.
 *
 * This header is self-contained; it is included by all other apc headers.
 * It defines the export macro, the C++ guards, the handle type and the
 * special constants (timeouts, pseudo-handles) that every part of the API
 * uses.
 */
#ifndef APC_DEFS_H
#define APC_DEFS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define APC_BEGIN_DECLS extern "C" {
#define APC_END_DECLS }
#else
#define APC_BEGIN_DECLS
#define APC_END_DECLS
#endif

/*
 * APC_API marks every exported declaration.  The library is built with
 * hidden visibility, so only what carries this macro is visible; the
 * version script in src/apcrt.map is a second guard.
 */
#if defined(_WIN32)
#if defined(APC_BUILDING_DLL)
#define APC_API __declspec(dllexport)
#elif defined(APC_STATIC)
#define APC_API
#else
#define APC_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define APC_API __attribute__((visibility("default")))
#else
#define APC_API
#endif

#if defined(__GNUC__)
#define APC_NORETURN __attribute__((noreturn))
#else
#define APC_NORETURN
#endif

/*
 * apc_handle names any apcrt object: a thread today; events, semaphores,
 * mutexes, timers, files and ports as they arrive.  On POSIX the value is
 * an index plus a generation in a process-wide handle table, never a
 * pointer, so a stale or forged value is refused rather than followed.
 * It has the size and type of a Win32 HANDLE.
 */
typedef void *apc_handle;

/* Timeout value that never elapses (Win32 INFINITE). */
#define APC_INFINITE 0xFFFFFFFFu

/*
 * Pseudo-handles, numerically the Win32 ones.  APC_CURRENT_THREAD names
 * the calling thread wherever a thread handle is taken (GetCurrentThread).
 * APC_CURRENT_PROCESS (GetCurrentProcess) is, on POSIX, accepted only as a
 * process argument of DuplicateHandle in <apc/windows.h> and by apc_close
 * (a no-op); anywhere else it is an invalid handle (contract M2).  On the
 * Windows backend it is the system's process pseudo-handle, with the
 * system's meaning (a wait on it never ends while the process runs).
 */
#define APC_CURRENT_PROCESS ((apc_handle)(intptr_t)-1)
#define APC_CURRENT_THREAD ((apc_handle)(intptr_t)-2)

/*
 * Limits.  Every limit of the library is named here.
 *
 * APC_MAX_HANDLES: open handles per process (all types together).  Creating
 * one more fails with APC_ERROR_NOT_ENOUGH_MEMORY.
 */
#define APC_MAX_HANDLES (1u << 20)

#endif /* APC_DEFS_H */
