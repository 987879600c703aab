/*
 * apcrt: threads, handles, the per-thread APC queue and alertable sleep.
 *
 * Contract: ../shared/spec/win32-apc-contract.md sections A (APC queue),
 * B (alertable waits), C.5 (thread objects), G (thread exit) and M
 * (handles, pseudo-handles, suspended start).
 *
 * Statuses: each call lists the values apcrt itself returns.  On the
 * Windows backend, where each call is the kernel32 call of the same name,
 * a failure inside kernel32 is returned as that call's Win32 error code
 * (GetLastError), which may be one the list does not name.
 */
#ifndef APC_THREAD_H
#define APC_THREAD_H

#include <stdbool.h>

#include "defs.h"
#include "status.h"

APC_BEGIN_DECLS

/* A thread's start routine: returns the thread's 32-bit exit code. */
typedef uint32_t (*apc_thread_fn)(void *arg);

/* An APC routine: receives the data value given to apc_queue(). */
typedef void (*apc_fn)(uintptr_t data);

/* apc_thread_create flag: create the thread suspended (CREATE_SUSPENDED). */
#define APC_THREAD_SUSPENDED 0x4u

/* apc_handle_duplicate options (DUPLICATE_CLOSE_SOURCE, _SAME_ACCESS). */
#define APC_DUPLICATE_CLOSE_SOURCE 0x1u
#define APC_DUPLICATE_SAME_ACCESS 0x2u

/*
 * apc_thread_create - start a thread (CreateThread)
 *
 * Starts a thread that runs fn(arg); its return value becomes the exit
 * code.  stack_size 0 takes the system default; other values are rounded
 * up to the system minimum.  flags is 0 or APC_THREAD_SUSPENDED: a
 * suspended thread runs no user code until apc_thread_resume().  APCs
 * queued to the new thread before it starts run before fn, in order
 * (contract A12).  On success *out receives a handle to the thread
 * (close it with apc_close) and, if tid is not NULL, *tid its id.
 *
 * Returns 0, APC_ERROR_INVALID_PARAMETER (fn or out NULL, unknown flag),
 * or APC_ERROR_NOT_ENOUGH_MEMORY (no memory, no thread, no handle slot).
 * On failure *out is set to NULL.
 */
APC_API uint32_t apc_thread_create(apc_thread_fn fn, void *arg,
				   size_t stack_size, uint32_t flags,
				   apc_handle *out, uint32_t *tid);

/*
 * apc_thread_resume - start a thread created suspended (ResumeThread)
 *
 * If thread was created with APC_THREAD_SUSPENDED and has not been
 * resumed, it starts; *prev_count (if not NULL) receives the previous
 * suspend count: 1 in that case, 0 for a thread that is already running or
 * has ended (which is unaffected).  Suspending a running thread is not
 * offered on POSIX (contract M6).
 *
 * Returns 0 or APC_ERROR_INVALID_HANDLE (not a thread handle).
 */
APC_API uint32_t apc_thread_resume(apc_handle thread, uint32_t *prev_count);

/*
 * apc_thread_self - a real handle to the calling thread
 *
 * Unlike APC_CURRENT_THREAD, the handle names the calling thread from any
 * thread, for as long as it is open (DuplicateHandle of the pseudo-handle,
 * contract M3).  Any pthread may call it: a thread that apcrt did not
 * create is adopted on its first use of the API and released when it ends.
 * Each call returns a new handle, to be closed with apc_close().
 *
 * Returns 0, APC_ERROR_INVALID_PARAMETER (out NULL) or
 * APC_ERROR_NOT_ENOUGH_MEMORY.
 */
APC_API uint32_t apc_thread_self(apc_handle *out);

/*
 * apc_thread_exit - end the calling thread (ExitThread)
 *
 * Ends the calling thread with the given exit code.  APCs still queued to
 * it are discarded without running (contract G1); waiters on its handle
 * are released.  May be called from inside an APC (G3): the interrupted
 * wait never returns.  Does not return.
 */
APC_API APC_NORETURN void apc_thread_exit(uint32_t code);

/*
 * apc_thread_exit_code - a thread's exit code (GetExitCodeThread)
 *
 * Stores APC_STILL_ACTIVE (259) in *code while the thread runs, its exit
 * code once it has ended (contract C46).
 *
 * Returns 0, APC_ERROR_INVALID_HANDLE or APC_ERROR_INVALID_PARAMETER (code
 * NULL).
 */
APC_API uint32_t apc_thread_exit_code(apc_handle thread, uint32_t *code);

/*
 * apc_thread_id - a thread's id (GetThreadId)
 *
 * Returns the thread's id (on Linux its kernel tid), valid after the
 * thread ended while the handle stays open, or 0 for a handle that does
 * not name a thread.  apc_thread_id(APC_CURRENT_THREAD) is the calling
 * thread's id (GetCurrentThreadId).
 */
APC_API uint32_t apc_thread_id(apc_handle thread);

/*
 * apc_close - close a handle (CloseHandle)
 *
 * Frees the handle's slot and drops its reference to the object; the
 * object lives on while other handles or waiters hold it (contract M4).
 * Closing a pseudo-handle succeeds and does nothing (M1).
 *
 * Returns 0 or APC_ERROR_INVALID_HANDLE (invalid, stale or already
 * closed).
 */
