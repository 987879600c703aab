/*
 * Waitable timers.
 *
 * One process-wide timer thread keeps the active timers in a list sorted
 * by due time and sleeps in poll() on two timerfds: one on CLOCK_MONOTONIC
 * armed (TFD_TIMER_ABSTIME) at the first due time, and one on
 * CLOCK_REALTIME with TFD_TIMER_CANCEL_ON_SET, which becomes readable when
 * somebody sets the system clock.  At expiry it locks the timer, makes it
 * signalled and wakes its waiters like any signaller (sync.c), queues the
 * completion routine to the setting thread, and re-arms a periodic timer
 * at due_0 + k * period (no drift, D10).  A thread that puts a new timer
 * at the head of the list re-arms the monotonic timerfd itself (one
 * timerfd_settime, under list_lock), so the timer thread is never woken
 * just to re-read the list.
 *
 * Clocks (D18, L15).  Relative due times are monotonic.  An absolute due
 * time is kept as a FILETIME until its first expiry, and converted to the
 * monotonic clock with the wall clock of the moment; when the wall clock
 * is set, every such timer is converted again, so it fires by the new
 * time (early if the clock jumped forward past it, later if it went back).
 * Once an absolute timer has fired, its period runs on the monotonic
 * clock, as Windows re-inserts a periodic timer relative to its expiry.
 * apc__clock_test_shift moves apcrt's idea of the wall clock (the tests'
 * stand-in for setting the system clock, which needs privilege) and goes
 * through the same conversion.
 *
 * DESIGN.md prefers no timer thread (waiters folding due times into their
 * own timeouts).  This version takes the simpler design it names as the
 * fallback: one extra thread, created on the first apc_timer_set, and an
 * expiry costs one wake of that thread.  It is measured by
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
#include <poll.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "internal.h"

struct apc__timer {
	struct apc__object hdr;

	/* Under hdr.lock. */
	bool manual, signalled, active;
	bool routine_pending;
	uint32_t gen;	 /* bumped by set and cancel */
	uint64_t period; /* ns; 0 = once */
	apc_timer_fn fn;
	void *arg;
	struct apc__thread *setter; /* with a reference, while fn is set */

	/* Under list_lock.  The list holds a reference while listed. */
	struct apc__timer *next;
	bool listed;
	uint64_t list_due;
	uint32_t list_gen;
	int64_t list_wall; /* absolute FILETIME before the first expiry, or 0 */
};

/* A queued routine call. */
struct routine_call {
	struct apc__timer *timer; /* with a reference */
	uint32_t gen;
	int64_t filetime;
};

static apc__lock list_lock = APC__LOCK_INIT;
static struct apc__timer *list;
static uint64_t armed_due; /* what mono_fd is armed for; under list_lock */
static int mono_fd = -1, wall_fd = -1; /* the timer thread's timerfds */
static pthread_once_t thread_once = PTHREAD_ONCE_INIT;
static bool thread_ok;

/* The test hook's shift of the wall clock, in 100 ns units. */
static _Atomic int64_t wall_shift;

static void start_thread(void);

/* 100 ns intervals from 1601-01-01 to 1970-01-01. */
#define FILETIME_UNIX_EPOCH 116444736000000000LL

int64_t apc_filetime_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return FILETIME_UNIX_EPOCH + (int64_t)ts.tv_sec * 10000000 +
	       ts.tv_nsec / 100 +
	       atomic_load_explicit(&wall_shift, memory_order_relaxed);
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

