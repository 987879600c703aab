/*
 * Waits: apc_sleep (a wait on no object), apc_wait (one object) and
 * apc_test_alert.
 *
 * Every wait has the same four phases (the shape of ntsync's wait):
 *   1. check: the object first, then -- if alertable -- the APC queue,
 *      then the timeout (contract B10, B11);
 *   2. queue ourselves on the object and arm the doorbell;
 *   3. look again (a signal or APC may have arrived before the arming was
 *      visible) and otherwise park until rung or the deadline;
 *   4. disarm, unqueue, and go back to 1.
 * An alertable wait that finds APCs runs all of them, including those
 * queued while it runs them (A6), and returns WAIT_IO_COMPLETION without
 * looking at its objects again (B8, and the trap of L3 in the contract).
 *
 * Timeouts are absolute deadlines on CLOCK_MONOTONIC, so a wake-up or an
 * EINTR (B27) costs no recomputation and no wait ends early (B24).
 */
#include <errno.h>
#include <sched.h>
#include <unistd.h>

#include "internal.h"

void apc__deadline_after_ms(struct timespec *ts, uint32_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

bool apc__deadline_passed(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec ||
	       (now.tv_sec == deadline->tv_sec &&
		now.tv_nsec >= deadline->tv_nsec);
}

uint32_t apc_test_alert(void)
{
	struct apc__thread *t = apc__thread_current_noadopt();

	/* A thread without an object has had nothing queued to it. */
	if (t)
		apc__queue_run(t);
	return 0;
}

/* A non-alertable sleep: APCs neither run nor cut it short (A11). */
static void plain_sleep(uint32_t ms)
{
	struct timespec deadline;

	if (ms == 0) {
		sched_yield();
		return;
	}
	if (ms == APC_INFINITE) {
		for (;;)
			pause();
	}
	apc__deadline_after_ms(&deadline, ms);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline,
			       NULL) == EINTR)
		;
}

static bool object_signalled(struct apc__object *obj)
{
	switch (obj->type) {
	case APC__TYPE_THREAD:
		return atomic_load_explicit(
			&((struct apc__thread *)obj)->exited,
			memory_order_seq_cst);
	}
	return false;
}

static void link_waiter(struct apc__object *obj, struct apc__wait_block *wb)
{
	pthread_mutex_lock(&obj->lock);
	wb->prev = NULL;
	wb->next = obj->waiters;
	if (obj->waiters)
		obj->waiters->prev = wb;
	obj->waiters = wb;
	pthread_mutex_unlock(&obj->lock);
}

static void unlink_waiter(struct apc__object *obj, struct apc__wait_block *wb)
{
	pthread_mutex_lock(&obj->lock);
	if (wb->prev)
		wb->prev->next = wb->next;
	else
		obj->waiters = wb->next;
	if (wb->next)
		wb->next->prev = wb->prev;
	pthread_mutex_unlock(&obj->lock);
}

/*
 * The one wait loop.  obj may be NULL (a sleep).  t is the calling
 * thread's object.
 */
static uint32_t wait_loop(struct apc__thread *t, struct apc__object *obj,
			  uint32_t ms, bool alertable)
{
	struct apc__wait_block wb = {.thread = t};
	struct timespec deadline, *dl = NULL;
	bool linked = false;
	uint32_t result;

	if (ms != APC_INFINITE && ms != 0) {
		apc__deadline_after_ms(&deadline, ms);
		dl = &deadline;
	}
	for (;;) {
		if (obj && object_signalled(obj)) {
			result = APC_WAIT_OBJECT_0;
			break;
		}
		if (alertable && apc__queue_nonempty(t)) {
			if (linked) {
				unlink_waiter(obj, &wb);
				linked = false;
			}
			apc__queue_run(t);
			result = APC_WAIT_IO_COMPLETION;
			break;
		}
		if (ms == 0 || (dl && apc__deadline_passed(dl))) {
			result = APC_WAIT_TIMEOUT;
			break;
		}
		if (obj && !linked) {
			link_waiter(obj, &wb);
			linked = true;
		}
		apc__doorbell_arm(t, alertable);
		if ((obj && object_signalled(obj)) ||
		    (alertable && apc__queue_nonempty(t))) {
			apc__doorbell_disarm(t);
			continue;
		}
		apc__doorbell_park(t, dl);
		apc__doorbell_disarm(t);
	}
	if (linked)
		unlink_waiter(obj, &wb);
	return result;
}

uint32_t apc_sleep(uint32_t ms, bool alertable)
{
	struct apc__thread *t;
	uint32_t r;

	if (!alertable) {
		plain_sleep(ms);
		return 0;
	}
	t = apc__thread_current();
	if (!t) {
		/* No memory for a thread object: nothing can be queued to it.
		 */
		plain_sleep(ms);
		return 0;
	}
	if (ms == 0) {
		/* Run what is pending without a system call, else yield (B3).
		 */
		if (apc__queue_run(t))
			return APC_WAIT_IO_COMPLETION;
		sched_yield();
		return 0;
	}
	r = wait_loop(t, NULL, ms, true);
	return r == APC_WAIT_TIMEOUT ? 0 : r;
}

uint32_t apc_wait(apc_handle handle, uint32_t ms, bool alertable,
		  uint32_t *error)
{
	struct apc__object *obj;
	struct apc__thread *t;
	uint32_t r;

	if (handle == APC_CURRENT_THREAD) {
		t = apc__thread_get(handle);
		obj = t ? &t->hdr : NULL;
	} else {
		obj = apc__handle_get(handle, 0);
	}
	if (!obj) {
		if (error)
			*error = APC_ERROR_INVALID_HANDLE;
		return APC_WAIT_FAILED;
	}
	t = apc__thread_current();
	if (!t) {
		apc__object_unref(obj);
		if (error)
			*error = APC_ERROR_NOT_ENOUGH_MEMORY;
		return APC_WAIT_FAILED;
	}
	r = wait_loop(t, obj, ms, alertable);
	apc__object_unref(obj);
	return r;
}