APC_API uint32_t apc_close(apc_handle handle);

/*
 * apc_handle_duplicate - a second handle to the same object
 * (DuplicateHandle within the current process)
 *
 * *out receives a new, independent handle to src's object; for
 * APC_CURRENT_THREAD, a real handle to the calling thread (contract M3).
 * options may hold APC_DUPLICATE_CLOSE_SOURCE, which closes src even
 * when the duplication fails (M5), and APC_DUPLICATE_SAME_ACCESS, which is
 * accepted and has no effect (POSIX handles carry full access).
 *
 * Returns 0, APC_ERROR_INVALID_HANDLE (src invalid),
 * APC_ERROR_INVALID_PARAMETER (out NULL, unknown option) or
 * APC_ERROR_NOT_ENOUGH_MEMORY (handle table full).  On failure *out is
 * NULL.
 */
APC_API uint32_t apc_handle_duplicate(apc_handle src, uint32_t options,
				      apc_handle *out);

/*
 * apc_queue - queue an APC to a thread (QueueUserAPC)
 *
 * Adds fn(data) to the APC queue of thread (any thread, the caller
 * included, also APC_CURRENT_THREAD).  It never runs inside this call
 * (A2); it runs on the target thread only, in one of its alertable waits
 * or apc_test_alert() (A3), exactly once (A9).  APCs from one producer
 * run in the order queued (A4, A5).  Safe from any thread, any number of
 * producers, from inside APCs.  Queuing to a running thread makes no
 * system call; a thread asleep in an alertable wait is woken once.
 *
 * Returns 0; APC_ERROR_INVALID_HANDLE (not a live thread handle, A18);
 * APC_ERROR_GEN_FAILURE (the thread has ended or is ending, A19, G2);
 * APC_ERROR_INVALID_PARAMETER (fn NULL, A21);
 * APC_ERROR_NOT_ENOUGH_MEMORY (no memory, or the queue limit of
 * apc_set_queue_limit reached, A23).  A refused APC never runs.
 */
APC_API uint32_t apc_queue(apc_handle thread, apc_fn fn, uintptr_t data);

/*
 * apc_set_queue_limit - bound the number of pending APCs per thread
 *
 * From now on apc_queue refuses, with APC_ERROR_NOT_ENOUGH_MEMORY, an APC
 * that would make its target's queue hold more than max_pending APCs not
 * yet started.  0 (the default) means no limit other than memory.  APCs
 * queued before the call do not count towards the limit.  Process-wide.
 *
 * POSIX only: Windows bounds a thread's APC queue by kernel memory alone
 * and has no such setting, so the Windows backend does not offer it.
 */
#ifndef _WIN32
APC_API void apc_set_queue_limit(uint32_t max_pending);
#endif /* !_WIN32 */

/*
 * apc_sleep - sleep, alertably or not (SleepEx)
 *
 * Waits ms milliseconds on the monotonic clock, never less (B24);
 * APC_INFINITE waits for ever.  A non-alertable sleep runs no APC and is
 * not cut short by one (A11); 0 ms yields the processor (B4).  An
 * alertable sleep runs every queued APC -- including those queued while
 * it drains, by other threads or by the APCs themselves (A6) -- as soon
 * as there is one, and then returns.
 *
 * Returns 0 when the time elapsed (or after the yield), or
 * APC_WAIT_IO_COMPLETION (0xC0) when one or more APCs ran (B2, B3, B5).
 */
APC_API uint32_t apc_sleep(uint32_t ms, bool alertable);

/*
 * apc_wait - wait for one object (WaitForSingleObjectEx)
 *
 * Waits until handle's object is signalled, the timeout elapses (ms; 0
 * polls; APC_INFINITE never times out), or -- if alertable -- APCs have
 * run.  Objects are checked before APCs, and APCs before the timeout
 * (contract B10, B11).  The waitable objects so far are threads: a thread
 * handle is signalled, for good, once its thread has ended (C45).
 *
 * Returns APC_WAIT_OBJECT_0, APC_WAIT_TIMEOUT, APC_WAIT_IO_COMPLETION or
 * APC_WAIT_FAILED.  A wait result cannot carry an error code (WAIT_OBJECT_0
 * + 6 is ERROR_INVALID_HANDLE), so on APC_WAIT_FAILED the reason is
 * stored in *error when error is not NULL: APC_ERROR_INVALID_HANDLE for a
 * handle that names no waitable object (I10).  *error is left alone on
 * every other result.
 */
APC_API uint32_t apc_wait(apc_handle handle, uint32_t ms, bool alertable,
			  uint32_t *error);

/*
 * apc_test_alert - run the caller's pending APCs without waiting
 * (NtTestAlert)
 *
 * Runs every APC queued to the calling thread, including those queued
 * meanwhile, and returns 0 -- also when there was nothing to run (A13).
 */
APC_API uint32_t apc_test_alert(void);

/*
 * apc_last_error / apc_set_last_error - the thread's Win32 last error
 *
 * Storage for GetLastError/SetLastError of <apc/windows.h>.  The portable
 * API neither reads nor writes it.
 */
APC_API uint32_t apc_last_error(void);
APC_API void apc_set_last_error(uint32_t error);

APC_END_DECLS

#endif /* APC_THREAD_H */