/* Under list_lock: arm mono_fd for the head of the list, if it moved. */
static void arm_head(void)
{
	uint64_t due = list ? list->list_due : 0;
	struct itimerspec its = {{0, 0}, {0, 0}};

	if (due == armed_due)
		return;
	armed_due = due;
	if (due) {
		its.it_value.tv_sec = (time_t)(due / 1000000000u);
		its.it_value.tv_nsec = (long)(due % 1000000000u);
		/* A due time of 0 would disarm: monotonic time 0 is past. */
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(mono_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Under list_lock. */
static void list_insert(struct apc__timer *t, uint64_t due, uint32_t gen,
			int64_t wall)
{
	struct apc__timer **p;

	if (t->listed) {
		apc__object_ref(&t->hdr); /* list_remove drops one */
		list_remove(t);
	}
	apc__object_ref(&t->hdr);
	t->list_due = due;
	t->list_gen = gen;
	t->list_wall = wall;
	for (p = &list; *p && (*p)->list_due <= due; p = &(*p)->next)
		;
	t->next = *p;
	*p = t;
	t->listed = true;
	if (list == t)
		arm_head();
}

/* ns on the monotonic clock, now = apc__mono_ns(), for a FILETIME due time
 * given the wall clock ft_now read just before. */
static uint64_t mono_due(int64_t due, int64_t ft_now, uint64_t now)
{
	return due > ft_now ? after(now, (uint64_t)(due - ft_now)) : now;
}

/*
 * The wall clock was set (or shifted by the test hook): convert every
 * absolute timer that has not fired yet again (D18), and re-sort.
 */
static void wall_clock_moved(void)
{
	struct apc__timer *moved = NULL, **p, *t;
	int64_t ft_now;
	uint64_t now;

	apc__lock_take(&list_lock);
	ft_now = apc_filetime_now();
	now = apc__mono_ns();
	for (p = &list; (t = *p);) {
		if (t->list_wall) {
			*p = t->next;
			t->next = moved;
			moved = t;
		} else {
			p = &t->next;
		}
	}
	while ((t = moved)) {
		moved = t->next;
		t->list_due = mono_due(t->list_wall, ft_now, now);
		for (p = &list; *p && (*p)->list_due <= t->list_due;
		     p = &(*p)->next)
			;
		t->next = *p;
		*p = t;
	}
	arm_head();
	apc__lock_give(&list_lock);
}

void apc__clock_test_shift(int64_t delta)
{
	atomic_fetch_add_explicit(&wall_shift, delta, memory_order_relaxed);
	pthread_once(&thread_once, start_thread);
	if (thread_ok)
		wall_clock_moved();
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

/* due: the monotonic time this expiry was listed for. */
static void fire(struct apc__timer *t, uint32_t gen, uint64_t due)
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
		uint64_t now = apc__mono_ns();

		/* due_k = due_0 + k * period; skip expiries already missed
		 * (their signal and routine call would coalesce anyway). */
		if (due > UINT64_MAX - t->period) {
			t->active = false; /* the next expiry never comes */
			goto out;
		}
		due += t->period;
		if (due <= now)
			due += ((now - due) / t->period + 1) * t->period;
		apc__lock_take(&list_lock);
		list_insert(t, due, gen, 0);
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
	struct pollfd pfd[2] = {{mono_fd, POLLIN, 0}, {wall_fd, POLLIN, 0}};

	(void)arg;
	/*
	 * The kernel lets a sleeping thread's timeout run late by its timer
	 * slack (50 us by default) to batch wake-ups; timers are this
	 * thread's whole job, so it asks for none.
	 */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	for (;;) {
		struct apc__timer *t;
		uint64_t expirations;

		apc__lock_take(&list_lock);
		t = list;
		if (t && t->list_due <= apc__mono_ns()) {
			uint32_t gen = t->list_gen;
			uint64_t due = t->list_due;

			list = t->next;
			t->listed = false; /* its reference is ours now */
			arm_head();
			apc__lock_give(&list_lock);
			fire(t, gen, due);
			apc__object_unref(&t->hdr);
			continue;
		}
		apc__lock_give(&list_lock);
		if (poll(pfd, 2, -1) <= 0)
			continue;
		if (pfd[0].revents)
			(void)!read(mono_fd, &expirations, sizeof(expirations));
		if (pfd[1].revents) {
			/* ECANCELED: the clock was set.  Re-arm, then
			 * convert (a set in between is then seen again). */
			struct itimerspec far = {{0, 0}, {INT32_MAX, 0}};

			(void)!read(wall_fd, &expirations, sizeof(expirations));
			timerfd_settime(wall_fd,
					TFD_TIMER_ABSTIME |
						TFD_TIMER_CANCEL_ON_SET,
					&far, NULL);
			wall_clock_moved();
		}
	}
	return NULL;
}

static void start_thread(void)
{
	struct itimerspec far = {{0, 0}, {INT32_MAX, 0}};
	pthread_attr_t attr;
	pthread_t pt;

	mono_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	wall_fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (mono_fd < 0 || wall_fd < 0 ||
	    timerfd_settime(wall_fd,
			    TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &far,
			    NULL) < 0)
		goto fail;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	thread_ok = pthread_create(&pt, &attr, timer_thread, NULL) == 0;
	pthread_attr_destroy(&attr);
	if (thread_ok)
		return;
fail:
	if (mono_fd >= 0)
		close(mono_fd);
	if (wall_fd >= 0)
		close(wall_fd);
	mono_fd = wall_fd = -1;
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
	now = apc__mono_ns();
	if (due < 0)
		due_ns = after(now, (uint64_t)(-(due + 1)) + 1);
	else
		due_ns = mono_due(due, ft_now, now);

	all = apc__object_lock(&t->hdr);
	gone = stop(t);
	t->signalled = false; /* D5 */
	t->active = true;
	t->period = (uint64_t)period_ms * 1000000u;
	t->fn = fn;
	t->arg = arg;
	t->setter = setter;
	apc__lock_take(&list_lock);
	/* An absolute due time follows the wall clock until it fires (D18);
	 * FILETIME 0 is 1601, long past, so 0 can mean "relative". */
	list_insert(t, due_ns, t->gen, due > 0 ? due : 0);
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
