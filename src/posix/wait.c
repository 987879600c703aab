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
#include <stdlib.h>
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
 * Spinning before sleeping.
 *
 * On this kind of machine (a 2-vCPU VM) waking a thread parked in
 * FUTEX_WAIT costs 25-50 us from ring to run, most of it the idle vCPU
 * coming back; a thread that polls for a few microseconds first is
 * reached by a cache-line transfer instead.  Measured in one interleaved
 * run of bench/proto-doorbell (ring-if-asleep vs the same with a 5 us
 * spin): ping-pong round trip 57 us vs 0.3-0.9 us, one-way throughput
 * within the noise of each other.  So a wait first polls its conditions
 * for up to apc__spin_ns (default 5 us, APC_SPIN_NS overrides, 0
 * disables) -- never on a single CPU, where the spinner would only delay
 * the thread it waits for -- and then arms the doorbell and parks.
 * While it spins the doorbell reads RUNNING, so producers make no system
 * call for it.
 */
static uint64_t spin_ns;

#define APC__SPIN_PAUSES 16

__attribute__((constructor)) static void init_spin(void)
{
	const char *env = getenv("APC_SPIN_NS");

	if (env && *env)
		spin_ns = strtoull(env, NULL, 10);
	else if (sysconf(_SC_NPROCESSORS_ONLN) > 1)
		spin_ns = 5000;
	if (spin_ns > 1000000)
		spin_ns = 1000000; /* at most 1 ms */
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool wait_ready(struct apc__thread *t, struct apc__object *obj,
		       bool alertable);

/*
 * Poll until the wait is ready, spin_ns has passed or the deadline has
 * come.  Returns true if ready.
 */
static bool spin(struct apc__thread *t, struct apc__object *obj, bool alertable,
		 const struct timespec *dl)
{
	uint64_t end = mono_ns() + spin_ns;

	if (dl) {
		uint64_t dl_ns = (uint64_t)dl->tv_sec * 1000000000u +
				 (uint64_t)dl->tv_nsec;

		if (dl_ns < end)
			end = dl_ns;
	}
	/*
	 * Look at the queue's cache line only every APC__SPIN_PAUSES pauses:
	 * polling it back to back takes it away from producers on every
	 * push, which cost 15% of one-way throughput when measured.
	 */
	do {
		for (int i = 0; i < 4; i++) {
			if (wait_ready(t, obj, alertable))
				return true;
			for (int j = 0; j < APC__SPIN_PAUSES; j++)
				cpu_relax();
		}
	} while (mono_ns() < end);
	return false;
}

static bool wait_ready(struct apc__thread *t, struct apc__object *obj,
		       bool alertable)
{
	return (obj && object_signalled(obj)) ||
	       (alertable && apc__queue_nonempty(t));
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
	bool linked = false, spun = spin_ns == 0;
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
		if (!spun) {
			spun = true;
			if (spin(t, obj, alertable, dl))
				continue;
		}
		if (obj && !linked) {
			link_waiter(obj, &wb);
			linked = true;
		}
		apc__doorbell_arm(t, alertable);
		if (wait_ready(t, obj, alertable)) {
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
