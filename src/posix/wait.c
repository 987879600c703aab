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
	apc__port_thread_block(); /* a sleep is a wait (F23) */
	if (ms == APC_INFINITE) {
		for (;;)
			pause();
	}
	apc__deadline_after_ms(&deadline, ms);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline,
			       NULL) == EINTR)
		;
	apc__port_thread_unblock();
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
uint64_t apc__spin_ns;

#define APC__SPIN_PAUSES 16

__attribute__((constructor)) static void init_spin(void)
{
	const char *env = getenv("APC_SPIN_NS");

	if (env && *env)
		apc__spin_ns = strtoull(env, NULL, 10);
	else if (sysconf(_SC_NPROCESSORS_ONLN) > 1)
		apc__spin_ns = 5000;
	if (apc__spin_ns > 1000000)
		apc__spin_ns = 1000000; /* at most 1 ms */
}

uint64_t apc__mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct wait_ctx {
	struct apc__thread *t;
	struct apc__wait *w;
	bool alertable;
};

static bool wait_ready(struct apc__thread *t, struct apc__wait *w,
		       bool alertable)
{
	return atomic_load_explicit(&w->claim, memory_order_acquire) !=
		       APC__CLAIM_NONE ||
	       (alertable && apc__apcs_ready(t));
}

static bool wait_ready_cb(void *arg)
{
	struct wait_ctx *c = arg;

	return wait_ready(c->t, c->w, c->alertable);
}

bool apc__spin(bool (*ready)(void *), void *arg, const struct timespec *dl)
{
	uint64_t end = apc__mono_ns() + apc__spin_ns;

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
			if (ready(arg))
				return true;
			for (int j = 0; j < APC__SPIN_PAUSES; j++)
				apc__cpu_relax();
		}
	} while (apc__mono_ns() < end);
	return false;
}

/* ---- the wait ---------------------------------------------------------- */

static void link_block(struct apc__object *obj, struct apc__wait_block *b)
{
	b->next = NULL;
	b->prev = obj->waiters_tail;
	if (obj->waiters_tail)
		obj->waiters_tail->next = b;
	else
		obj->waiters = b;
	obj->waiters_tail = b;
	if (b->wait->all)
		atomic_fetch_add_explicit(&obj->all_waiters, 1,
					  memory_order_relaxed);
}

static void unlink_block(struct apc__object *obj, struct apc__wait_block *b)
{
	if (b->prev)
		b->prev->next = b->next;
	else
		obj->waiters = b->next;
	if (b->next)
		b->next->prev = b->prev;
	else
		obj->waiters_tail = b->prev;
	if (b->wait->all)
		atomic_fetch_sub_explicit(&obj->all_waiters, 1,
					  memory_order_relaxed);
}

/*
 * Wait-all, phase 1 and 2 in one critical section: with every object
 * locked, either acquire the whole set or (if the wait may block) queue on
 * every object.  Returns a WAIT_* result, or APC__CLAIM_NONE when queued
 * or not satisfied.
 */
static int64_t all_check_and_queue(struct apc__wait *w, bool queue,
				   uint32_t *error)
{
	bool all = true, abandoned = false;
	int64_t r = APC__CLAIM_NONE;
	uint32_t i;

	apc__lock_take(&apc__wait_all_lock);
	for (i = 0; i < w->count; i++)
		apc__lock_take(&w->objs[i]->lock);
	for (i = 0; i < w->count; i++) {
		struct apc__object *o = w->objs[i];

		/* A mutex we own with a full count reads as unsignalled,
		 * and fails the wait whatever the other objects' state (as
		 * the NT kernel raises as soon as its scan meets it). */
		if (o->type == APC__TYPE_MUTEX &&
		    ((struct apc__mutex *)o)->owner == w->thread &&
		    ((struct apc__mutex *)o)->recursion == UINT32_MAX) {
			*error = APC_ERROR_MUTANT_LIMIT_EXCEEDED;
			r = APC_WAIT_FAILED;
			goto out;
		}
		if (all)
			all = apc__object_signalled(o, w->thread);
	}
	if (all) {
		for (i = 0; i < w->count; i++)
			apc__object_acquire(w->objs[i], w->thread, &abandoned);
		r = abandoned ? APC_WAIT_ABANDONED_0 : APC_WAIT_OBJECT_0;
	} else if (queue) {
		for (i = 0; i < w->count; i++)
			link_block(w->objs[i], &w->blocks[i]);
	}
out:
	for (i = 0; i < w->count; i++)
		apc__lock_give(&w->objs[i]->lock);
	apc__lock_give(&apc__wait_all_lock);
	return r;
}

