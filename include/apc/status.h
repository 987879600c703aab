/*
 * apcrt: status values.
 *
 * Every call that can fail returns a uint32_t whose value is the Win32
 * one: WAIT_* codes for waits, ERROR_* codes for everything else.  The
 * portable API never stores a "last error"; the compat header
 * <apc/windows.h> does that for the Win32 names.
 *
 * APC_STATUS_MAP is the single table of the values apcrt returns; it
 * generates the APC_* constants here and the names and messages behind
 * apc_status_name() and apc_status_message().
 */
#ifndef APC_STATUS_H
#define APC_STATUS_H

#include "defs.h"

/*
 * The values.  Each is numerically the Win32 value of the same name.
 * ERROR_SUCCESS and WAIT_OBJECT_0 are both 0.
 */
#define APC_ERROR_SUCCESS 0u
#define APC_WAIT_OBJECT_0 0x00000000u
#define APC_WAIT_ABANDONED_0 0x00000080u
#define APC_WAIT_IO_COMPLETION 0x000000C0u
#define APC_WAIT_TIMEOUT 0x00000102u
#define APC_WAIT_FAILED 0xFFFFFFFFu
#define APC_STILL_ACTIVE 0x00000103u
#define APC_ERROR_FILE_NOT_FOUND 2u
#define APC_ERROR_ACCESS_DENIED 5u
#define APC_ERROR_INVALID_HANDLE 6u
#define APC_ERROR_NOT_ENOUGH_MEMORY 8u
#define APC_ERROR_GEN_FAILURE 31u
#define APC_ERROR_NOT_SUPPORTED 50u
#define APC_ERROR_INVALID_PARAMETER 87u
#define APC_ERROR_NOT_OWNER 288u
#define APC_ERROR_TOO_MANY_POSTS 298u
#define APC_ERROR_MUTANT_LIMIT_EXCEEDED 587u

/* X(name, message): the names and messages of the values above. */
#define APC_STATUS_MAP(X)                                                      \
	X(WAIT_OBJECT_0, "the wait was satisfied")                             \
	X(WAIT_ABANDONED_0, "the wait acquired an abandoned mutex")            \
	X(WAIT_IO_COMPLETION, "the wait ended to run APCs")                    \
	X(WAIT_TIMEOUT, "the time-out elapsed")                                \
	X(WAIT_FAILED, "the wait failed")                                      \
	X(STILL_ACTIVE, "the thread is still running")                         \
	X(ERROR_FILE_NOT_FOUND, "the file was not found")                      \
	X(ERROR_ACCESS_DENIED, "access is denied")                             \
	X(ERROR_INVALID_HANDLE, "the handle is invalid")                       \
	X(ERROR_NOT_ENOUGH_MEMORY, "not enough memory")                        \
	X(ERROR_GEN_FAILURE, "the thread has ended")                           \
	X(ERROR_NOT_SUPPORTED, "the request is not supported")                 \
	X(ERROR_INVALID_PARAMETER, "the parameter is incorrect")               \
	X(ERROR_NOT_OWNER, "the caller does not own the mutex")                \
	X(ERROR_TOO_MANY_POSTS, "the semaphore would pass its maximum")        \
	X(ERROR_MUTANT_LIMIT_EXCEEDED, "the mutex recursion count is full")

APC_BEGIN_DECLS

/*
 * apc_status_name - the symbolic name of a status value
 *
 * Returns the Win32 spelling ("ERROR_INVALID_HANDLE", "WAIT_TIMEOUT"...)
 * of a value from APC_STATUS_MAP, or "UNKNOWN" for any other value.  The
 * string is static.  Since WAIT_OBJECT_0 and ERROR_SUCCESS are both 0,
 * 0 is named "WAIT_OBJECT_0".
 */
APC_API const char *apc_status_name(uint32_t status);

/*
 * apc_status_message - a one-line English description of a status value
 *
 * Returns a static string; "unknown status" for values outside the map.
 */
APC_API const char *apc_status_message(uint32_t status);

APC_END_DECLS

#endif /* APC_STATUS_H */
