/*
 * Events: auto-reset and manual-reset, set, reset and pulse, and how a
 * wait on an event meets APCs.
 *
 * Contract: C20-C28 (events); B7, B8, B10, B11, B14, B16 (alertable
 * waits, with events as the objects).
 *
 * Threads that must be asleep in their wait before the test acts (the
 * pulse rules) are seen asleep with t_wait_blocked (blocked.h); where the
 * system cannot show that (the Windows backend) those tests pulse again
 * until every waiter went through, and check only what holds either way.
 * Every other check holds whether or not a waiter had started waiting.
 */
#include <criterion/criterion.h>

#include <apc/apc.h>
#include <apc/windows.h>

#include "blocked.h"
#include "helpers.h"

TestSuite(event, .timeout = 180);

/* ---- helpers ------------------------------------------------------------- */

/* t_event_new, and the handle is not the poison value either. */
static apc_handle event_new(bool manual, bool initial)
{
	apc_handle h = t_event_new(manual, initial);

	cr_assert_neq(h, T_POISON_HANDLE);
	return h;
}

/* A thread waiting (bounded) on one object or, with count 2, on all. */
struct waiter {
	apc_handle objs[2];
	uint32_t count; /* 1: apc_wait; 2: apc_wait_multiple, wait-all */
	atomic_uint ready;
	uint32_t tid;
	apc_handle thread;
};

/* Exit code: the wait's result, or 0xE0000000 | error for WAIT_FAILED. */
static uint32_t thread_waiter(void *arg)
{
	struct waiter *w = arg;
	uint32_t err = T_POISON;
	uint32_t ms = T_WAIT_MS * t_slack();
	uint32_t r;

	atomic_store(&w->ready, 1);
	if (w->count == 1)
		r = apc_wait(w->objs[0], ms, false, &err);
	else
		r = apc_wait_multiple(w->count, w->objs, true, ms, false, &err);
	return r == APC_WAIT_FAILED ? 0xE0000000u | err : r;
}

/*
 * Start n waiters on obj (and obj2 too, in a wait-all, unless NULL).
 * Returns true when every one of them was seen asleep in its wait.
 */
static bool start_waiters(struct waiter *w, unsigned int n, apc_handle obj,
			  apc_handle obj2)
{
	bool known = true;
	unsigned int i;

	for (i = 0; i < n; i++) {
		w[i].objs[0] = obj;
		w[i].objs[1] = obj2;
		w[i].count = obj2 ? 2 : 1;
		atomic_init(&w[i].ready, 0);
		w[i].thread = t_spawn_flags(thread_waiter, &w[i], 0, &w[i].tid);
	}
	for (i = 0; i < n; i++) {
		cr_assert(t_spin_until(&w[i].ready, 1, T_WAIT_MS));
		if (!t_wait_blocked(w[i].tid))
			known = false;
	}
	return known;
}

/* Join th[i] (its wait must have returned WAIT_OBJECT_0), drop it. */
static void reap(apc_handle *th, unsigned int *n, int i)
{
	uint32_t code;

	cr_assert_geq(i, 0);
	code = t_join(th[i]);
	cr_assert_eq(code, APC_WAIT_OBJECT_0, "waiter's wait: %#x", code);
	th[i] = th[--*n];
}

/* ---- C20, C21: auto-reset ------------------------------------------------ */

Test(event, C20_auto_reset_set_releases_exactly_one_waiter)
{
	enum { N = 3 };
	struct waiter w[N];
	apc_handle e = event_new(false, false);
	apc_handle th[N];
	unsigned int n = N, k;

	start_waiters(w, N, e, NULL);
	for (k = 0; k < N; k++)
		th[k] = w[k].thread;
	for (k = 1; k <= N; k++) {
		cr_assert_eq(apc_event_set(e), 0);
		reap(th, &n, t_one_ended(th, n, T_WAIT_MS * t_slack()));
		/* Reset by the wait it satisfied; nobody else went through. */
		if (n)
			cr_assert_eq(t_one_ended(th, n, 100), -1,
				     "set #%u released a second waiter", k);
		cr_assert_not(t_poll0(e), "set #%u: still signalled", k);
	}
	cr_assert_eq(apc_close(e), 0);
}

