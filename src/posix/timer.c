/*
 * Waitable timers.
 *
 * One process-wide timer thread keeps the active timers in a list sorted
 * by due time and sleeps (FUTEX_WAIT_BITSET, absolute CLOCK_MONOTONIC)
 * until the first is due.  At expiry it locks the timer, makes it
 * signalled and wakes its waiters like any signaller (sync.c), queues the
 * completion routine to the setting thread, and re-arms a periodic timer
 * at due_0 + k * period (no drift, D10).
 *
 * DESIGN.md prefers no timer thread (waiters folding due times into their
 * own timeouts).  This first version takes the simpler design it names as
 * the fallback: one extra thread, created on the first apc_timer_set,
 * and an expiry costs one futex wake of that thread.  It is measured by
 * bench/bench-timer.c against a timerfd loop.
 *
 * Routine calls.  A timer has at most one routine call queued (D13): the
 * call is an internal APC holding the timer and the timer's generation
 * at expiry.  Setting or cancelling the timer bumps the generation, so a
 * call still queued from before becomes a no-op that does not count as an
 * APC (the alertable wait it runs in does not return WAIT_IO_COMPLETION
 * for it): that is how a set or cancel "removes" it (D6, D14, D20).
 *
 * Locks: the timer's object lock, then list_lock; the timer thread takes
 * list_lock alone, and a timer's object lock only after dropping it.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

struct apc__timer {
	struct apc__object hdr;

	/* Under hdr.lock. */
	bool manual, signalled, active;
	bool routine_pending;
	uint32_t gen;	 /* bumped by set and cancel */
	uint64_t due;	 /* next expiry, CLOCK_MONOTONIC ns */
	uint64_t period; /* ns; 0 = once */
	apc_timer_fn fn;
	void *arg;
	struct apc__thread *setter; /* with a reference, while fn is set */

	/* Under list_lock.  The list holds a reference while listed. */
	struct apc__timer *next;
	bool listed;
	uint64_t list_due;
	uint32_t list_gen;
};

/* A queued routine call. */
struct routine_call {
	struct apc__timer *timer; /* with a reference */
	uint32_t gen;
	int64_t filetime;
};

static apc__lock list_lock = APC__LOCK_INIT;
static struct apc__timer *list;
static atomic_uint list_seq; /* futex word: bumped when the head changes */
static pthread_once_t thread_once = PTHREAD_ONCE_INIT;
static bool thread_ok;

/* 100 ns intervals from 1601-01-01 to 1970-01-01. */
#define FILETIME_UNIX_EPOCH 116444736000000000LL

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t apc_filetime_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return FILETIME_UNIX_EPOCH + (int64_t)ts.tv_sec * 10000000 +
	       ts.tv_nsec / 100;
}

/* now + units of 100 ns, saturated at UINT64_MAX (which never comes). */
static uint64_t after(uint64_t now, uint64_t units)
{
	if (units > (UINT64_MAX - now) / 100)
		return UINT64_MAX;
	return now + units * 100;
}

/* ---- the list ---------------------------------------------------------- */

/* Under list_lock. */
static void list_remove(struct apc__timer *t)
{
	struct apc__timer **p;

	if (!t->listed)
		return;
	for (p = &list; *p != t; p = &(*p)->next)
		;
	*p = t->next;
	t->listed = false;
	apc__object_unref(&t->hdr); /* never the last: the caller holds one */
}

/* Under list_lock. */
static void list_insert(struct apc__timer *t, uint64_t due, uint32_t gen)
{
	struct apc__timer **p;

	if (t->listed) {
		apc__object_ref(&t->hdr); /* list_remove drops one */
		list_remove(t);
	}
	apc__object_ref(&t->hdr);
	t->list_due = due;
	t->list_gen = gen;
	for (p = &list; *p && (*p)->list_due <= due; p = &(*p)->next)
		;
	t->next = *p;
	*p = t;
	t->listed = true;
	if (list == t) {
		atomic_fetch_add_explicit(&list_seq, 1, memory_order_release);
		syscall(SYS_futex, &list_seq, FUTEX_WAKE | FUTEX_PRIVATE_FLAG,
			1, NULL, NULL, 0);
	}
}

/* ---- routine calls ----------------------------------------------------- */

