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
#define APC_ERROR_INVALID_FUNCTION 1u
#define APC_ERROR_FILE_NOT_FOUND 2u
#define APC_ERROR_ACCESS_DENIED 5u
#define APC_ERROR_INVALID_HANDLE 6u
#define APC_ERROR_NOT_ENOUGH_MEMORY 8u
#define APC_ERROR_TOO_MANY_OPEN_FILES 4u
#define APC_ERROR_GEN_FAILURE 31u
#define APC_ERROR_HANDLE_EOF 38u
#define APC_ERROR_NOT_SUPPORTED 50u
#define APC_ERROR_FILE_EXISTS 80u
#define APC_ERROR_INVALID_PARAMETER 87u
#define APC_ERROR_BROKEN_PIPE 109u
#define APC_ERROR_DISK_FULL 112u
#define APC_ERROR_SEM_TIMEOUT 121u
#define APC_ERROR_INVALID_NAME 123u
#define APC_ERROR_ALREADY_EXISTS 183u
#define APC_ERROR_BAD_PIPE 230u
#define APC_ERROR_PIPE_BUSY 231u
#define APC_ERROR_NO_DATA 232u
#define APC_ERROR_PIPE_NOT_CONNECTED 233u
#define APC_ERROR_MORE_DATA 234u
#define APC_ERROR_NOT_OWNER 288u
#define APC_ERROR_TOO_MANY_POSTS 298u
#define APC_ERROR_PIPE_CONNECTED 535u
#define APC_ERROR_PIPE_LISTENING 536u
#define APC_ERROR_MUTANT_LIMIT_EXCEEDED 587u
#define APC_ERROR_ABANDONED_WAIT_0 735u
#define APC_ERROR_OPERATION_ABORTED 995u
#define APC_ERROR_IO_INCOMPLETE 996u
#define APC_ERROR_IO_PENDING 997u
#define APC_ERROR_NOACCESS 998u
#define APC_ERROR_NOT_FOUND 1168u
#define APC_ERROR_INVALID_USER_BUFFER 1784u

/* X(name, message): the names and messages of the values above. */
#define APC_STATUS_MAP(X)                                                      \
	X(WAIT_OBJECT_0, "the wait was satisfied")                             \
	X(WAIT_ABANDONED_0, "the wait acquired an abandoned mutex")            \
	X(WAIT_IO_COMPLETION, "the wait ended to run APCs")                    \
	X(WAIT_TIMEOUT, "the time-out elapsed")                                \
	X(WAIT_FAILED, "the wait failed")                                      \
	X(STILL_ACTIVE, "the thread is still running")                         \
	X(ERROR_INVALID_FUNCTION, "the function is not valid for the handle")  \
	X(ERROR_FILE_NOT_FOUND, "the file was not found")                      \
	X(ERROR_ACCESS_DENIED, "access is denied")                             \
	X(ERROR_INVALID_HANDLE, "the handle is invalid")                       \
	X(ERROR_NOT_ENOUGH_MEMORY, "not enough memory")                        \
	X(ERROR_TOO_MANY_OPEN_FILES, "too many open files")                    \
	X(ERROR_GEN_FAILURE, "the thread has ended")                           \
	X(ERROR_HANDLE_EOF, "reached the end of the file")                     \
	X(ERROR_NOT_SUPPORTED, "the request is not supported")                 \
	X(ERROR_FILE_EXISTS, "the file exists")                                \
	X(ERROR_INVALID_PARAMETER, "the parameter is incorrect")               \
	X(ERROR_BROKEN_PIPE, "the pipe has been ended")                        \
	X(ERROR_DISK_FULL, "there is not enough space on the disk")            \
	X(ERROR_SEM_TIMEOUT, "the time-out period expired")                    \
	X(ERROR_INVALID_NAME, "the name is not valid")                         \
	X(ERROR_ALREADY_EXISTS, "the object already exists")                   \
	X(ERROR_BAD_PIPE, "the pipe state is invalid")                         \
	X(ERROR_PIPE_BUSY, "all pipe instances are busy")                      \
	X(ERROR_NO_DATA, "the pipe is being closed")                           \
	X(ERROR_PIPE_NOT_CONNECTED,                                            \
	  "no process is on the other end of the pipe")                        \
	X(ERROR_MORE_DATA, "more data is available")                           \
	X(ERROR_NOT_OWNER, "the caller does not own the mutex")                \
	X(ERROR_TOO_MANY_POSTS, "the semaphore would pass its maximum")        \
	X(ERROR_PIPE_CONNECTED, "a client is already connected")               \
	X(ERROR_PIPE_LISTENING, "the pipe waits for a client to connect")      \
	X(ERROR_MUTANT_LIMIT_EXCEEDED, "the mutex recursion count is full")    \
	X(ERROR_ABANDONED_WAIT_0, "the completion port was closed")            \
	X(ERROR_OPERATION_ABORTED, "the I/O operation was cancelled")          \
	X(ERROR_IO_INCOMPLETE, "the I/O operation has not finished")           \
	X(ERROR_IO_PENDING, "the I/O operation is in progress")                \
	X(ERROR_NOACCESS, "invalid access to a memory location")               \
	X(ERROR_NOT_FOUND, "nothing was found to cancel")                      \
	X(ERROR_INVALID_USER_BUFFER, "too many I/O requests are outstanding")

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