Test(event, C20_wait_resets_auto_reset_event)
{
	apc_handle e = event_new(false, true);
	apc_handle other = event_new(false, false);
	apc_handle two[2] = {other, e};
	uint32_t err = T_POISON;

	cr_assert_eq(apc_wait(e, T_WAIT_MS, false, &err), APC_WAIT_OBJECT_0);
	cr_assert_not(t_poll0(e));

	cr_assert_eq(apc_event_set(e), 0);
	cr_assert_eq(apc_wait(e, 0, true, &err), APC_WAIT_OBJECT_0);
	cr_assert_not(t_poll0(e));

	cr_assert_eq(apc_event_set(e), 0);
	cr_assert_eq(apc_wait_multiple(2, two, false, 0, false, &err),
		     APC_WAIT_OBJECT_0 + 1);
	cr_assert_not(t_poll0(e));
	cr_assert_not(t_poll0(other));
	cr_assert_eq(err, T_POISON);
	cr_assert_eq(apc_close(e), 0);
	cr_assert_eq(apc_close(other), 0);
}

Test(event, C21_signals_do_not_accumulate)
{
	apc_handle e = event_new(false, false);
	HANDLE h;

	cr_assert_eq(apc_event_set(e), 0);
	cr_assert_eq(apc_event_set(e), 0);
	cr_assert_eq(apc_event_set(e), 0);
	cr_assert(t_poll0(e));
	cr_assert_not(t_poll0(e));
	cr_assert_eq(apc_close(e), 0);

	/* Created signalled and set again: still one signal. */
	e = event_new(false, true);
	cr_assert_eq(apc_event_set(e), 0);
	cr_assert(t_poll0(e));
	cr_assert_not(t_poll0(e));
	cr_assert_eq(apc_close(e), 0);

	/* The Win32 names. */
	h = CreateEvent(NULL, FALSE, FALSE, NULL);
	cr_assert_not_null(h);
	cr_assert(SetEvent(h));
	cr_assert(SetEvent(h));
	cr_assert_eq(WaitForSingleObject(h, 0), WAIT_OBJECT_0);
	cr_assert_eq(WaitForSingleObject(h, 0), WAIT_TIMEOUT);
	cr_assert(CloseHandle(h));
}

/* ---- C22, C23: manual-reset, initial state, reset ------------------------ */

Test(event, C22_manual_reset_releases_every_waiter_and_stays_set)
{
	enum { N = 4 };
	struct waiter w[N];
	apc_handle e = event_new(true, false);
	apc_handle two[2];
	unsigned int i;

	start_waiters(w, N, e, NULL);
	cr_assert_eq(apc_event_set(e), 0);
	for (i = 0; i < N; i++)
		cr_assert_eq(t_join(w[i].thread), APC_WAIT_OBJECT_0,
			     "waiter %u", i);

	/* No wait changes it: a fifth waiter, and any number more, pass. */
	for (i = 0; i < 10; i++)
		cr_assert(t_poll0(e));
	cr_assert_eq(apc_wait(e, T_WAIT_MS, true, NULL), APC_WAIT_OBJECT_0);
	two[0] = e;
	two[1] = event_new(true, true);
	cr_assert_eq(apc_wait_multiple(2, two, true, 0, false, NULL),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_wait_multiple(2, two, false, 0, false, NULL),
		     APC_WAIT_OBJECT_0);
	cr_assert(t_poll0(e));
	cr_assert(t_poll0(two[1]));

	cr_assert_eq(apc_event_reset(e), 0);
	cr_assert_not(t_poll0(e));
	cr_assert_eq(apc_close(e), 0);
	cr_assert_eq(apc_close(two[1]), 0);
}