static bool routine_apc(uintptr_t data, bool run)
{
	struct routine_call *c = (struct routine_call *)data;
	struct apc__timer *t = c->timer;
	apc_timer_fn fn = NULL;
	void *arg = NULL;
	bool all = apc__object_lock(&t->hdr);

	if (t->gen == c->gen) {
		t->routine_pending = false;
		fn = t->fn;
		arg = t->arg;
	}
	apc__object_unlock(&t->hdr, all);
	if (run && fn)
		fn(arg, (uint32_t)c->filetime,
		   (uint32_t)((uint64_t)c->filetime >> 32));
	apc__object_unref(&t->hdr);
	free(c);
	return run && fn;
}

/* Under the timer's lock: forget the routine and its thread. */
static struct apc__thread *drop_routine(struct apc__timer *t)
{
	struct apc__thread *setter = t->setter;

	t->fn = NULL;
	t->arg = NULL;
	t->setter = NULL;
	t->routine_pending = false;
	return setter; /* the caller drops the reference, unlocked */
}

/* ---- expiry ------------------------------------------------------------ */

static void fire(struct apc__timer *t, uint32_t gen)
{
	struct apc__thread *gone = NULL;
	bool all = apc__object_lock(&t->hdr);

	if (!t->active || t->gen != gen)
		goto out;
	/* The thread that set a routine has ended: the timer is cancelled
	 * and its state left as it is (D15). */
	if (t->fn &&
	    atomic_load_explicit(&t->setter->exited, memory_order_acquire)) {
		t->active = false;
		gone = drop_routine(t);
		goto out;
	}
	t->signalled = true;
	apc__object_wake(&t->hdr);
	if (t->fn && !t->routine_pending) {
		struct routine_call *c = malloc(sizeof(*c));

		if (c) {
			c->timer = t;
			c->gen = gen;
			c->filetime = apc_filetime_now();
			apc__object_ref(&t->hdr);
			t->routine_pending = true;
			if (apc__queue_internal(t->setter, routine_apc,
						(uintptr_t)c)) {
				/* No memory, or the thread is ending. */
				t->routine_pending = false;
				apc__object_unref(&t->hdr);
				free(c);
			}
		}
	}
	if (t->period) {
		uint64_t now = mono_ns();

		/* due_k = due_0 + k * period; skip expiries already missed
		 * (their signal and routine call would coalesce anyway). */
		if (t->due > UINT64_MAX - t->period) {
			t->active = false; /* the next expiry never comes */
			goto out;
		}
		t->due += t->period;
		if (t->due <= now)
			t->due += ((now - t->due) / t->period + 1) * t->period;
		apc__lock_take(&list_lock);
		list_insert(t, t->due, gen);
		apc__lock_give(&list_lock);
	} else {
		t->active = false;
	}
out:
	apc__object_unlock(&t->hdr, all);
	if (gone)
		apc__object_unref(&gone->hdr);
}

static void *timer_thread(void *arg)
{
	(void)arg;
	/*
	 * The kernel lets a sleeping thread's timeout run late by its timer
	 * slack (50 us by default) to batch wake-ups; timers are this
	 * thread's whole job, so it asks for none.
	 */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	for (;;) {
		struct timespec ts;
		struct apc__timer *t;
		uint64_t now;
		unsigned seq;

		apc__lock_take(&list_lock);
		t = list;
		now = mono_ns();
		if (t && t->list_due <= now) {
			uint32_t gen = t->list_gen;

			list = t->next;
			t->listed = false; /* its reference is ours now */
			apc__lock_give(&list_lock);
			fire(t, gen);
			apc__object_unref(&t->hdr);
			continue;
		}
		seq = atomic_load_explicit(&list_seq, memory_order_acquire);
		if (t) {
			ts.tv_sec = (time_t)(t->list_due / 1000000000u);
			ts.tv_nsec = (long)(t->list_due % 1000000000u);
		}
		apc__lock_give(&list_lock);
		syscall(SYS_futex, &list_seq,
			FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, seq,
			t ? &ts : NULL, NULL, FUTEX_BITSET_MATCH_ANY);
	}
	return NULL;
}

static void start_thread(void)
{
	pthread_attr_t attr;
	pthread_t pt;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	thread_ok = pthread_create(&pt, &attr, timer_thread, NULL) == 0;
	pthread_attr_destroy(&attr);
}

