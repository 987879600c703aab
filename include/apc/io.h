/*
 * apcrt: overlapped I/O, completion routines and completion ports.
 *
 * Contract: ../shared/spec/win32-apc-contract.md sections E (overlapped
 * I/O), F (completion ports), G6-G7 (I/O at thread exit) and N1-N2
 * (anonymous pipes).  I/O handles are ordinary apcrt handles: close them
 * with apc_close(), wait on them with apc_wait() (a file handle is
 * signalled when an operation started with a NULL event finishes, E9).
 *
 * Three ways to learn that an operation finished, as in Win32:
 *  - a completion routine (apc_read_ex / apc_write_ex): an APC to the
 *    issuing thread, run only in its alertable waits;
 *  - the OVERLAPPED record: Internal leaves APC_STATUS_PENDING, the event
 *    in hEvent (or the handle itself) is signalled (apc_read / apc_write);
 *  - a packet on the completion port the handle is bound to.
 * The last two happen even if the issuing thread never waits again.
 *
 * apc_io_engine() names the engine that does the work: on Linux, io_uring
 * ("uring") where it can be set up, otherwise a fallback on threads and
 * epoll ("fallback"); APC_ENGINE=uring|fallback in the environment forces
 * one.  On Windows it is "win32", the native calls.
 */
#ifndef APC_IO_H
#define APC_IO_H

#include <stdbool.h>
#include <stddef.h>

#include "defs.h"
#include "status.h"

APC_BEGIN_DECLS

/*
 * NT status values that appear in apc_overlapped.Internal (and in
 * apc_overlapped_entry.Internal).  Any other failure is stored as
 * APC_NTSTATUS_FROM_WIN32(error), which apc_overlapped_result maps back.
 */
#define APC_STATUS_SUCCESS 0x00000000u
#define APC_STATUS_PENDING 0x00000103u
#define APC_STATUS_BUFFER_OVERFLOW 0x80000005u
#define APC_STATUS_INVALID_HANDLE 0xC0000008u
#define APC_STATUS_INVALID_PARAMETER 0xC000000Du
#define APC_STATUS_END_OF_FILE 0xC0000011u
#define APC_STATUS_ACCESS_DENIED 0xC0000022u
#define APC_STATUS_CANCELLED 0xC0000120u
#define APC_STATUS_PIPE_BROKEN 0xC000014Bu
#define APC_NTSTATUS_FROM_WIN32(e) (0xC0070000u | ((uint32_t)(e)&0xFFFFu))

/*
 * The OVERLAPPED record (E1), with the Win32 layout and member names
 * (on Windows the backend passes it to kernel32 as an OVERLAPPED):
 * 32 bytes on LP64, 20 on ILP32.  Internal is the operation's NT status
 * (APC_STATUS_PENDING while it runs), InternalHigh its byte count; Offset
 * and OffsetHigh are the 64-bit file position (ignored for pipes and
 * sockets, never modified); hEvent is an event handle or NULL, ignored by
 * apc_read_ex / apc_write_ex.
 */
typedef struct apc_overlapped {
	uintptr_t Internal;
	uintptr_t InternalHigh;
	union {
		struct {
			uint32_t Offset;
			uint32_t OffsetHigh;
		};
		void *Pointer;
	};
	apc_handle hEvent;
} apc_overlapped;

/*
 * A completion routine (LPOVERLAPPED_COMPLETION_ROUTINE, E16): the Win32
 * error (0 on success), the bytes transferred (0 on error), and the
 * OVERLAPPED the operation was started with.  Once it is entered apcrt
 * never touches that OVERLAPPED again (E17).
 */
typedef void (*apc_io_fn)(uint32_t error, uint32_t bytes, apc_overlapped *ov);

/* HasOverlappedIoCompleted (E5): an acquire load, so that the buffer and
 * InternalHigh are final when it is true.  Only the low 32 bits count, as
 * in the Windows SDK's macro (Wine writes no more). */
#if defined(__GNUC__)
#define apc_overlapped_done(ov)                                                \
	((uint32_t)__atomic_load_n(&(ov)->Internal, __ATOMIC_ACQUIRE) !=       \
	 APC_STATUS_PENDING)
#else
#define apc_overlapped_done(ov)                                                \
	((uint32_t) * (volatile uintptr_t *)&(ov)->Internal !=                 \
	 APC_STATUS_PENDING)
#endif

/* ---- opening ------------------------------------------------------------ */

/* Access (CreateFile's dwDesiredAccess). */
#define APC_GENERIC_READ 0x80000000u
#define APC_GENERIC_WRITE 0x40000000u