Test(event, C23_initial_state)
{
	apc_handle h = T_POISON_HANDLE;
	int manual, initial;

	for (manual = 0; manual < 2; manual++) {
		for (initial = 0; initial < 2; initial++) {
			apc_handle e = event_new(manual, initial);

			cr_assert_eq(t_poll0(e), (bool)initial,
				     "manual %d initial %d", manual, initial);
			/* Auto-reset: the first wait consumed it. */
			cr_assert_eq(t_poll0(e), initial && manual,
				     "manual %d initial %d", manual, initial);
			cr_assert_eq(apc_close(e), 0);
		}
	}
	cr_assert_eq(apc_event_create(false, false, NULL),
		     APC_ERROR_INVALID_PARAMETER);
	cr_assert_eq(apc_event_create(true, true, NULL),
		     APC_ERROR_INVALID_PARAMETER);

	h = CreateEvent(NULL, TRUE, TRUE, NULL);
	cr_assert_not_null(h);
	cr_assert_eq(WaitForSingleObject(h, 0), WAIT_OBJECT_0);
	cr_assert_eq(WaitForSingleObject(h, 0), WAIT_OBJECT_0);
	cr_assert(CloseHandle(h));
}

Test(event, C23_reset_of_unsignalled_event_is_a_no_op)
{
	int manual;
	HANDLE h;

	for (manual = 0; manual < 2; manual++) {
		apc_handle e = event_new(manual, false);

		cr_assert_eq(apc_event_reset(e), 0);
		cr_assert_eq(apc_event_reset(e), 0);
		cr_assert_not(t_poll0(e));
		cr_assert_eq(apc_event_set(e), 0);
		cr_assert_eq(apc_event_reset(e), 0);
		cr_assert_eq(apc_event_reset(e), 0);
		cr_assert_not(t_poll0(e));
		/* Still an event that works. */
		cr_assert_eq(apc_event_set(e), 0);
		cr_assert(t_poll0(e));
		cr_assert_eq(apc_close(e), 0);
	}

	h = CreateEvent(NULL, FALSE, FALSE, NULL);
	cr_assert_not_null(h);
	cr_assert(ResetEvent(h));
	cr_assert(ResetEvent(h));
	cr_assert_eq(WaitForSingleObject(h, 0), WAIT_TIMEOUT);
	cr_assert(CloseHandle(h));
}

/* ---- C24-C27: PulseEvent ------------------------------------------------- */

Test(event, C24_pulse_manual_releases_every_current_waiter)
{
	enum { N = 3 };
	struct waiter w[N];
	apc_handle e = event_new(true, false);
	apc_handle th[N];
	unsigned int n = N, pulses = 1, i;
	bool known;
	uint64_t t0;
	double ms;

	known = start_waiters(w, N, e, NULL);
	for (i = 0; i < N; i++)
		th[i] = w[i].thread;
	cr_assert_eq(apc_event_pulse(e), 0);
	while (n) {
		int k = t_one_ended(th, n, known ? T_WAIT_MS * t_slack() : 200);

		if (k < 0) {
			/* Only where blocked waiters cannot be seen. */
			cr_assert_not(known,
				      "the pulse left %u of %u waiters "
				      "asleep",
				      n, N);
			cr_assert_lt(pulses, 100);
			cr_assert_eq(apc_event_pulse(e), 0);
			pulses++;
			continue;
		}
		reap(th, &n, k);
	}
	if (!known)
		cr_log_info("C24: %u pulses for %u waiters not seen asleep",
			    pulses, N);

	/* Unsignalled: a wait that starts afterwards blocks. */
	t0 = t_now_ns();
	cr_assert_eq(apc_wait(e, 50, false, NULL), APC_WAIT_TIMEOUT);
	ms = t_ms_since(t0);
	cr_assert_geq(ms, t_floor_ms(50), "waited %.3f ms", ms);
	cr_assert_not(t_poll0(e));
	cr_assert_eq(apc_close(e), 0);
}