/* Wait-any, phase 1: the lowest signalled index, acquired (C3, C4). */
static int64_t any_check(struct apc__wait *w, uint32_t *error)
{
	for (uint32_t i = 0; i < w->count; i++) {
		struct apc__object *o = w->objs[i];
		bool locked_all = apc__object_lock(o), abandoned = false;
		int64_t r = APC__CLAIM_NONE;

		if (apc__object_signalled(o, w->thread)) {
			apc__object_acquire(o, w->thread, &abandoned);
			r = (abandoned ? APC_WAIT_ABANDONED_0
				       : APC_WAIT_OBJECT_0) +
			    i;
		} else if (o->type == APC__TYPE_MUTEX &&
			   ((struct apc__mutex *)o)->owner == w->thread) {
			/* Owned by us yet unsignalled: the count is full. */
			*error = APC_ERROR_MUTANT_LIMIT_EXCEEDED;
			r = APC_WAIT_FAILED;
		}
		apc__object_unlock(o, locked_all);
		if (r != APC__CLAIM_NONE)
			return r;
	}
	return APC__CLAIM_NONE;
}

/* Wait-any, phase 2: queue on every object, then let each object wake
 * whoever it can -- us included -- for signals that came in between. */
static void any_queue(struct apc__wait *w)
{
	for (uint32_t i = 0; i < w->count; i++) {
		struct apc__object *o = w->objs[i];
		bool locked_all = apc__object_lock(o);

		link_block(o, &w->blocks[i]);
		apc__object_wake(o);
		apc__object_unlock(o, locked_all);
	}
}

static void unqueue(struct apc__wait *w)
{
	for (uint32_t i = 0; i < w->count; i++) {
		struct apc__object *o = w->objs[i];

		apc__lock_take(&o->lock);
		unlink_block(o, &w->blocks[i]);
		apc__lock_give(&o->lock);
	}
}

/*
 * The caller resolved the handles with pins (cheap, but apc_close waits
 * for them): before anything that may block or run user code, trade each
 * pin for a reference.
 */
static void pins_to_refs(struct apc__object **objs, uint32_t count,
			 struct apc__pin *pins, bool *pinned)
{
	if (!pinned || !*pinned)
		return;
	for (uint32_t i = 0; i < count; i++) {
		apc__object_ref(objs[i]);
		apc__handle_unpin(&pins[i]);
	}
	*pinned = false;
}

/*
 * The waiter gives up (APCs, timeout): claim its own wait so no signaller
 * can, and unqueue.  False if a signaller claimed it first: the wait then
 * ends with that object, which was acquired for it (B14).
 */
static bool leave(struct apc__wait *w)
{
	int32_t none = APC__CLAIM_NONE;

	if (!atomic_compare_exchange_strong_explicit(
		    &w->claim, &none, APC__CLAIM_CANCEL, memory_order_acq_rel,
		    memory_order_acquire))
		return false;
	unqueue(w);
	return true;
}

uint32_t apc__wait_objects(struct apc__thread *t, struct apc__object **objs,
			   uint32_t count, bool all, uint32_t ms,
			   bool alertable, uint32_t *error,
			   struct apc__pin *pins, bool *pinned)
{
	struct timespec deadline, *dl = NULL;
	struct apc__wait w;
	bool spun = apc__spin_ns == 0;
	int32_t claim;
	uint32_t i, err = 0;
	int64_t r;

	w.thread = t;
	w.count = count;
	w.all = all;
	w.abandoned = false;
	atomic_init(&w.claim, APC__CLAIM_NONE);
	for (i = 0; i < count; i++) {
		w.objs[i] = objs[i];
		w.blocks[i].wait = &w;
		w.blocks[i].index = i;
	}
	if (ms != APC_INFINITE && ms != 0) {
		apc__deadline_after_ms(&deadline, ms);
		dl = &deadline;
	}

	/*
	 * 1. Objects first, then APCs, then the timeout (B10, B11).  A wait
	 * returns WAIT_IO_COMPLETION only if an APC really ran (B15): a queue
	 * that held only voided timer-routine calls sends it back here.
	 */
restart:
	r = all ? all_check_and_queue(&w, false, &err) : any_check(&w, &err);
	if (r == APC_WAIT_FAILED)
		goto failed;
	if (r != APC__CLAIM_NONE)
		return (uint32_t)r;
	if (alertable && apc__apcs_ready(t)) {
		pins_to_refs(objs, count, pins, pinned);
		if (apc__queue_run(t))
			return APC_WAIT_IO_COMPLETION;
		goto restart;
	}
	if (ms == 0)
		return APC_WAIT_TIMEOUT;

	/* 2. Queue on the objects (a wait-all may be satisfied right here). */
	pins_to_refs(objs, count, pins, pinned);
	if (count) {
		if (all) {
			r = all_check_and_queue(&w, true, &err);
			if (r == APC_WAIT_FAILED)
				goto failed;
			if (r != APC__CLAIM_NONE)
				return (uint32_t)r;
		} else {
			any_queue(&w);
		}
	}