/* Creation disposition (CreateFile's dwCreationDisposition). */
#define APC_CREATE_NEW 1u
#define APC_CREATE_ALWAYS 2u
#define APC_OPEN_EXISTING 3u
#define APC_OPEN_ALWAYS 4u
#define APC_TRUNCATE_EXISTING 5u

/* Flags (CreateFile's dwFlagsAndAttributes; others are ignored). */
#define APC_FILE_FLAG_OVERLAPPED 0x40000000u

/*
 * apc_file_open - open or create a regular file (CreateFile)
 *
 * path is UTF-8.  access is APC_GENERIC_READ and/or APC_GENERIC_WRITE;
 * disposition one of APC_CREATE_NEW ... APC_TRUNCATE_EXISTING; flags may
 * hold APC_FILE_FLAG_OVERLAPPED, without which the handle takes only
 * synchronous apc_read / apc_write (ov NULL).  There is no sharing mode:
 * POSIX files are always shared.
 *
 * Returns 0, APC_ERROR_FILE_NOT_FOUND, APC_ERROR_FILE_EXISTS,
 * APC_ERROR_ACCESS_DENIED, APC_ERROR_INVALID_PARAMETER,
 * APC_ERROR_TOO_MANY_OPEN_FILES or APC_ERROR_NOT_ENOUGH_MEMORY.
 */
APC_API uint32_t apc_file_open(const char *path, uint32_t access,
			       uint32_t disposition, uint32_t flags,
			       apc_handle *out);

/*
 * apc_pipe_create - an anonymous byte pipe (CreatePipe, N1)
 *
 * *read takes reads, *write takes writes.  size is a buffer size hint (0
 * for the default).  On POSIX both ends also take overlapped operations
 * (an apcrt extension: Windows' anonymous pipes are synchronous only).
 * A read whose writer is gone fails with APC_ERROR_BROKEN_PIPE; a write
 * whose reader is gone fails with APC_ERROR_NO_DATA and never raises
 * SIGPIPE (N2).
 */
APC_API uint32_t apc_pipe_create(apc_handle *read, apc_handle *write,
				 uint32_t size);

#if !defined(_WIN32)
/*
 * apc_handle_from_fd - wrap a descriptor as an I/O handle (POSIX only)
 *
 * fd may be a regular file, a pipe, a socket or any descriptor read() and
 * write() work on.  The handle owns fd from then on: apc_close() closes
 * it (also when this call fails).  flags as for apc_file_open.  Access
 * follows the descriptor's open mode.
 */
APC_API uint32_t apc_handle_from_fd(int fd, uint32_t flags, apc_handle *out);
#endif

/* ---- reading and writing ----------------------------------------------- */

/*
 * apc_read / apc_write - ReadFile / WriteFile
 *
 * With ov NULL the call is synchronous (any handle).  With ov the handle
 * must be overlapped: the call returns 0 when the operation finished at
 * once (and *bytes, when not NULL, holds the count), APC_ERROR_IO_PENDING
 * when it runs on, or another error when it failed to start (E7, no
 * notification then).  A started operation sets Internal to
 * APC_STATUS_PENDING, resets hEvent (or the handle when hEvent is NULL)
 * and on completion publishes Internal / InternalHigh, then signals the
 * event (or the handle) and posts a packet to the bound port, unless
 * hEvent's lowest bit is set (E28).  Offset/OffsetHigh give the file
 * position; Offset = OffsetHigh = 0xFFFFFFFF appends (writes).
 *
 * A read of a message (a named pipe in message read mode, N6) into a
 * buffer shorter than the message reads the part that fits and returns
 * APC_ERROR_MORE_DATA, a warning: the rest comes with the next read.
 * Synchronous, *bytes holds the part's length; overlapped, the operation
 * has finished with Internal = APC_STATUS_BUFFER_OVERFLOW, *bytes is 0,
 * and apc_overlapped_result gives the length with APC_ERROR_MORE_DATA.
 */
APC_API uint32_t apc_read(apc_handle h, void *buf, uint32_t len,
			  uint32_t *bytes, apc_overlapped *ov);
APC_API uint32_t apc_write(apc_handle h, const void *buf, uint32_t len,
			   uint32_t *bytes, apc_overlapped *ov);

/*
 * apc_read_ex / apc_write_ex - ReadFileEx / WriteFileEx
 *
 * Start an operation whose completion calls fn(error, bytes, ov) as an
 * APC on the calling thread, in its next alertable wait after completion,
 * exactly once, also when it finished at once (E14).  hEvent is ignored.
 * Returns 0 when started; otherwise an error and fn is never called
 * (E15): APC_ERROR_INVALID_PARAMETER (ov or fn NULL, a handle bound to a
 * port, E20, or on POSIX a synchronous handle, E21; Windows leaves that
 * case to kernel32), APC_ERROR_INVALID_HANDLE,
 * APC_ERROR_ACCESS_DENIED, APC_ERROR_HANDLE_EOF (a read at or past the
 * end of a file, E26), APC_ERROR_NOT_ENOUGH_MEMORY (the per-thread limit
 * of operations in flight, E24).
 */
