/*
 * apcrt: dispatcher objects -- events, semaphores, mutexes -- and waits on
 * several objects.
 *
 * Contract: ../shared/spec/win32-apc-contract.md section C (objects and
 * multi-object waits) and B (alertable waits).  Every object is named by
 * an apc_handle and closed with apc_close(); any waitable handle (these,
 * and thread handles) can be passed to apc_wait() and apc_wait_multiple().
 * Named objects are out of scope.
 */
#ifndef APC_SYNC_H
#define APC_SYNC_H

#include <stdbool.h>

#include "defs.h"
#include "status.h"

APC_BEGIN_DECLS

/* Most handles one wait takes (MAXIMUM_WAIT_OBJECTS). */
#define APC_MAXIMUM_WAIT_OBJECTS 64u

/*
 * apc_event_create - create an event (CreateEvent)
 *
 * A manual-reset event stays signalled until apc_event_reset() and
 * releases every waiter (C22); an auto-reset one is reset by the one wait
 * it satisfies (C20).  initial_state true creates it signalled (C23).
 *
 * Returns 0, APC_ERROR_INVALID_PARAMETER (out NULL) or
 * APC_ERROR_NOT_ENOUGH_MEMORY.  On failure *out is NULL.
 */
APC_API uint32_t apc_event_create(bool manual_reset, bool initial_state,
				  apc_handle *out);

/*
 * apc_event_set / apc_event_reset / apc_event_pulse (SetEvent, ResetEvent,
 * PulseEvent)
 *
 * Set makes the event signalled and releases waiters: all of them for a
 * manual-reset event, one for an auto-reset one (which it then resets);
 * signals do not accumulate (C21).  Reset makes it unsignalled (a no-op
 * if it is already).  Pulse releases the threads waiting at that instant
 * that it can release -- all for manual-reset, at most one for auto-reset,
 * a wait-all waiter only if its other objects are signalled too -- and
 * leaves the event unsignalled (C24-C27).
 *
 * Returns 0 or APC_ERROR_INVALID_HANDLE (not an event, C28).
 */
APC_API uint32_t apc_event_set(apc_handle event);
APC_API uint32_t apc_event_reset(apc_handle event);
APC_API uint32_t apc_event_pulse(apc_handle event);

/*
 * apc_semaphore_create - create a semaphore (CreateSemaphore)
 *
 * Requires maximum > 0 and 0 <= initial <= maximum (C29).  Signalled while
 * its count is above 0; each wait it satisfies takes 1 (C30).
 *
 * Returns 0, APC_ERROR_INVALID_PARAMETER or APC_ERROR_NOT_ENOUGH_MEMORY.
 */
APC_API uint32_t apc_semaphore_create(int32_t initial, int32_t maximum,
				      apc_handle *out);

/*
 * apc_semaphore_release - add to a semaphore's count (ReleaseSemaphore)
 *
 * Adds count (> 0) and stores the count before the release in *previous
 * when previous is not NULL (C31).  Waiters take from the new count at
 * once, in the order they started waiting (C34, C16).
 *
 * Returns 0; APC_ERROR_INVALID_PARAMETER (count <= 0, C33);
 * APC_ERROR_TOO_MANY_POSTS (the count would pass the maximum: nothing
 * changes and *previous is not written, C32); APC_ERROR_INVALID_HANDLE.
 */
APC_API uint32_t apc_semaphore_release(apc_handle semaphore, int32_t count,
				       int32_t *previous);

/*
 * apc_mutex_create - create a mutex (CreateMutex)
 *
 * Signalled while nobody owns it.  initial_owner true makes the caller the
 * owner with recursion count 1 (C35).  The owner's own waits succeed at
 * once and count recursions (C36).  When the owner thread ends, the mutex
 * is abandoned: the next thread to acquire it gets WAIT_ABANDONED_0 + i
 * once, and owns it (C40, C41).
 *
 * Returns 0, APC_ERROR_INVALID_PARAMETER or APC_ERROR_NOT_ENOUGH_MEMORY.
 */
APC_API uint32_t apc_mutex_create(bool initial_owner, apc_handle *out);

/*
 * apc_mutex_release - release one recursion of a mutex (ReleaseMutex)
 *
 * The last release makes it unowned and, if threads wait, one of them the
 * owner (C39).
 *
 * Returns 0, APC_ERROR_NOT_OWNER (the caller does not own it, C37) or
 * APC_ERROR_INVALID_HANDLE.
 */
APC_API uint32_t apc_mutex_release(apc_handle mutex);

/*
 * apc_wait_multiple - wait for any or all of several objects
 * (WaitForMultipleObjectsEx)
 *
 * Waits on count (1..APC_MAXIMUM_WAIT_OBJECTS) handles.  Wait-any
 * returns WAIT_OBJECT_0 + i for the lowest signalled index and acquires
 * only that object (C3, C4); wait-all acquires every object in one atomic
 * step once all are signalled at the same instant, and holds nothing
 * before (C5, C6, C17).  Timeouts and alertable behave as in apc_wait;
 * a wait ended by APCs acquires nothing (B8, B9).
 *
 * Returns WAIT_OBJECT_0 + i, WAIT_ABANDONED_0 + i (for wait-all exactly
 * WAIT_ABANDONED_0, C7), WAIT_TIMEOUT, WAIT_IO_COMPLETION or WAIT_FAILED
 * with *error (when error is not NULL): ERROR_INVALID_PARAMETER (count 0
 * or above the limit, C1; an object twice in a wait-all, C9),
 * ERROR_INVALID_HANDLE (any handle invalid, or a pseudo-handle, C10,
 * C12), ERROR_MUTANT_LIMIT_EXCEEDED (a mutex's recursion count is full,
 * C44).  A failed wait modifies no object.
 */
APC_API uint32_t apc_wait_multiple(uint32_t count, const apc_handle *handles,
				   bool wait_all, uint32_t ms, bool alertable,
				   uint32_t *error);

/*
 * apc_signal_and_wait - signal one object, then wait on another
 * (SignalObjectAndWait)
 *
 * Signals `signal` (event: set; semaphore: release 1; mutex: release once)
 * and then waits on `wait` as apc_wait() does (C48).  If the signal fails
 * there is no wait: WAIT_FAILED with the signal's error
 * (ERROR_TOO_MANY_POSTS, ERROR_NOT_OWNER, or ERROR_INVALID_HANDLE for an
 * object that cannot be signalled, C50).  An alertable wait ended by APCs
 * does not undo the signal (B19).
 */
APC_API uint32_t apc_signal_and_wait(apc_handle signal, apc_handle wait,
				     uint32_t ms, bool alertable,
				     uint32_t *error);

APC_END_DECLS

#endif /* APC_SYNC_H */