	/* 3. Sleep until claimed, APCs, or the deadline. */
	for (;;) {
		if (atomic_load_explicit(&w.claim, memory_order_acquire) !=
		    APC__CLAIM_NONE)
			break;
		if (alertable && apc__apcs_ready(t)) {
			/* If an object won the race, the APC stays queued. */
			if (!leave(&w))
				break;
			if (apc__queue_run(t))
				return APC_WAIT_IO_COMPLETION;
			atomic_store_explicit(&w.claim, APC__CLAIM_NONE,
					      memory_order_relaxed);
			w.abandoned = false;
			goto restart;
		}
		if (dl && apc__deadline_passed(dl)) {
			if (!leave(&w))
				break;
			return APC_WAIT_TIMEOUT;
		}
		if (!spun) {
			spun = true;
			struct wait_ctx c = {t, &w, alertable};

			if (apc__spin(wait_ready_cb, &c, dl))
				continue;
		}
		apc__doorbell_arm(t, alertable);
		if (!wait_ready(t, &w, alertable)) {
			/* A blocked thread stops counting towards its
			 * completion port's concurrency (F23). */
			apc__port_thread_block();
			apc__doorbell_park(t, dl);
			apc__port_thread_unblock();
		}
		apc__doorbell_disarm(t);
	}

	/* 4. Claimed by a signaller, who acquired for us.  Unqueueing takes
	 * the object locks the claimer held, so w.abandoned is final. */
	unqueue(&w);
	claim = atomic_load_explicit(&w.claim, memory_order_acquire);
	return (w.abandoned ? APC_WAIT_ABANDONED_0 : APC_WAIT_OBJECT_0) +
	       (uint32_t)claim;

failed:
	if (error)
		*error = err;
	return APC_WAIT_FAILED;
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
	r = apc__wait_objects(t, NULL, 0, false, ms, true, NULL, NULL, NULL);
	return r == APC_WAIT_TIMEOUT ? 0 : r;
}

/*
 * Resolve the handles of a wait, each pinned (the thread pseudo-handle,
 * accepted only by a single-object wait (C12), with a reference instead).
 * Returns 0 or the error; on error nothing is left pinned.
 */
static uint32_t resolve(uint32_t count, const apc_handle *handles,
			bool pseudo_ok, struct apc__object **objs,
			struct apc__pin *pins)
{
	for (uint32_t i = 0; i < count; i++) {
		objs[i] = apc__handle_pin(handles[i], 0, &pins[i]);
		if (!objs[i]) {
			while (i--)
				apc__handle_unpin(&pins[i]);
			return APC_ERROR_INVALID_HANDLE;
		}
	}
	return 0;
}

static uint32_t wait_handles(uint32_t count, const apc_handle *handles,
			     bool all, uint32_t ms, bool alertable,
			     bool pseudo_ok, uint32_t *error)
{
	struct apc__object *objs[APC_MAXIMUM_WAIT_OBJECTS];
	struct apc__pin pins[APC_MAXIMUM_WAIT_OBJECTS];
	struct apc__thread *t;
	bool pinned = true;
	uint32_t st, r, i, j;

	if (count == 0 || count > APC_MAXIMUM_WAIT_OBJECTS || !handles) {
		st = APC_ERROR_INVALID_PARAMETER;
		goto failed;
	}
	t = apc__thread_current();
	if (!t) {
		st = APC_ERROR_NOT_ENOUGH_MEMORY;
		goto failed;
	}
	if (pseudo_ok && handles[0] == APC_CURRENT_THREAD) {
		/* A thread never sees itself end: wait on nothing (C12). */
		r = apc__wait_objects(t, NULL, 0, false, ms, alertable, error,
				      NULL, NULL);
		return r == APC_WAIT_IO_COMPLETION ? r : APC_WAIT_TIMEOUT;
	}
	st = resolve(count, handles, pseudo_ok, objs, pins);
	if (st)
		goto failed;
	/* The same object twice is refused in a wait-all (C9). */
	for (i = 0; all && !st && i < count; i++)
		for (j = i + 1; j < count; j++)
			if (objs[i] == objs[j]) {
				st = APC_ERROR_INVALID_PARAMETER;
				break;
			}
	r = st ? APC_WAIT_FAILED
	       : apc__wait_objects(t, objs, count, all, ms, alertable, error,
				   pins, &pinned);
	for (i = 0; i < count; i++) {
		if (pinned)
			apc__handle_unpin(&pins[i]);
		else
			apc__object_unref(objs[i]);
	}
	if (!st)
		return r;
failed:
	if (error)
		*error = st;
	return APC_WAIT_FAILED;
}

uint32_t apc_wait(apc_handle handle, uint32_t ms, bool alertable,
		  uint32_t *error)
{
	return wait_handles(1, &handle, false, ms, alertable, true, error);
}

uint32_t apc_wait_multiple(uint32_t count, const apc_handle *handles,
			   bool wait_all, uint32_t ms, bool alertable,
			   uint32_t *error)
{
	return wait_handles(count, handles, wait_all, ms, alertable, false,
			    error);
}