APC_API uint32_t apc_read_ex(apc_handle h, void *buf, uint32_t len,
			     apc_overlapped *ov, apc_io_fn fn);
APC_API uint32_t apc_write_ex(apc_handle h, const void *buf, uint32_t len,
			      apc_overlapped *ov, apc_io_fn fn);

/*
 * apc_overlapped_result - GetOverlappedResult(Ex)
 *
 * When the operation has finished, returns at once: 0 with *bytes =
 * InternalHigh, or the operation's Win32 error (E30).  When it is still
 * pending and ms is 0: APC_ERROR_IO_INCOMPLETE (E31, E33).  Otherwise
 * waits up to ms (APC_INFINITE for no limit) on hEvent, or on h when
 * hEvent is NULL (E32): APC_WAIT_TIMEOUT when the time passed (E34),
 * APC_WAIT_IO_COMPLETION when an alertable wait ran APCs (E35).
 */
APC_API uint32_t apc_overlapped_result(apc_handle h, apc_overlapped *ov,
				       uint32_t *bytes, uint32_t ms,
				       bool alertable);

/* ---- cancellation ------------------------------------------------------- */

/*
 * apc_cancel_io - CancelIo: cancel the calling thread's operations on h
 * (E36).  Returns 0 (also when nothing was pending) or
 * APC_ERROR_INVALID_HANDLE.
 *
 * apc_cancel_io_ex - CancelIoEx: cancel the operations on h started with
 * ov, or every operation on h when ov is NULL, from any thread (E39,
 * E40).  Returns 0, APC_ERROR_NOT_FOUND when nothing was cancelled (E41),
 * or APC_ERROR_INVALID_HANDLE.
 *
 * Cancelled operations finish with APC_ERROR_OPERATION_ABORTED through
 * their usual route, unless they finished first (E43).  Neither call
 * waits for that (E42) nor runs a routine itself (E38).
 */
APC_API uint32_t apc_cancel_io(apc_handle h);
APC_API uint32_t apc_cancel_io_ex(apc_handle h, apc_overlapped *ov);

/*
 * apc_cancel_synchronous_io - CancelSynchronousIo (E45)
 *
 * Ends the synchronous apc_read / apc_write (ov NULL) that thread is
 * blocked in; that call returns APC_ERROR_OPERATION_ABORTED.  Returns 0,
 * APC_ERROR_NOT_FOUND when the thread is not blocked in one (overlapped
 * operations are never touched), or APC_ERROR_INVALID_HANDLE.  On POSIX
 * a synchronous operation can be cancelled while it waits for a stream
 * to become ready; a regular-file transfer in progress runs to its end.
 */
APC_API uint32_t apc_cancel_synchronous_io(apc_handle thread);

/* Modes for apc_set_completion_modes (SetFileCompletionNotificationModes). */
#define APC_FILE_SKIP_COMPLETION_PORT_ON_SUCCESS 0x1u
#define APC_FILE_SKIP_SET_EVENT_ON_HANDLE 0x2u

/*
 * apc_set_completion_modes - SetFileCompletionNotificationModes (F7)
 *
 * APC_FILE_SKIP_COMPLETION_PORT_ON_SUCCESS: an operation that finishes at
 * once (the call returns 0) queues no packet to the bound port.
 * APC_FILE_SKIP_SET_EVENT_ON_HANDLE: completions no longer signal the
 * handle itself (E9).  Modes only add up; they cannot be cleared.
 * Returns 0, APC_ERROR_INVALID_HANDLE or APC_ERROR_INVALID_PARAMETER.
 */
APC_API uint32_t apc_set_completion_modes(apc_handle h, uint32_t modes);

/* ---- the engine --------------------------------------------------------- */

/*
 * apc_io_engine - which engine does the I/O: "uring", "fallback" or
 * "win32".  The first call decides (APC_ENGINE, else a probe of
 * io_uring); a static string.  Returns NULL when APC_ENGINE names an
 * engine that cannot run here (APC_ENGINE=uring without io_uring); I/O
 * calls then fail with APC_ERROR_NOT_SUPPORTED.
 */
APC_API const char *apc_io_engine(void);

APC_END_DECLS

#endif /* APC_IO_H */