Test(event, C24_C26_pulse_leaves_event_unsignalled)
{
	int manual;
	uint64_t t0;
	HANDLE h;

	for (manual = 0; manual < 2; manual++) {
		apc_handle e = event_new(manual, true);

		/* C26: nobody waits; the pulse clears a set event. */
		cr_assert_eq(apc_event_pulse(e), 0);
		cr_assert_not(t_poll0(e), "manual %d", manual);
		/* And leaves an unsignalled one unsignalled. */
		cr_assert_eq(apc_event_pulse(e), 0);
		cr_assert_not(t_poll0(e), "manual %d", manual);
		cr_assert_eq(apc_event_set(e), 0);
		cr_assert_eq(apc_event_pulse(e), 0);
		t0 = t_now_ns();
		cr_assert_eq(apc_wait(e, 20, false, NULL), APC_WAIT_TIMEOUT);
		cr_assert_geq(t_ms_since(t0), t_floor_ms(20));
		cr_assert_eq(apc_close(e), 0);
	}

	h = CreateEvent(NULL, TRUE, TRUE, NULL);
	cr_assert_not_null(h);
	cr_assert(PulseEvent(h));
	cr_assert_eq(WaitForSingleObject(h, 0), WAIT_TIMEOUT);
	cr_assert(CloseHandle(h));
}

Test(event, C25_pulse_auto_releases_at_most_one_waiter)
{
	enum { N = 3 };
	struct waiter w[N];
	apc_handle e = event_new(false, false);
	apc_handle th[N];
	unsigned int n = N, pulses = 0, released = 0, i;
	bool known;

	known = start_waiters(w, N, e, NULL);
	for (i = 0; i < N; i++)
		th[i] = w[i].thread;
	while (n) {
		int k;

		cr_assert_lt(pulses, 100);
		cr_assert_eq(apc_event_pulse(e), 0);
		pulses++;
		k = t_one_ended(th, n, known ? T_WAIT_MS * t_slack() : 200);
		if (k < 0) {
			cr_assert_not(known,
				      "pulse #%u released none of %u "
				      "waiters asleep",
				      pulses, n);
			continue;
		}
		reap(th, &n, k);
		released++;
		/* One only: the others still wait, the event is unsignalled. */
		if (n)
			cr_assert_eq(t_one_ended(th, n, 100), -1,
				     "pulse #%u released two waiters", pulses);
		cr_assert_not(t_poll0(e), "pulse #%u left it signalled",
			      pulses);
	}
	cr_assert_eq(released, N);
	if (known)
		cr_assert_eq(pulses, N);
	cr_assert_eq(apc_close(e), 0);
}

Test(event, C27_pulse_does_not_release_incomplete_wait_all)
{
	int manual;

	for (manual = 0; manual < 2; manual++) {
		struct waiter w;
		apc_handle e = event_new(manual, false);
		apc_handle s = t_semaphore_new(0, 10);
		int32_t prev = (int32_t)T_POISON;

		start_waiters(&w, 1, e, s);
		cr_assert_eq(apc_event_pulse(e), 0);
		cr_assert_eq(apc_semaphore_release(s, 1, &prev), 0);
		cr_assert_eq(prev, 0);

		/* The pulse is lost for it: it stays asleep, and holds nothing
		 * of the semaphore (C6). */
		cr_assert_eq(apc_wait(w.thread, 100, false, NULL),
			     APC_WAIT_TIMEOUT, "manual %d", manual);
		cr_assert_not(t_poll0(e));
		cr_assert_eq(apc_semaphore_release(s, 1, &prev), 0);
		cr_assert_eq(prev, 1, "manual %d", manual);

		/* A real set completes it: it takes the event and one count. */
		cr_assert_eq(apc_event_set(e), 0);
		cr_assert_eq(t_join(w.thread), APC_WAIT_OBJECT_0);
		cr_assert(t_poll0(s));
		cr_assert_not(t_poll0(s));
		cr_assert_eq(t_poll0(e), (bool)manual);
		cr_assert_eq(apc_close(e), 0);
		cr_assert_eq(apc_close(s), 0);
	}
}

