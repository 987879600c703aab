/*
 * apcrt: waitable timers with completion routines.
 *
 * Contract: ../shared/spec/win32-apc-contract.md section D.  A timer is a
 * waitable object (apc_wait, apc_wait_multiple) that becomes signalled at
 * its due time and, if set with a routine, queues that routine as an APC
 * to the thread that set it.  Close it with apc_close().
 */
#ifndef APC_TIMER_H
#define APC_TIMER_H

#include <stdbool.h>

#include "defs.h"
#include "status.h"

APC_BEGIN_DECLS

/*
 * A timer's completion routine (PTIMERAPCROUTINE): receives the argument
 * given to apc_timer_set and the low and high 32 bits of the UTC time, as
 * a FILETIME (100 ns units since 1601-01-01), at which the timer was
 * signalled (D12).
 */
typedef void (*apc_timer_fn)(void *arg, uint32_t time_low, uint32_t time_high);

/*
 * apc_timer_create - create a waitable timer (CreateWaitableTimer)
 *
 * The timer starts inactive and unsignalled (D1).  A manual-reset
 * (notification) timer stays signalled until it is set again and releases
 * every waiter; a synchronization timer is reset by the one wait it
 * satisfies (D7).
 *
 * Returns 0, APC_ERROR_INVALID_PARAMETER (out NULL) or
 * APC_ERROR_NOT_ENOUGH_MEMORY.
 */
APC_API uint32_t apc_timer_create(bool manual_reset, apc_handle *out);

/*
 * apc_timer_set - arm a timer (SetWaitableTimer)
 *
 * due is in 100 ns units: negative is relative to now (monotonic clock),
 * positive is an absolute UTC FILETIME; a due time already past fires at
 * once (D2, D3).  period_ms 0 fires once, > 0 re-arms every period_ms,
 * each due time computed from the first so that periods never drift
 * (D4, D10).  Setting stops the timer first, makes it unsignalled and
 * removes a routine call still queued by an earlier expiry (D5, D6).
 * With fn, each expiry queues fn(arg, time) as an APC to the calling
 * thread, at most one at a time (D11, D13); it runs only in that thread's
 * alertable waits, and not at all once that thread has ended (D15).
 * A timer never fires before its due time (D21).
 *
 * An absolute due time follows the wall clock until the timer first
 * fires: if the system time is set meanwhile, the timer fires by the new
 * time (D18).  After that first expiry a period runs on the monotonic
 * clock.  Relative due times never follow the wall clock.
 *
 * Returns 0, APC_ERROR_INVALID_PARAMETER (period_ms < 0, D4) or
 * APC_ERROR_INVALID_HANDLE (not a timer, D22).
 */
APC_API uint32_t apc_timer_set(apc_handle timer, int64_t due, int32_t period_ms,
			       apc_timer_fn fn, void *arg);

/*
 * apc_timer_cancel - deactivate a timer (CancelWaitableTimer)
 *
 * Stops the timer without changing its signalled state and removes a
 * routine call still queued (D14).  Cancelling an inactive timer succeeds.
 *
 * Returns 0 or APC_ERROR_INVALID_HANDLE (not a timer, D22).
 */
APC_API uint32_t apc_timer_cancel(apc_handle timer);

/*
 * apc_filetime_now - the current UTC time as a FILETIME
 * (GetSystemTimeAsFileTime): 100 ns units since 1601-01-01.
 */
APC_API int64_t apc_filetime_now(void);

APC_END_DECLS

#endif /* APC_TIMER_H */