/* ---- the object -------------------------------------------------------- */

bool apc__timer_signalled(struct apc__object *obj)
{
	return ((struct apc__timer *)obj)->signalled;
}

void apc__timer_acquire(struct apc__object *obj)
{
	struct apc__timer *t = (struct apc__timer *)obj;

	if (!t->manual)
		t->signalled = false;
}

static void timer_free(struct apc__object *obj)
{
	struct apc__timer *t = (struct apc__timer *)obj;

	if (t->setter)
		apc__object_unref(&t->setter->hdr);
	free(t);
}

/* Under the timer's lock: stop it and void any queued routine call. */
static struct apc__thread *stop(struct apc__timer *t)
{
	t->gen++;
	t->active = false;
	apc__lock_take(&list_lock);
	list_remove(t);
	apc__lock_give(&list_lock);
	return drop_routine(t);
}

static void cancel(struct apc__timer *t)
{
	bool all = apc__object_lock(&t->hdr);
	struct apc__thread *gone = stop(t);

	apc__object_unlock(&t->hdr, all);
	if (gone)
		apc__object_unref(&gone->hdr);
}

/* Closing the last handle cancels the timer (D23). */
static void timer_last_handle(struct apc__object *obj)
{
	cancel((struct apc__timer *)obj);
}

uint32_t apc_timer_create(bool manual_reset, apc_handle *out)
{
	struct apc__timer *t;
	uint32_t st;

	if (!out)
		return APC_ERROR_INVALID_PARAMETER;
	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	apc__object_init(&t->hdr, APC__TYPE_TIMER, timer_free);
	t->hdr.last_handle = timer_last_handle;
	t->manual = manual_reset;
	st = apc__handle_new(&t->hdr, out);
	apc__object_unref(&t->hdr);
	return st;
}

uint32_t apc_timer_set(apc_handle timer, int64_t due, int32_t period_ms,
		       apc_timer_fn fn, void *arg)
{
	struct apc__thread *setter = NULL, *gone;
	struct apc__timer *t;
	struct apc__pin pin;
	uint64_t now, due_ns;
	int64_t ft_now;
	bool all;

	t = (struct apc__timer *)apc__handle_pin(timer, APC__TYPE_TIMER, &pin);
	if (!t)
		return APC_ERROR_INVALID_HANDLE;
	if (period_ms < 0) {
		apc__handle_unpin(&pin);
		return APC_ERROR_INVALID_PARAMETER;
	}
	pthread_once(&thread_once, start_thread);
	if (fn)
		setter = apc__thread_current();
	if (!thread_ok || (fn && !setter)) {
		apc__handle_unpin(&pin);
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	}
	if (setter)
		apc__object_ref(&setter->hdr);

	/*
	 * In ns, far due times pass 64 bits: they saturate to "never".  The
	 * wall clock is read before the monotonic one, so the time between
	 * the two reads can only make an absolute timer late, never early.
	 */
	ft_now = apc_filetime_now();
	now = mono_ns();
	if (due < 0)
		due_ns = after(now, (uint64_t)(-(due + 1)) + 1);
	else if (due > ft_now)
		due_ns = after(now, (uint64_t)(due - ft_now));
	else
		due_ns = now;

	all = apc__object_lock(&t->hdr);
	gone = stop(t);
	t->signalled = false; /* D5 */
	t->active = true;
	t->due = due_ns;
	t->period = (uint64_t)period_ms * 1000000u;
	t->fn = fn;
	t->arg = arg;
	t->setter = setter;
	apc__lock_take(&list_lock);
	list_insert(t, due_ns, t->gen);
	apc__lock_give(&list_lock);
	apc__object_unlock(&t->hdr, all);
	apc__handle_unpin(&pin);
	if (gone)
		apc__object_unref(&gone->hdr);
	return 0;
}

uint32_t apc_timer_cancel(apc_handle timer)
{
	struct apc__pin pin;
	struct apc__timer *t = (struct apc__timer *)apc__handle_pin(
		timer, APC__TYPE_TIMER, &pin);

	if (!t)
		return APC_ERROR_INVALID_HANDLE;
	cancel(t);
	apc__handle_unpin(&pin);
	return 0;
}