Test(event, C27_pulse_releases_wait_all_waiter_whose_other_objects_are_set)
{
	int manual;

	for (manual = 0; manual < 2; manual++) {
		struct waiter w;
		apc_handle e = event_new(manual, false);
		apc_handle s = t_semaphore_new(1, 10);
		unsigned int pulses = 1;
		bool known;
		uint32_t r;

		known = start_waiters(&w, 1, e, s);
		cr_assert_eq(apc_event_pulse(e), 0);
		for (;;) {
			r = apc_wait(w.thread,
				     known ? T_WAIT_MS * t_slack() : 200, false,
				     NULL);
			if (r == APC_WAIT_OBJECT_0)
				break;
			cr_assert_eq(r, APC_WAIT_TIMEOUT);
			cr_assert_not(known, "the pulse did not release it");
			cr_assert_lt(pulses, 100);
			cr_assert_eq(apc_event_pulse(e), 0);
			pulses++;
		}
		cr_assert_eq(t_join(w.thread), APC_WAIT_OBJECT_0);
		/* It took the count; the pulse left the event unsignalled. */
		cr_assert_not(t_poll0(s));
		cr_assert_not(t_poll0(e));
		cr_assert_eq(apc_close(e), 0);
		cr_assert_eq(apc_close(s), 0);
	}
}

/* ---- C28: event calls on other objects ----------------------------------- */

static uint32_t thread_return_0(void *arg)
{
	(void)arg;
	return 0;
}

Test(event, C28_event_calls_on_other_objects_fail)
{
	apc_handle s = t_semaphore_new(1, 1);
	apc_handle m = T_POISON_HANDLE;
	apc_handle th = t_spawn(thread_return_0, NULL);
	apc_handle closed;
	apc_handle bad[6];
	unsigned int i;

	cr_assert_eq(apc_mutex_create(false, &m), 0);
	cr_assert_eq(t_wait_exit(th), 0);
	/* Last, so that no later handle can take its value (Windows). */
	closed = event_new(true, true);
	cr_assert_eq(apc_close(closed), 0);

	bad[0] = s;
	bad[1] = m;
	bad[2] = th;
	bad[3] = closed;
	bad[4] = NULL;
	bad[5] = T_POISON_HANDLE;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(apc_event_set(bad[i]), APC_ERROR_INVALID_HANDLE,
			     "set on #%u", i);
		cr_assert_eq(apc_event_reset(bad[i]), APC_ERROR_INVALID_HANDLE,
			     "reset on #%u", i);
		cr_assert_eq(apc_event_pulse(bad[i]), APC_ERROR_INVALID_HANDLE,
			     "pulse on #%u", i);
	}

	/* The Win32 names: FALSE and last error 6. */
	SetLastError(0);
	cr_assert_not(SetEvent(s));
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
	SetLastError(0);
	cr_assert_not(ResetEvent(m));
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
	SetLastError(0);
	cr_assert_not(PulseEvent(th));
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);

	/* Nothing changed: the semaphore keeps its count, the mutex is
	 * free, the thread handle still signalled. */
	cr_assert(t_poll0(s));
	cr_assert_not(t_poll0(s));
	cr_assert_eq(apc_wait(m, 0, false, NULL), APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_mutex_release(m), 0);
	cr_assert(t_poll0(th));
	cr_assert_eq(apc_close(s), 0);
	cr_assert_eq(apc_close(m), 0);
	cr_assert_eq(apc_close(th), 0);
}

/* ---- B7: waits leave the last error alone -------------------------------- */

Test(event, B7_event_waits_leave_last_error_alone)
{
	/* Created with the portable calls: B7 is about the waits. */
	HANDLE set = event_new(true, true);
	HANDLE unset = event_new(false, false);
	HANDLE both[2];

	both[0] = unset;
	both[1] = set;

	SetLastError(0xdeadbeef);
	cr_assert_eq(WaitForSingleObject(unset, 0), WAIT_TIMEOUT);
	cr_assert_eq(GetLastError(), 0xdeadbeef);
	cr_assert_eq(WaitForSingleObject(set, 0), WAIT_OBJECT_0);
	cr_assert_eq(GetLastError(), 0xdeadbeef);
	cr_assert_eq(WaitForSingleObjectEx(unset, 10, TRUE), WAIT_TIMEOUT);
	cr_assert_eq(GetLastError(), 0xdeadbeef);
	cr_assert_eq(WaitForMultipleObjects(2, both, FALSE, 0),
		     WAIT_OBJECT_0 + 1);
	cr_assert_eq(GetLastError(), 0xdeadbeef);
	cr_assert_eq(WaitForMultipleObjectsEx(2, both, TRUE, 0, TRUE),
		     WAIT_TIMEOUT);
	cr_assert_eq(GetLastError(), 0xdeadbeef);
	/* Signal the auto event and consume it with the same call. */
	cr_assert_eq(SignalObjectAndWait(unset, unset, 0, FALSE),
		     WAIT_OBJECT_0);
	cr_assert_eq(GetLastError(), 0xdeadbeef);

	/* Only WAIT_FAILED sets it. */
	cr_assert_eq(WaitForSingleObject(NULL, 0), WAIT_FAILED);
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
	cr_assert(CloseHandle(set));
	cr_assert(CloseHandle(unset));
}

/* ---- B8, B10, B11, B16: events and APCs ---------------------------------- */

static void apc_set_event(uintptr_t data)
{
	t_log_push(1);
	(void)apc_event_set((apc_handle)data);
}

Test(event, B8_apc_that_sets_the_event_does_not_satisfy_the_wait)
{
	int manual;

	for (manual = 0; manual < 2; manual++) {
		apc_handle e = event_new(manual, false);
		apc_handle other = event_new(false, false);
		apc_handle two[2];

		t_reset();
		cr_assert_eq(apc_queue(APC_CURRENT_THREAD, apc_set_event,
				       (uintptr_t)e),
			     0);
		cr_assert_eq(apc_wait(e, T_WAIT_MS, true, NULL),
			     APC_WAIT_IO_COMPLETION, "manual %d", manual);
		cr_assert_eq(t_log_len(), 1);
		/* Not reset by the wait: still signalled. */
		cr_assert(t_poll0(e), "manual %d", manual);
		cr_assert_eq(apc_event_reset(e), 0);

		two[0] = other;
		two[1] = e;
		cr_assert_eq(apc_queue(APC_CURRENT_THREAD, apc_set_event,
				       (uintptr_t)e),
			     0);
		cr_assert_eq(
			apc_wait_multiple(2, two, false, T_WAIT_MS, true, NULL),
			APC_WAIT_IO_COMPLETION);
		cr_assert_eq(t_log_len(), 2);
		cr_assert(t_poll0(e));
		cr_assert_not(t_poll0(other));
		cr_assert_eq(apc_close(e), 0);
		cr_assert_eq(apc_close(other), 0);
	}
}

struct alertable_waiter {
	apc_handle event;
	atomic_uint ready;
	atomic_uint result;
	atomic_uint after;
};

static uint32_t thread_alertable_wait(void *arg)
{
	struct alertable_waiter *w = arg;

	atomic_store(&w->ready, 1);
	atomic_store(&w->result,
		     apc_wait(w->event, T_WAIT_MS * t_slack(), true, NULL));
	atomic_store(&w->after, apc_sleep(0, true));
	return 0;
}

Test(event, B8_apc_queued_to_a_waiter_sets_its_event)
{
	struct alertable_waiter w = {0};
	uint32_t tid = 0;
	apc_handle th;

	t_reset();
	w.event = event_new(false, false);
	th = t_spawn_flags(thread_alertable_wait, &w, 0, &tid);
	cr_assert(t_spin_until(&w.ready, 1, T_WAIT_MS));
	(void)t_wait_blocked(tid);
	cr_assert_eq(apc_queue(th, apc_set_event, (uintptr_t)w.event), 0);
	cr_assert_eq(t_join(th), 0);
	cr_assert_eq(atomic_load(&w.result), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&w.after), 0);
	t_assert_log_seq(1, 1, tid);
	/* The APC's signal is still there for the next waiter. */
	cr_assert(t_poll0(w.event));
	cr_assert_not(t_poll0(w.event));
	cr_assert_eq(apc_close(w.event), 0);
}

Test(event, B10_signalled_event_wins_over_pending_apc)
{
	apc_handle e = event_new(false, true);
	apc_handle m = event_new(true, true);
	apc_handle u = event_new(false, false);
	apc_handle two[2];

	t_reset();
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(apc_wait(e, 0, true, NULL), APC_WAIT_OBJECT_0);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);
	cr_assert_not(t_poll0(e), "the wait did not acquire the event");
	cr_assert_eq(apc_event_set(e), 0);
	cr_assert_eq(apc_wait(e, T_WAIT_MS, true, NULL), APC_WAIT_OBJECT_0);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);

	/* Wait-any: the signalled index wins, the APC stays queued. */
	two[0] = u;
	two[1] = m;
	cr_assert_eq(apc_wait_multiple(2, two, false, 0, true, NULL),
		     APC_WAIT_OBJECT_0 + 1);
	cr_assert_eq(apc_wait_multiple(2, two, false, T_WAIT_MS, true, NULL),
		     APC_WAIT_OBJECT_0 + 1);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);

	/* Still queued: the next alertable wait that finds nothing runs it. */
	cr_assert_eq(apc_event_reset(m), 0);
	cr_assert_eq(apc_wait_multiple(2, two, false, T_WAIT_MS, true, NULL),
		     APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&t_apc_runs), 1);
	cr_assert_eq(apc_sleep(0, true), 0);
	cr_assert_eq(apc_close(e), 0);
	cr_assert_eq(apc_close(m), 0);
	cr_assert_eq(apc_close(u), 0);
}

Test(event, B11_B16_apc_ends_wait_on_unsignalled_event)
{
	apc_handle e = event_new(false, false);

	t_reset();
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(apc_wait(e, 0, true, NULL), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&t_apc_runs), 1);
	cr_assert_eq(apc_wait(e, 0, true, NULL), APC_WAIT_TIMEOUT);

	/* An infinite wait ends once, with the APC, not restarted (B16). */
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(apc_wait(e, APC_INFINITE, true, NULL),
		     APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&t_apc_runs), 3);
	cr_assert_not(t_poll0(e));
	cr_assert_eq(apc_close(e), 0);
}

/* ---- B14: event and APC at once, exactly one outcome --------------------- */

/*
 * Each round: the waiter waits alertably on an auto-reset event; main sets
 * the event while a third thread queues an APC to the waiter, both as soon
 * as the waiter says it is about to wait (one of them a few yields later
 * in half of the rounds, so that both orders and both a spinning and a
 * parked waiter come up).  Exactly one of: the wait returns WAIT_OBJECT_0,
 * the APC did not run and is still queued, the event is consumed; or it
 * returns WAIT_IO_COMPLETION, the APC ran, the event is still signalled.
 */
static struct {
	apc_handle event;
	apc_handle waiter;
	unsigned int rounds;
	atomic_uint go;	    /* round released by main */
	atomic_uint ready;  /* last round the waiter is about to wait in */
	atomic_uint set;    /* last round whose event main set */
	atomic_uint queued; /* last round whose APC was queued */
	atomic_uint done;   /* last round the waiter checked */
	atomic_uint runs;   /* APC runs */
	atomic_uint by_object, by_apc, bad, bad_round, bad_what;
} b14;

static void b14_apc(uintptr_t data)
{
	(void)data;
	atomic_fetch_add(&b14.runs, 1);
}

static void b14_bad(unsigned int r, unsigned int what)
{
	if (atomic_fetch_add(&b14.bad, 1) == 0) {
		atomic_store(&b14.bad_round, r);
		atomic_store(&b14.bad_what, what);
	}
}

/* A few yields, their number varying with the round. */
static void b14_yield(unsigned int r)
{
	unsigned int i;

	for (i = 0; i < r / 4 % 3; i++)
		(void)apc_sleep(0, false);
}

static uint32_t thread_b14_waiter(void *arg)
{
	unsigned int r, before, at_return;
	uint32_t res;

	(void)arg;
	for (r = 1; r <= b14.rounds; r++) {
		if (!t_spin_until(&b14.go, r, 60000))
			return 1;
		before = atomic_load(&b14.runs);
		atomic_store(&b14.ready, r);
		res = apc_wait(b14.event, T_WAIT_MS * t_slack(), true, NULL);
		at_return = atomic_load(&b14.runs);
		if (!t_spin_until(&b14.set, r, 60000) ||
		    !t_spin_until(&b14.queued, r, 60000))
			return 2;
		if (res == APC_WAIT_OBJECT_0) {
			atomic_fetch_add(&b14.by_object, 1);
			if (at_return != before)
				b14_bad(r, 1); /* the APC ran too */
			if (apc_wait(b14.event, 0, false, NULL) !=
			    APC_WAIT_TIMEOUT)
				b14_bad(r, 2); /* not consumed */
			if (apc_sleep(0, true) != APC_WAIT_IO_COMPLETION ||
			    atomic_load(&b14.runs) != before + 1)
				b14_bad(r, 3); /* the APC was lost */
		} else if (res == APC_WAIT_IO_COMPLETION) {
			atomic_fetch_add(&b14.by_apc, 1);
			if (at_return != before + 1)
				b14_bad(r, 4);
			if (apc_wait(b14.event, 0, false, NULL) !=
			    APC_WAIT_OBJECT_0)
				b14_bad(r, 5); /* the wait took the event */
			if (apc_sleep(0, true) != 0)
				b14_bad(r, 6);
		} else {
			b14_bad(r, 0x1000 + res);
		}
		atomic_store(&b14.done, r);
	}
	return 0;
}

static uint32_t thread_b14_queuer(void *arg)
{
	unsigned int r;

	(void)arg;
	for (r = 1; r <= b14.rounds; r++) {
		if (!t_spin_until(&b14.ready, r, 60000))
			return 1;
		if (r % 4 == 2)
			b14_yield(r);
		if (apc_queue(b14.waiter, b14_apc, r) != 0)
			return 2;
		atomic_store(&b14.queued, r);
	}
	return 0;
}

Test(event, B14_set_and_apc_race_exactly_one_outcome)
{
#if defined(_WIN32)
	const unsigned int rounds = 20000; /* wineserver round trips */
#else
	const unsigned int rounds = 100000;
#endif
	apc_handle q;
	unsigned int r;

	b14.rounds = rounds;
	b14.event = event_new(false, false);
	b14.waiter = t_spawn(thread_b14_waiter, NULL);
	q = t_spawn(thread_b14_queuer, NULL);
	for (r = 1; r <= rounds; r++) {
		atomic_store(&b14.go, r);
		cr_assert(t_spin_until(&b14.ready, r, 60000), "round %u", r);
		if (r % 4 == 1)
			b14_yield(r);
		cr_assert_eq(apc_event_set(b14.event), 0);
		atomic_store(&b14.set, r);
		cr_assert(t_spin_until(&b14.done, r, 60000), "round %u", r);
	}
	cr_assert_eq(t_join(q), 0);
	cr_assert_eq(t_join(b14.waiter), 0);
	cr_assert_eq(atomic_load(&b14.bad), 0,
		     "%u bad rounds; first: round %u, check %#x",
		     atomic_load(&b14.bad), atomic_load(&b14.bad_round),
		     atomic_load(&b14.bad_what));
	cr_assert_eq(atomic_load(&b14.by_object) + atomic_load(&b14.by_apc),
		     rounds);
	cr_assert_eq(atomic_load(&b14.runs), rounds);
	cr_log_info("B14: %u rounds, %u ended by the event, %u by the APC",
		    rounds, atomic_load(&b14.by_object),
		    atomic_load(&b14.by_apc));
	cr_assert_eq(apc_close(b14.event), 0);
}
