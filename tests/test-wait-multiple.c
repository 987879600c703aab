/*
 * Waits on several objects (wait-any, wait-all) and SignalObjectAndWait:
 * argument checks, which object a wait-any takes, the atomicity of
 * wait-all, abandoned mutexes in both, alertable multi-object waits, and
 * 8 threads x 10,000 operations on shared events, semaphores and mutexes.
 *
 * Contract: C1-C19 (general wait rules), C48-C50 (SignalObjectAndWait),
 * B9, B10, B19.  C13 (access masks) is Windows-only and out of apcrt's
 * scope; C51 asks for no test (nothing here relies on the signal and the
 * wait of apc_signal_and_wait being one step).  [apcrt] rules that
 * Windows need not share (C9's wait-any half, C15, C16) are POSIX only.
 */
#include <criterion/criterion.h>

#include <apc/apc.h>
#include <apc/windows.h>

#include "blocked.h"
#include "helpers.h"

TestSuite(wait_multiple, .timeout = 300);
TestSuite(signal_and_wait, .timeout = 120);

/* ---- helpers ------------------------------------------------------------- */

/* Another thread's 0 ms wait on mutex m, released again if it got it:
 * WAIT_OBJECT_0 while nobody owns m, WAIT_TIMEOUT while someone does. */
static uint32_t thread_probe(void *arg)
{
	uint32_t r = apc_wait(arg, 0, false, NULL);

	if (r == APC_WAIT_OBJECT_0 && apc_mutex_release(arg) != 0)
		return 0xB0000000u;
	return r;
}

static uint32_t probe_other(apc_handle m)
{
	return t_join(t_spawn(thread_probe, m));
}

/* Make m abandoned (contract C40). */
static void abandon(apc_handle m)
{
	uint32_t r = t_join(t_spawn(t_thread_take_and_end, m));

	cr_assert(r == APC_WAIT_OBJECT_0 || r == APC_WAIT_ABANDONED_0,
		  "abandoning thread: %#x", r);
}

/* A thread that owns m until its gate opens, then ends (abandoning m). */
struct owner {
	apc_handle m;
	atomic_uint gate;
};

static uint32_t thread_owner(void *arg)
{
	struct owner *o = arg;

	if (apc_wait(o->m, T_WAIT_MS * t_slack(), false, NULL) !=
	    APC_WAIT_OBJECT_0)
		return 1;
	return t_thread_gated(&o->gate);
}

static apc_handle start_owner(struct owner *o, apc_handle m)
{
	apc_handle th;

	o->m = m;
	atomic_init(&o->gate, 0);
	th = t_spawn(thread_owner, o);
	cr_assert(t_gate_wait_running(&o->gate));
	return th;
}

/* Check a WAIT_FAILED result and its error; err is poisoned again. */
#define assert_failed(r, err, want)                                            \
	do {                                                                   \
		cr_assert_eq((r), APC_WAIT_FAILED, "result %#x", (r));         \
		cr_assert_eq((err), (want), "error %u", (err));                \
		(err) = T_POISON;                                              \
	} while (0)

/* ---- C1, C2: how many handles -------------------------------------------- */

Test(wait_multiple, C1_count_is_1_to_64)
{
	static const uint32_t bad[] = {0, 65, 100, 0x80000000u, UINT32_MAX};
	apc_handle h[65];
	HANDLE wh[65];
	uint32_t err = T_POISON, r;
	unsigned int i, all;

	for (i = 0; i < 65; i++) {
		h[i] = t_event_new(true, true);
		wh[i] = h[i];
	}
	for (all = 0; all < 2; all++) {
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			r = apc_wait_multiple(bad[i], h, all, 0, false, &err);
			assert_failed(r, err, APC_ERROR_INVALID_PARAMETER);
			r = apc_wait_multiple(bad[i], h, all, 10, true, &err);
			assert_failed(r, err, APC_ERROR_INVALID_PARAMETER);
		}
		cr_assert_eq(apc_wait_multiple(1, h, all, 0, false, &err),
			     APC_WAIT_OBJECT_0);
		cr_assert_eq(apc_wait_multiple(64, h, all, 0, false, &err),
			     APC_WAIT_OBJECT_0);
		cr_assert_eq(err, T_POISON);
	}

	/* The Win32 names: WAIT_FAILED and last error 87. */
	SetLastError(0);
	cr_assert_eq(WaitForMultipleObjects(0, wh, FALSE, 0), WAIT_FAILED);
	cr_assert_eq(GetLastError(), ERROR_INVALID_PARAMETER);
	SetLastError(0);
	cr_assert_eq(WaitForMultipleObjectsEx(65, wh, TRUE, 0, TRUE),
		     WAIT_FAILED);
	cr_assert_eq(GetLastError(), ERROR_INVALID_PARAMETER);
	SetLastError(0xdeadbeef);
	cr_assert_eq(WaitForMultipleObjects(MAXIMUM_WAIT_OBJECTS, wh, TRUE, 0),
		     WAIT_OBJECT_0);
	cr_assert_eq(GetLastError(), 0xdeadbeef);
	cr_assert_eq(MAXIMUM_WAIT_OBJECTS, 64);
	for (i = 0; i < 65; i++)
		cr_assert_eq(apc_close(h[i]), 0);
}

Test(wait_multiple, C2_sixty_four_objects_any_and_all)
{
	apc_handle ev[64], s[64];
	unsigned int i;

	for (i = 0; i < 64; i++) {
		ev[i] = t_event_new(true, true);
		s[i] = t_semaphore_new(1, 1);
	}
	cr_assert_eq(apc_wait_multiple(64, ev, false, 0, false, NULL),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_wait_multiple(64, ev, true, 0, false, NULL),
		     APC_WAIT_OBJECT_0);

	/* Wait-all takes one count of each of the 64. */
	cr_assert_eq(apc_wait_multiple(64, s, true, T_WAIT_MS, false, NULL),
		     APC_WAIT_OBJECT_0);
	for (i = 0; i < 64; i++)
		cr_assert_not(t_poll0(s[i]), "semaphore %u", i);

	/* One short: the wait-all times out and takes nothing. */
	for (i = 0; i < 63; i++)
		cr_assert_eq(apc_semaphore_release(s[i], 1, NULL), 0);
	cr_assert_eq(apc_wait_multiple(64, s, true, 0, false, NULL),
		     APC_WAIT_TIMEOUT);
	cr_assert_eq(apc_wait_multiple(64, s, true, 20, true, NULL),
		     APC_WAIT_TIMEOUT);
	cr_assert_eq(apc_semaphore_release(s[63], 1, NULL), 0);
	cr_assert_eq(apc_wait_multiple(64, s, true, 0, false, NULL),
		     APC_WAIT_OBJECT_0);
	for (i = 0; i < 64; i++)
		cr_assert_not(t_poll0(s[i]), "semaphore %u", i);

	/* Wait-any over 64: only the last one is signalled. */
	cr_assert_eq(apc_semaphore_release(s[63], 1, NULL), 0);
	cr_assert_eq(apc_wait_multiple(64, s, false, 0, false, NULL),
		     APC_WAIT_OBJECT_0 + 63);
	cr_assert_eq(apc_wait_multiple(64, s, false, 0, false, NULL),
		     APC_WAIT_TIMEOUT);
	for (i = 0; i < 64; i++) {
		cr_assert_eq(apc_close(ev[i]), 0);
		cr_assert_eq(apc_close(s[i]), 0);
	}
}

/* ---- C3, C4: wait-any ---------------------------------------------------- */

Test(wait_multiple, C3_C4_lowest_signalled_index_and_only_it)
{
	apc_handle ev[64];
	unsigned int i;
	int k;

	/* Index 0 manual, the others auto; set from the last to the first. */
	for (i = 0; i < 64; i++)
		ev[i] = t_event_new(i == 0, false);
	for (k = 63; k >= 0; k--)
		cr_assert_eq(apc_event_set(ev[k]), 0);

	for (i = 0; i < 3; i++)
		cr_assert_eq(apc_wait_multiple(64, ev, false, 0, false, NULL),
			     APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_event_reset(ev[0]), 0);
	/* Each wait consumes exactly the one auto event it reports. */
	for (i = 1; i < 64; i++)
		cr_assert_eq(apc_wait_multiple(64, ev, false, i & 1 ? 0 : 50,
					       i % 3 == 0, NULL),
			     APC_WAIT_OBJECT_0 + i);
	cr_assert_eq(apc_wait_multiple(64, ev, false, 0, false, NULL),
		     APC_WAIT_TIMEOUT);
	for (i = 0; i < 64; i++)
		cr_assert_eq(apc_close(ev[i]), 0);
}

Test(wait_multiple, C4_wait_any_changes_only_the_object_it_returns)
{
	apc_handle h[4];
	int32_t prev = (int32_t)T_POISON;

	h[0] = t_semaphore_new(2, 5);
	h[1] = t_event_new(false, true);
	h[2] = t_semaphore_new(1, 5);
	h[3] = t_mutex_new(false);

	cr_assert_eq(apc_wait_multiple(4, h, false, 0, false, NULL),
		     APC_WAIT_OBJECT_0);
	/* Only h[0] lost a count. */
	cr_assert_eq(apc_semaphore_release(h[0], 1, &prev), 0);
	cr_assert_eq(prev, 1);
	cr_assert_eq(t_drain(h[0]), 2);
	cr_assert_eq(apc_wait_multiple(4, h, false, 0, false, NULL),
		     APC_WAIT_OBJECT_0 + 1);
	cr_assert_eq(apc_wait_multiple(4, h, false, 0, false, NULL),
		     APC_WAIT_OBJECT_0 + 2);
	cr_assert_eq(probe_other(h[3]), APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_wait_multiple(4, h, false, 0, false, NULL),
		     APC_WAIT_OBJECT_0 + 3);
	cr_assert_eq(probe_other(h[3]), APC_WAIT_TIMEOUT);
	/* The owner's mutex stays signalled for it (C36). */
	cr_assert_eq(apc_wait_multiple(4, h, false, 0, false, NULL),
		     APC_WAIT_OBJECT_0 + 3);
	cr_assert_eq(apc_mutex_release(h[3]), 0);
	cr_assert_eq(apc_mutex_release(h[3]), 0);
	cr_assert_eq(apc_mutex_release(h[3]), APC_ERROR_NOT_OWNER);
	cr_assert_eq(t_drain(h[2]), 0);
	cr_assert_not(t_poll0(h[1]));
	cr_assert_eq(apc_close(h[0]), 0);
	cr_assert_eq(apc_close(h[1]), 0);
	cr_assert_eq(apc_close(h[2]), 0);
	cr_assert_eq(apc_close(h[3]), 0);
}

/* ---- C5, C6, C17: wait-all ----------------------------------------------- */

Test(wait_multiple, C5_wait_all_acquires_every_object)
{
	apc_handle s = t_semaphore_new(2, 5);
	apc_handle m = t_mutex_new(false);
	apc_handle me = t_event_new(true, true);
	apc_handle ae = t_event_new(false, true);
	apc_handle h[4];
	uint32_t err = T_POISON;

	h[0] = s;
	h[1] = m;
	h[2] = me;
	h[3] = ae;
	cr_assert_eq(apc_wait_multiple(4, h, true, 0, false, &err),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(err, T_POISON);
	cr_assert_eq(t_drain(s), 1);			/* one count taken */
	cr_assert_eq(probe_other(m), APC_WAIT_TIMEOUT); /* owned */
	cr_assert_eq(apc_mutex_release(m), 0);
	cr_assert_eq(apc_mutex_release(m), APC_ERROR_NOT_OWNER);
	cr_assert(t_poll0(me));	    /* manual: untouched */
	cr_assert_not(t_poll0(ae)); /* auto: reset */
	cr_assert_eq(apc_close(s), 0);
	cr_assert_eq(apc_close(m), 0);
	cr_assert_eq(apc_close(me), 0);
	cr_assert_eq(apc_close(ae), 0);
}

/* A thread in a bounded wait (any or all) on up to 4 objects; once its
 * wait returned it reports, waits for its gate, then releases `release`
 * (a mutex it should own, or NULL) and checks its count was 1. */
struct multi_waiter {
	apc_handle objs[4];
	uint32_t count;
	bool all;
	apc_handle release;
	atomic_uint ready;
	atomic_uint result; /* wait result + 1, once returned */
	atomic_uint gate;
	uint32_t tid;
};

static uint32_t thread_multi_waiter(void *arg)
{
	struct multi_waiter *w = arg;
	uint32_t r;

	atomic_store(&w->ready, 1);
	r = apc_wait_multiple(w->count, w->objs, w->all, T_WAIT_MS * t_slack(),
			      false, NULL);
	atomic_store(&w->result, r + 1);
	if (t_thread_gated(&w->gate) != 0)
		return 0xE1000000u;
	if (w->release) {
		if (apc_mutex_release(w->release) != 0)
			return 0xE2000000u;
		if (apc_mutex_release(w->release) != APC_ERROR_NOT_OWNER)
			return 0xE3000000u;
	}
	return r;
}

static apc_handle start_multi_waiter(struct multi_waiter *w, bool *known)
{
	apc_handle th;

	atomic_init(&w->ready, 0);
	atomic_init(&w->result, 0);
	th = t_spawn_flags(thread_multi_waiter, w, 0, &w->tid);
	cr_assert(t_spin_until(&w->ready, 1, T_WAIT_MS));
	*known = t_wait_blocked(w->tid);
	return th;
}

Test(wait_multiple, C6_C17_wait_all_holds_nothing_until_complete)
{
	apc_handle s = t_semaphore_new(0, 5);
	apc_handle m = t_mutex_new(true);
	apc_handle u = t_event_new(false, false);
	struct multi_waiter w = {.count = 2, .all = true};
	struct multi_waiter any = {.count = 2, .all = false};
	apc_handle th, tany;
	int32_t prev = (int32_t)T_POISON;
	bool known;

	w.objs[0] = s;
	w.objs[1] = m;
	w.release = m;
	atomic_init(&w.gate, 0);
	th = start_multi_waiter(&w, &known);

	/* The semaphore alone: the waiter does not take it. */
	cr_assert_eq(apc_semaphore_release(s, 1, &prev), 0);
	cr_assert_eq(prev, 0);
	cr_assert_eq(apc_wait(th, 100, false, NULL), APC_WAIT_TIMEOUT);
	cr_assert_eq(atomic_load(&w.result), 0);

	/* C17: a wait-any thread takes it from under the wait-all one. */
	any.objs[0] = u;
	any.objs[1] = s;
	atomic_init(&any.gate, T_GATE_OPEN);
	tany = start_multi_waiter(&any, &known);
	cr_assert_eq(t_join(tany), APC_WAIT_OBJECT_0 + 1);
	cr_assert_not(t_poll0(s));

	/* The mutex alone: still not complete, and not held either. */
	cr_assert_eq(apc_mutex_release(m), 0);
	cr_assert_eq(apc_wait(th, 100, false, NULL), APC_WAIT_TIMEOUT);
	cr_assert_eq(atomic_load(&w.result), 0);
	cr_assert_eq(probe_other(m), APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_wait(m, 0, false, NULL), APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_mutex_release(m), 0);

	/* Both at once: it takes both. */
	cr_assert_eq(apc_semaphore_release(s, 1, &prev), 0);
	cr_assert(t_spin_until(&w.result, 1, T_WAIT_MS));
	cr_assert_eq(atomic_load(&w.result), APC_WAIT_OBJECT_0 + 1);
	cr_assert_not(t_poll0(s));
	cr_assert_eq(probe_other(m), APC_WAIT_TIMEOUT);
	atomic_fetch_or(&w.gate, T_GATE_OPEN);
	cr_assert_eq(t_join(th), APC_WAIT_OBJECT_0);
	cr_assert_eq(probe_other(m), APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_close(s), 0);
	cr_assert_eq(apc_close(m), 0);
	cr_assert_eq(apc_close(u), 0);
}

/* ---- C7, C8: abandoned mutexes ------------------------------------------- */

Test(wait_multiple, C7_wait_all_with_abandoned_mutex_returns_exactly_0x80)
{
	apc_handle ae = t_event_new(false, true);
	apc_handle s = t_semaphore_new(1, 5);
	apc_handle me = t_event_new(true, true);
	apc_handle m1 = t_mutex_new(false), m2 = t_mutex_new(false);
	apc_handle h[3];

	abandon(m1);
	h[0] = ae;
	h[1] = m1;
	cr_assert_eq(apc_wait_multiple(2, h, true, 0, false, NULL),
		     APC_WAIT_ABANDONED_0);
	/* Every object acquired: the mutex is ours, the event consumed. */
	cr_assert_eq(probe_other(m1), APC_WAIT_TIMEOUT);
	cr_assert_eq(apc_mutex_release(m1), 0);
	cr_assert_eq(apc_mutex_release(m1), APC_ERROR_NOT_OWNER);
	cr_assert_not(t_poll0(ae));

	/* The abandoned mutex last of three: still 0x80, not 0x82. */
	abandon(m1);
	h[0] = s;
	h[1] = me;
	h[2] = m1;
	cr_assert_eq(apc_wait_multiple(3, h, true, T_WAIT_MS, true, NULL),
		     APC_WAIT_ABANDONED_0);
	cr_assert_eq(t_drain(s), 0);
	cr_assert(t_poll0(me));
	cr_assert_eq(apc_mutex_release(m1), 0);

	/* Two abandoned: one 0x80, both owned, then reported no more. */
	abandon(m1);
	abandon(m2);
	h[0] = m2;
	h[1] = m1;
	cr_assert_eq(apc_wait_multiple(2, h, true, 0, false, NULL),
		     APC_WAIT_ABANDONED_0);
	cr_assert_eq(apc_mutex_release(m1), 0);
	cr_assert_eq(apc_mutex_release(m2), 0);
	cr_assert_eq(apc_wait_multiple(2, h, true, 0, false, NULL),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_mutex_release(m1), 0);
	cr_assert_eq(apc_mutex_release(m2), 0);

	/* The Win32 name. */
	abandon(m2);
	cr_assert_eq(WaitForMultipleObjects(2, h, TRUE, 0), WAIT_ABANDONED);
	cr_assert(ReleaseMutex(m1));
	cr_assert(ReleaseMutex(m2));

	cr_assert_eq(apc_close(ae), 0);
	cr_assert_eq(apc_close(s), 0);
	cr_assert_eq(apc_close(me), 0);
	cr_assert_eq(apc_close(m1), 0);
	cr_assert_eq(apc_close(m2), 0);
}

Test(wait_multiple, C8_wait_any_reports_the_abandoned_index)
{
	apc_handle h[3];

	h[0] = t_event_new(false, false);
	h[1] = t_semaphore_new(0, 1);
	h[2] = t_mutex_new(false);
	abandon(h[2]);
	cr_assert_eq(apc_wait_multiple(3, h, false, 0, false, NULL),
		     APC_WAIT_ABANDONED_0 + 2);
	/* Owned with count 1. */
	cr_assert_eq(probe_other(h[2]), APC_WAIT_TIMEOUT);
	cr_assert_eq(apc_mutex_release(h[2]), 0);
	cr_assert_eq(apc_mutex_release(h[2]), APC_ERROR_NOT_OWNER);
	cr_assert_eq(probe_other(h[2]), APC_WAIT_OBJECT_0);

	/* A lower signalled index wins; the mutex stays abandoned. */
	abandon(h[2]);
	cr_assert_eq(apc_event_set(h[0]), 0);
	cr_assert_eq(apc_wait_multiple(3, h, false, 0, false, NULL),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_wait_multiple(3, h, false, T_WAIT_MS, true, NULL),
		     APC_WAIT_ABANDONED_0 + 2);
	cr_assert_eq(apc_mutex_release(h[2]), 0);
	/* Reported once. */
	cr_assert_eq(apc_wait_multiple(3, h, false, 0, false, NULL),
		     APC_WAIT_OBJECT_0 + 2);
	cr_assert_eq(apc_mutex_release(h[2]), 0);

	/* At index 0. */
	abandon(h[2]);
	cr_assert_eq(apc_wait_multiple(1, &h[2], false, 0, false, NULL),
		     APC_WAIT_ABANDONED_0);
	cr_assert_eq(apc_mutex_release(h[2]), 0);
	cr_assert_eq(apc_close(h[0]), 0);
	cr_assert_eq(apc_close(h[1]), 0);
	cr_assert_eq(apc_close(h[2]), 0);
}

/* ---- C9: the same object twice ------------------------------------------- */

#define C9_WINE                                                                \
	"Wine's server waits on an object twice in a wait-all; "               \
	"MS WaitForMultipleObjectsEx: no duplicates (NT: "                     \
	"STATUS_INVALID_PARAMETER_MIX)"

Test(wait_multiple, C9_same_object_twice_in_wait_all_fails)
{
	apc_handle me = t_event_new(true, true);
	apc_handle s = t_semaphore_new(2, 5);
	apc_handle d = T_POISON_HANDLE;
	apc_handle h[3];
	uint32_t err = T_POISON, r;
	unsigned int left;

	h[0] = me;
	h[1] = me;
	r = apc_wait_multiple(2, h, true, 0, false, &err);
	T_WINE_DEVIATION(C9_WINE, cr_expect_eq(r, APC_WAIT_FAILED));
	T_WINE_DEVIATION(C9_WINE,
			 cr_expect_eq(err, APC_ERROR_INVALID_PARAMETER));

	/* Two handles to one object are the same object. */
	cr_assert_eq(apc_handle_duplicate(me, 0, &d), 0);
	h[1] = d;
	err = T_POISON;
	r = apc_wait_multiple(2, h, true, 0, false, &err);
	T_WINE_DEVIATION(C9_WINE, cr_expect_eq(r, APC_WAIT_FAILED));
	T_WINE_DEVIATION(C9_WINE,
			 cr_expect_eq(err, APC_ERROR_INVALID_PARAMETER));

	/* And the failed wait takes nothing. */
	h[0] = s;
	h[1] = me;
	h[2] = s;
	err = T_POISON;
	r = apc_wait_multiple(3, h, true, 0, false, &err);
	T_WINE_DEVIATION(C9_WINE, cr_expect_eq(r, APC_WAIT_FAILED));
	T_WINE_DEVIATION(C9_WINE,
			 cr_expect_eq(err, APC_ERROR_INVALID_PARAMETER));
	left = t_drain(s);
	T_WINE_DEVIATION(C9_WINE, cr_expect_eq(left, 2));
	cr_assert(t_poll0(me));
	cr_assert_eq(apc_close(d), 0);
	cr_assert_eq(apc_close(me), 0);
	cr_assert_eq(apc_close(s), 0);
}

#ifndef _WIN32
/*
 * [apcrt] C9: Microsoft's text forbids duplicates in any wait; apcrt
 * accepts them in a wait-any, reports the lowest index and takes one.
 */
static uint32_t thread_wait_any_twice(void *arg)
{
	apc_handle h[2];

	h[0] = arg;
	h[1] = arg;
	return apc_wait_multiple(2, h, false, T_WAIT_MS * t_slack(), false,
				 NULL);
}

Test(wait_multiple, C9_same_object_twice_in_wait_any_is_accepted)
{
	apc_handle s = t_semaphore_new(2, 5);
	apc_handle u = t_event_new(false, false);
	apc_handle d = T_POISON_HANDLE;
	apc_handle h[3];
	apc_handle th;

	h[0] = s;
	h[1] = s;
	cr_assert_eq(apc_wait_multiple(2, h, false, 0, false, NULL),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(t_drain(s), 1);

	cr_assert_eq(apc_semaphore_release(s, 1, NULL), 0);
	cr_assert_eq(apc_handle_duplicate(s, 0, &d), 0);
	h[0] = u;
	h[1] = d;
	h[2] = s;
	cr_assert_eq(apc_wait_multiple(3, h, false, 0, false, NULL),
		     APC_WAIT_OBJECT_0 + 1);
	cr_assert_eq(t_drain(s), 0);

	/* A sleeping waiter with the object twice is woken, and takes one. */
	th = t_spawn(thread_wait_any_twice, s);
	cr_assert_eq(apc_semaphore_release(s, 2, NULL), 0);
	cr_assert_eq(t_join(th), APC_WAIT_OBJECT_0);
	cr_assert_eq(t_drain(s), 1);
	cr_assert_eq(apc_close(d), 0);
	cr_assert_eq(apc_close(s), 0);
	cr_assert_eq(apc_close(u), 0);
}
#endif /* !_WIN32 */

/* ---- C10, C11, C12: which handles --------------------------------------- */

Test(wait_multiple, C10_invalid_handle_fails_and_changes_nothing)
{
	apc_handle s = t_semaphore_new(1, 5);
	apc_handle ae = t_event_new(false, true);
	apc_handle m = t_mutex_new(false);
	apc_handle closed;
	apc_handle bad[4];
	HANDLE wh[2];
	uint32_t err = T_POISON, r;
	unsigned int i, all, first;

	closed = t_event_new(true, true);
	cr_assert_eq(apc_close(closed), 0);
	bad[0] = (apc_handle)(uintptr_t)0xdeadbee0u;
	bad[1] = NULL;
	bad[2] = closed;
	bad[3] = T_POISON_HANDLE;
	for (i = 0; i < 4; i++) {
		for (all = 0; all < 2; all++) {
			for (first = 0; first < 2; first++) {
				apc_handle h[4];

				h[first ? 0 : 3] = bad[i];
				h[first ? 1 : 0] = s;
				h[first ? 2 : 1] = ae;
				h[first ? 3 : 2] = m;
				r = apc_wait_multiple(4, h, all, 0, false,
						      &err);
				assert_failed(r, err, APC_ERROR_INVALID_HANDLE);
				r = apc_wait_multiple(4, h, all, 10, true,
						      &err);
				assert_failed(r, err, APC_ERROR_INVALID_HANDLE);
			}
		}
	}
	/* Nothing was taken. */
	cr_assert_eq(probe_other(m), APC_WAIT_OBJECT_0);
	cr_assert(t_poll0(ae));
	cr_assert_eq(t_drain(s), 1);

	/* The Win32 name sets the last error. */
	cr_assert_eq(apc_semaphore_release(s, 1, NULL), 0);
	wh[0] = s;
	wh[1] = NULL;
	SetLastError(0);
	cr_assert_eq(WaitForMultipleObjects(2, wh, FALSE, 0), WAIT_FAILED);
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
	cr_assert_eq(t_drain(s), 1);
	cr_assert_eq(apc_close(s), 0);
	cr_assert_eq(apc_close(ae), 0);
	cr_assert_eq(apc_close(m), 0);
}

Test(wait_multiple, C11_low_two_handle_bits_are_ignored)
{
	apc_handle me = t_event_new(true, true);
	apc_handle ae = t_event_new(false, false);
	apc_handle s = t_semaphore_new(1, 5);
	uint32_t err = T_POISON;
	uintptr_t bits;
	int32_t prev = (int32_t)T_POISON;

	for (bits = 1; bits < 4; bits++) {
		apc_handle mod_me = (apc_handle)((uintptr_t)me | bits);
		apc_handle mod_ae = (apc_handle)((uintptr_t)ae | bits);
		apc_handle h[2];
		uint32_t r = apc_wait(mod_me, 0, false, &err);

		cr_assert_eq(r, APC_WAIT_OBJECT_0, "bits %ju: %#x (error %u)",
			     (uintmax_t)bits, r, err);
		h[0] = mod_ae;
		h[1] = mod_me;
		cr_assert_eq(apc_wait_multiple(2, h, false, 0, false, &err),
			     APC_WAIT_OBJECT_0 + 1, "bits %ju",
			     (uintmax_t)bits);
		cr_assert_eq(apc_event_set(mod_ae), 0, "bits %ju",
			     (uintmax_t)bits);
		cr_assert(t_poll0(ae));
	}
	cr_assert_eq(
		apc_semaphore_release((apc_handle)((uintptr_t)s | 2), 1, &prev),
		0);
	cr_assert_eq(prev, 1);
	cr_assert_eq(t_drain(s), 2);
	cr_assert_eq(err, T_POISON);
	cr_assert_eq(apc_close(me), 0);
	cr_assert_eq(apc_close(ae), 0);
	cr_assert_eq(apc_close(s), 0);
}

#define C12_WINE                                                               \
	"Wine accepts pseudo-handles in WaitForMultipleObjects; "              \
	"Windows fails with ERROR_INVALID_HANDLE (k32 sync.c "                 \
	"todo_wine)"

Test(wait_multiple, C12_pseudo_handles)
{
	apc_handle me = t_event_new(true, true);
	apc_handle pseudo[2] = {APC_CURRENT_THREAD, APC_CURRENT_PROCESS};
	uint32_t err = T_POISON, r;
	unsigned int i, all;
	uint64_t t0;
	double ms;

	/* A single wait accepts the thread's own: it never sees itself end. */
	t0 = t_now_ns();
	cr_assert_eq(apc_wait(APC_CURRENT_THREAD, 50, false, &err),
		     APC_WAIT_TIMEOUT);
	ms = t_ms_since(t0);
	cr_assert_geq(ms, t_floor_ms(50), "waited %.3f ms", ms);
	cr_assert_eq(apc_wait(APC_CURRENT_THREAD, 0, true, &err),
		     APC_WAIT_TIMEOUT);
	cr_assert_eq(err, T_POISON);

	/* A multiple wait refuses both pseudo-handles, in any position. */
	for (i = 0; i < 2; i++) {
		for (all = 0; all < 2; all++) {
			apc_handle h[2];

			h[0] = pseudo[i];
			r = apc_wait_multiple(1, h, all, 0, false, &err);
			T_WINE_DEVIATION(C12_WINE,
					 cr_expect_eq(r, APC_WAIT_FAILED));
			T_WINE_DEVIATION(
				C12_WINE,
				cr_expect_eq(err, APC_ERROR_INVALID_HANDLE));
			err = T_POISON;
			h[0] = me;
			h[1] = pseudo[i];
			r = apc_wait_multiple(2, h, all, 0, false, &err);
			T_WINE_DEVIATION(C12_WINE,
					 cr_expect_eq(r, APC_WAIT_FAILED));
			T_WINE_DEVIATION(
				C12_WINE,
				cr_expect_eq(err, APC_ERROR_INVALID_HANDLE));
			err = T_POISON;
		}
	}
	cr_assert_eq(WaitForSingleObject(GetCurrentThread(), 10), WAIT_TIMEOUT);
	cr_assert_eq(apc_close(me), 0);
}

/* ---- C14: a timeout takes nothing ---------------------------------------- */

Test(wait_multiple, C14_timeout_takes_nothing)
{
	apc_handle s = t_semaphore_new(1, 5);
	apc_handle m = t_mutex_new(false);
	apc_handle ae = t_event_new(false, true);
	apc_handle u = t_event_new(false, false);
	apc_handle u2 = t_event_new(true, false);
	apc_handle h[4];
	uint32_t err = T_POISON;
	uint64_t t0;
	double ms;

	h[0] = s;
	h[1] = m;
	h[2] = ae;
	h[3] = u;
	cr_assert_eq(apc_wait_multiple(4, h, true, 0, false, &err),
		     APC_WAIT_TIMEOUT);
	cr_assert_eq(apc_wait_multiple(4, h, true, 0, true, &err),
		     APC_WAIT_TIMEOUT);
	t0 = t_now_ns();
	cr_assert_eq(apc_wait_multiple(4, h, true, 20, false, &err),
		     APC_WAIT_TIMEOUT);
	ms = t_ms_since(t0);
	cr_assert_geq(ms, t_floor_ms(20), "waited %.3f ms", ms);
	cr_assert_eq(probe_other(m), APC_WAIT_OBJECT_0);
	cr_assert(t_poll0(ae));
	cr_assert_eq(t_drain(s), 1);

	h[0] = u;
	h[1] = u2;
	cr_assert_eq(apc_wait_multiple(2, h, false, 0, false, &err),
		     APC_WAIT_TIMEOUT);
	t0 = t_now_ns();
	cr_assert_eq(apc_wait_multiple(2, h, false, 20, true, &err),
		     APC_WAIT_TIMEOUT);
	cr_assert_geq(t_ms_since(t0), t_floor_ms(20));
	cr_assert_eq(err, T_POISON);
	cr_assert_eq(apc_close(s), 0);
	cr_assert_eq(apc_close(m), 0);
	cr_assert_eq(apc_close(ae), 0);
	cr_assert_eq(apc_close(u), 0);
	cr_assert_eq(apc_close(u2), 0);
}

/* ---- C15, C16: apcrt decisions ------------------------------------------- */

#ifndef _WIN32
/*
 * [apcrt] C15: closing a handle under a waiter is undefined on Windows.
 * apcrt: the waiter holds its own reference, waits on, and ends by
 * signal or timeout; the object is freed after it leaves (ASan and
 * valgrind check the "freed" part).
 */
struct closer_waiter {
	apc_handle objs[2];
	uint32_t count;
	uint32_t ms;
	atomic_uint ready;
	uint32_t tid;
};

static uint32_t thread_closer_waiter(void *arg)
{
	struct closer_waiter *w = arg;
	uint32_t err = T_POISON;
	uint32_t r;

	atomic_store(&w->ready, 1);
	r = apc_wait_multiple(w->count, w->objs, false, w->ms, false, &err);
	return r == APC_WAIT_FAILED ? 0xE0000000u | err : r;
}

Test(wait_multiple, C15_closing_the_only_handle_under_a_waiter)
{
	unsigned int kind;

	for (kind = 0; kind < 3; kind++) {
		struct closer_waiter w = {.count = kind ? 2 : 1, .ms = 200};
		apc_handle dup = NULL;
		apc_handle th;
		uint32_t code;

		w.objs[0] = t_event_new(false, false);
		w.objs[1] = t_semaphore_new(0, 1);
		if (kind == 2)
			cr_assert_eq(apc_handle_duplicate(w.objs[1], 0, &dup),
				     0);
		w.ms = kind == 2 ? T_WAIT_MS * t_slack() : 200;
		atomic_init(&w.ready, 0);
		th = t_spawn_flags(thread_closer_waiter, &w, 0, &w.tid);
		cr_assert(t_spin_until(&w.ready, 1, T_WAIT_MS));
		if (!t_wait_blocked(w.tid))
			cr_skip_test("C15 needs to see a thread asleep "
				     "(/proc/self/task/TID/syscall)");
		cr_assert_eq(apc_close(w.objs[0]), 0);
		cr_assert_eq(apc_close(w.objs[1]), 0);
		if (kind == 2) {
			/* Still the same object for the waiter. */
			cr_assert_eq(apc_semaphore_release(dup, 1, NULL), 0);
			cr_assert_eq(t_join(th), APC_WAIT_OBJECT_0 + 1);
			cr_assert_not(t_poll0(dup));
			cr_assert_eq(apc_close(dup), 0);
			continue;
		}
		code = t_join(th);
		cr_assert_eq(code, APC_WAIT_TIMEOUT, "kind %u: %#x", kind,
			     code);
	}
}

/*
 * [apcrt] C16: waiters of one object are woken in the order they started
 * waiting (Windows promises no order).  Needs to see each waiter asleep
 * before the next one starts, so Linux only.
 */
struct fifo_waiter {
	apc_handle obj;
	unsigned int index;
	bool mutex;
	atomic_uint ready;
	uint32_t tid;
};

static uint32_t thread_fifo_waiter(void *arg)
{
	struct fifo_waiter *w = arg;
	uint32_t r;

	atomic_store(&w->ready, 1);
	r = apc_wait(w->obj, T_WAIT_MS * t_slack(), false, NULL);
	t_log_push(w->index);
	if (w->mutex && r == APC_WAIT_OBJECT_0 &&
	    apc_mutex_release(w->obj) != 0)
		return 0xE0000000u;
	return r;
}

/* Wait (bounded) until the log holds n entries. */
static bool log_reaches(unsigned int n)
{
	uint64_t end = t_now_ms() + (uint64_t)T_WAIT_MS * t_slack();

	while (t_log_len() < n) {
		if (t_now_ms() > end)
			return false;
		(void)apc_sleep(0, false);
	}
	return true;
}

Test(wait_multiple, C16_waiters_are_woken_in_the_order_they_came)
{
	enum { N = 4 };
	unsigned int kind, i;

	for (kind = 0; kind < 3; kind++) {
		struct fifo_waiter w[N];
		apc_handle th[N];
		apc_handle obj = kind == 0   ? t_semaphore_new(0, 1)
				 : kind == 1 ? t_event_new(false, false)
					     : t_mutex_new(true);

		t_reset();
		for (i = 0; i < N; i++) {
			w[i].obj = obj;
			w[i].index = i;
			w[i].mutex = kind == 2;
			atomic_init(&w[i].ready, 0);
			th[i] = t_spawn_flags(thread_fifo_waiter, &w[i], 0,
					      &w[i].tid);
			cr_assert(t_spin_until(&w[i].ready, 1, T_WAIT_MS));
			if (!t_wait_blocked(w[i].tid))
				cr_skip_test("C16 needs to see a thread "
					     "asleep (Linux /proc)");
		}
		for (i = 0; i < N; i++) {
			/* One at a time; the mutex hands itself on: each
			 * waiter releases it after logging. */
			if (kind == 0)
				cr_assert_eq(
					apc_semaphore_release(obj, 1, NULL), 0);
			else if (kind == 1)
				cr_assert_eq(apc_event_set(obj), 0);
			else if (i == 0)
				cr_assert_eq(apc_mutex_release(obj), 0);
			cr_assert(log_reaches(kind == 2 ? N : i + 1),
				  "kind %u: wake #%u lost", kind, i);
			if (kind != 2)
				cr_assert_eq(t_log_len(), i + 1,
					     "kind %u: one signal woke two",
					     kind);
			cr_assert_eq(t_log_value(i), i,
				     "kind %u: wake #%u went to waiter %ju",
				     kind, i, (uintmax_t)t_log_value(i));
		}
		for (i = 0; i < N; i++)
			cr_assert_eq(t_join(th[i]), APC_WAIT_OBJECT_0);
		cr_assert_eq(apc_close(obj), 0);
	}
}
#endif /* !_WIN32 */

/* ---- C19: object types mixed --------------------------------------------- */

Test(wait_multiple, C19_object_types_mix_in_one_wait)
{
	atomic_uint gate = 0;
	apc_handle th = t_spawn_gated(&gate, NULL);
	apc_handle s = t_semaphore_new(0, 5);
	apc_handle e = t_event_new(false, false);
	apc_handle m = t_mutex_new(false);
	struct owner o;
	apc_handle oth = start_owner(&o, m);
	apc_handle h[4];

	h[0] = th;
	h[1] = s;
	h[2] = e;
	h[3] = m;
	cr_assert_eq(apc_wait_multiple(4, h, false, 0, false, NULL),
		     APC_WAIT_TIMEOUT);
	cr_assert_eq(apc_semaphore_release(s, 1, NULL), 0);
	cr_assert_eq(apc_wait_multiple(4, h, false, 0, false, NULL),
		     APC_WAIT_OBJECT_0 + 1);
	cr_assert_eq(apc_event_set(e), 0);
	cr_assert_eq(apc_wait_multiple(4, h, false, 0, false, NULL),
		     APC_WAIT_OBJECT_0 + 2);
	atomic_fetch_or(&o.gate, T_GATE_OPEN);
	cr_assert_eq(apc_wait_multiple(4, h, false, T_WAIT_MS * t_slack(),
				       false, NULL),
		     APC_WAIT_ABANDONED_0 + 3);
	cr_assert_eq(t_join(oth), 0);
	cr_assert_eq(apc_mutex_release(m), 0);
	/* Free now: the mutex is signalled, the running thread is not. */
	cr_assert_eq(apc_wait_multiple(4, h, false, 0, false, NULL),
		     APC_WAIT_OBJECT_0 + 3);
	cr_assert_eq(apc_mutex_release(m), 0);
	atomic_store(&gate, T_GATE_OPEN);
	cr_assert_eq(apc_wait(th, T_WAIT_MS * t_slack(), false, NULL),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_wait_multiple(4, h, false, 0, false, NULL),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(probe_other(m), APC_WAIT_OBJECT_0);
	/* Everything signalled at once: wait-all takes all four. */
	cr_assert_eq(apc_semaphore_release(s, 1, NULL), 0);
	cr_assert_eq(apc_event_set(e), 0);
	cr_assert_eq(apc_wait_multiple(4, h, true, 0, false, NULL),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(t_drain(s), 0);
	cr_assert_not(t_poll0(e));
	cr_assert_eq(probe_other(m), APC_WAIT_TIMEOUT);
	cr_assert_eq(apc_mutex_release(m), 0);
	cr_assert_eq(t_join(th), 0);
	cr_assert_eq(apc_close(s), 0);
	cr_assert_eq(apc_close(e), 0);
	cr_assert_eq(apc_close(m), 0);
}

/* ---- C5, C6: wait-all is atomic against pollers -------------------------- */

/*
 * One waiter waits for all of {auto-reset event A, semaphore B}; three
 * pollers take A and B with 0 ms waits, in both orders, until the round
 * is decided.  Each round main hands out one A and one B (before or after
 * the threads start) and decides the round when the waiter has returned
 * or a poller has taken something; it then ends the waiter's wait with an
 * APC if it is still waiting.  A poller that, after both were out, finds
 * its first object gone and its second still there while no poller took
 * the first, saw a half-done wait-all: the waiter took the first and not
 * yet the second.  The accounting is exact: one A and one B per round,
 * each taken by exactly one of the waiter (both, or neither) and the
 * pollers, or left over.
 */
#define AT_POLLERS 3

static struct {
	apc_handle a, b;
	apc_handle waiter;
	unsigned int rounds;
	atomic_uint go;	      /* round the threads may start */
	atomic_uint tokens;   /* round whose A and B are both out */
	atomic_uint stop;     /* round decided: the pollers stop */
	atomic_uint apc_sent; /* round whose end-of-round APC is queued */
	atomic_uint w_back;   /* round whose wait returned */
	atomic_uint w_done;   /* round the waiter finished (APC run too) */
	atomic_uint w_result; /* its wait's result in that round */
	atomic_uint p_done[AT_POLLERS];
	atomic_uint took_a[AT_POLLERS], took_b[AT_POLLERS];
	/* 1: A gone, B there; 2: B gone, A there (after both were out) */
	atomic_uint saw[AT_POLLERS];
	atomic_uint odd; /* unexpected results in the threads */
	atomic_uint apc_runs;
} at;

static void at_apc(uintptr_t data)
{
	(void)data;
	atomic_fetch_add(&at.apc_runs, 1);
}

static uint32_t thread_at_waiter(void *arg)
{
	apc_handle h[2];
	unsigned int r;
	uint32_t res;

	(void)arg;
	h[0] = at.a;
	h[1] = at.b;
	for (r = 1; r <= at.rounds; r++) {
		if (!t_spin_until(&at.go, r, 60000))
			return 1;
		res = apc_wait_multiple(2, h, true, T_WAIT_MS * t_slack(), true,
					NULL);
		atomic_store(&at.w_result, res);
		atomic_store(&at.w_back, r);
		if (res == APC_WAIT_OBJECT_0) {
			/* The round's APC comes anyway; run it now. */
			if (!t_spin_until(&at.apc_sent, r, 60000))
				return 2;
			if (apc_sleep(0, true) != APC_WAIT_IO_COMPLETION)
				atomic_fetch_add(&at.odd, 1);
		} else if (res != APC_WAIT_IO_COMPLETION) {
			atomic_fetch_add(&at.odd, 1);
		}
		/* Only now: this round's APC must not be left for the next
		 * round's wait. */
		atomic_store(&at.w_done, r);
	}
	return 0;
}

static uint32_t thread_at_poller(void *arg)
{
	unsigned int id = (unsigned int)(uintptr_t)arg;
	unsigned int r, pairs;

	for (r = 1; r <= at.rounds; r++) {
		if (!t_spin_until(&at.go, r, 60000))
			return 1;
		for (pairs = 0; atomic_load(&at.stop) < r; pairs++) {
			bool ready = atomic_load(&at.tokens) >= r;
			bool a_first = (id + pairs) & 1;
			apc_handle x = a_first ? at.a : at.b;
			apc_handle y = a_first ? at.b : at.a;
			uint32_t rx = apc_wait(x, 0, false, NULL);
			uint32_t ry = apc_wait(y, 0, false, NULL);

			if ((rx != APC_WAIT_OBJECT_0 &&
			     rx != APC_WAIT_TIMEOUT) ||
			    (ry != APC_WAIT_OBJECT_0 && ry != APC_WAIT_TIMEOUT))
				atomic_fetch_add(&at.odd, 1);
			if (rx == APC_WAIT_OBJECT_0)
				atomic_fetch_add(a_first ? &at.took_a[id]
							 : &at.took_b[id],
						 1);
			if (ry == APC_WAIT_OBJECT_0)
				atomic_fetch_add(a_first ? &at.took_b[id]
							 : &at.took_a[id],
						 1);
			if (ready && rx == APC_WAIT_TIMEOUT &&
			    ry == APC_WAIT_OBJECT_0)
				atomic_fetch_or(&at.saw[id], a_first ? 1u : 2u);
			/* Leave the waiter some time to run. */
			if (pairs % 4 == 3)
				(void)apc_sleep(0, false);
		}
		atomic_store(&at.p_done[id], r);
	}
	return 0;
}

static void at_tokens(unsigned int r)
{
	if (r % 3 == 2) {
		cr_assert_eq(apc_semaphore_release(at.b, 1, NULL), 0);
		cr_assert_eq(apc_event_set(at.a), 0);
	} else {
		cr_assert_eq(apc_event_set(at.a), 0);
		cr_assert_eq(apc_semaphore_release(at.b, 1, NULL), 0);
	}
	atomic_store(&at.tokens, r);
}

static unsigned int at_taken(atomic_uint *took)
{
	unsigned int i, n = 0;

	for (i = 0; i < AT_POLLERS; i++)
		n += atomic_load(&took[i]);
	return n;
}

/* Wait (bounded) until the waiter returned or a poller took something. */
static bool at_decided(unsigned int r)
{
	uint64_t end = t_now_ms() + 60000u * (uint64_t)t_slack();

	while (atomic_load(&at.w_back) < r && at_taken(at.took_a) == 0 &&
	       at_taken(at.took_b) == 0) {
		if (t_now_ms() > end)
			return false;
		(void)apc_sleep(0, false);
	}
	return true;
}

Test(wait_multiple, C5_C6_wait_all_is_atomic_for_pollers)
{
#if defined(_WIN32)
	const unsigned int rounds = 3000;
#else
	const unsigned int rounds = 10000;
#endif
	apc_handle poller[AT_POLLERS];
	unsigned int r, i, by_waiter = 0;

	at.rounds = rounds;
	at.a = t_event_new(false, false);
	at.b = t_semaphore_new(0, 1);
	at.waiter = t_spawn(thread_at_waiter, NULL);
	for (i = 0; i < AT_POLLERS; i++)
		poller[i] = t_spawn(thread_at_poller, (void *)(uintptr_t)i);

	for (r = 1; r <= rounds; r++) {
		unsigned int ta, tb, j;
		uint32_t res;

		for (i = 0; i < AT_POLLERS; i++) {
			atomic_store(&at.took_a[i], 0);
			atomic_store(&at.took_b[i], 0);
			atomic_store(&at.saw[i], 0);
		}
		/* Tokens first (the waiter's first look races the pollers),
		 * or threads first (a sleeping waiter is woken by them). */
		if (r % 3 == 0) {
			at_tokens(r);
			atomic_store(&at.go, r);
		} else {
			atomic_store(&at.go, r);
			for (j = 0; j < r / 3 % 4; j++)
				(void)apc_sleep(0, false);
			at_tokens(r);
		}
		cr_assert(at_decided(r), "round %u: nothing happened", r);
		atomic_store(&at.stop, r);
		for (i = 0; i < AT_POLLERS; i++)
			cr_assert(t_spin_until(&at.p_done[i], r, 60000),
				  "round %u: poller %u stuck", r, i);
		cr_assert_eq(apc_queue(at.waiter, at_apc, r), 0);
		atomic_store(&at.apc_sent, r);
		cr_assert(t_spin_until(&at.w_done, r, 60000),
			  "round %u: waiter stuck", r);

		ta = at_taken(at.took_a);
		tb = at_taken(at.took_b);
		cr_assert_leq(ta, 1, "round %u: A taken %u times", r, ta);
		cr_assert_leq(tb, 1, "round %u: B taken %u times", r, tb);
		for (i = 0; i < AT_POLLERS; i++) {
			unsigned int saw = atomic_load(&at.saw[i]);

			cr_assert_not((saw & 1) && ta == 0,
				      "round %u: poller %u saw A taken and B "
				      "still there; no poller took A",
				      r, i);
			cr_assert_not((saw & 2) && tb == 0,
				      "round %u: poller %u saw B taken and A "
				      "still there; no poller took B",
				      r, i);
		}
		res = atomic_load(&at.w_result);
		if (res == APC_WAIT_OBJECT_0) {
			/* The waiter took both: nobody else got either. */
			by_waiter++;
			cr_assert_eq(ta + tb, 0,
				     "round %u: the waiter and the pollers "
				     "took A %u, B %u",
				     r, ta, tb);
			cr_assert_not(t_poll0(at.a), "round %u", r);
			cr_assert_not(t_poll0(at.b), "round %u", r);
		} else {
			/* Ended by the APC: it took nothing (B9), so what no
			 * poller took is still there.  And it was not left
			 * waiting while both were out (B10, C18). */
			cr_assert_eq(res, APC_WAIT_IO_COMPLETION,
				     "round %u: the waiter's wait: %#x (A "
				     "taken %u, B taken %u)",
				     r, res, ta, tb);
			cr_assert_geq(ta + tb, 1,
				      "round %u: the waiter missed both", r);
			cr_assert_eq(t_poll0(at.a), ta == 0, "round %u", r);
			cr_assert_eq(t_poll0(at.b), tb == 0, "round %u", r);
		}
	}
	cr_assert_eq(t_join(at.waiter), 0);
	for (i = 0; i < AT_POLLERS; i++)
		cr_assert_eq(t_join(poller[i]), 0);
	cr_assert_eq(atomic_load(&at.odd), 0);
	cr_assert_eq(atomic_load(&at.apc_runs), rounds);
	cr_log_info("wait-all atomicity: %u rounds, the waiter won %u", rounds,
		    by_waiter);
	cr_assert_eq(apc_close(at.a), 0);
	cr_assert_eq(apc_close(at.b), 0);
}

/* ---- C18: 8 threads x 10,000 operations, exact counts -------------------- */

/*
 * Shared: a mutex M, an auto-reset event E used as a lock (signalled =
 * free), a semaphore S of 3 slots.  Each thread runs 10,000 operations,
 * cycling through six kinds: M twice (recursion); E; a slot of S; all of
 * {M, E, S} (in two orders); all of {S, E}; any of {E, M}.  Two plain
 * counters are guarded by M and E; every wait is bounded.  At the end the
 * counters are exact, no slot was over-used, and every object is back in
 * its first state.
 */
#define ST_THREADS 8
#define ST_OPS 10000
#define ST_SLOTS 3

static struct {
	apc_handle m, e, s;
	uint64_t m_counter; /* guarded by m */
	uint64_t e_counter; /* guarded by e */
	atomic_uint inside;
	atomic_uint overflow;
	atomic_uint failures;
	atomic_uint fail_what;
	atomic_uint m_incs, e_incs;
} st;

static void st_fail(unsigned int what)
{
	if (atomic_fetch_add(&st.failures, 1) == 0)
		atomic_store(&st.fail_what, what);
}

static void st_slot(void)
{
	if (atomic_fetch_add(&st.inside, 1) >= ST_SLOTS)
		atomic_fetch_add(&st.overflow, 1);
	atomic_fetch_sub(&st.inside, 1);
}

static void st_m(void)
{
	st.m_counter++;
	atomic_fetch_add(&st.m_incs, 1);
}

static void st_e(void)
{
	st.e_counter++;
	atomic_fetch_add(&st.e_incs, 1);
}

static uint32_t thread_stress(void *arg)
{
	unsigned int t = (unsigned int)(uintptr_t)arg;
	uint32_t ms = T_WAIT_MS * 6 * t_slack();
	apc_handle mes[3], ses[2], em[2];
	unsigned int i;
	uint32_t r;

	if (t & 1) {
		mes[0] = st.s;
		mes[1] = st.e;
		mes[2] = st.m;
	} else {
		mes[0] = st.m;
		mes[1] = st.e;
		mes[2] = st.s;
	}
	ses[0] = st.s;
	ses[1] = st.e;
	em[0] = st.e;
	em[1] = st.m;
	for (i = 0; i < ST_OPS; i++) {
		bool alertable = (i / 6) & 1; /* no APC is queued: no 0xC0 */

		switch ((i + t) % 6) {
		case 0:
			if (apc_wait(st.m, ms, alertable, NULL) !=
			    APC_WAIT_OBJECT_0) {
				st_fail(1);
				break;
			}
			if (apc_wait(st.m, 0, false, NULL) != APC_WAIT_OBJECT_0)
				st_fail(2);
			st_m();
			if (apc_mutex_release(st.m) != 0 ||
			    apc_mutex_release(st.m) != 0)
				st_fail(3);
			break;
		case 1:
			if (apc_wait(st.e, ms, alertable, NULL) !=
			    APC_WAIT_OBJECT_0) {
				st_fail(4);
				break;
			}
			st_e();
			if (apc_event_set(st.e) != 0)
				st_fail(5);
			break;
		case 2:
			if (apc_wait(st.s, ms, alertable, NULL) !=
			    APC_WAIT_OBJECT_0) {
				st_fail(6);
				break;
			}
			st_slot();
			if (apc_semaphore_release(st.s, 1, NULL) != 0)
				st_fail(7);
			break;
		case 3:
			r = apc_wait_multiple(3, mes, true, ms, alertable,
					      NULL);
			if (r != APC_WAIT_OBJECT_0) {
				st_fail(0x100 | r);
				break;
			}
			st_m();
			st_e();
			st_slot();
			if (apc_event_set(st.e) != 0 ||
			    apc_semaphore_release(st.s, 1, NULL) != 0 ||
			    apc_mutex_release(st.m) != 0)
				st_fail(8);
			break;
		case 4:
			r = apc_wait_multiple(2, ses, true, ms, alertable,
					      NULL);
			if (r != APC_WAIT_OBJECT_0) {
				st_fail(0x200 | r);
				break;
			}
			st_e();
			st_slot();
			if (apc_semaphore_release(st.s, 1, NULL) != 0 ||
			    apc_event_set(st.e) != 0)
				st_fail(9);
			break;
		default:
			r = apc_wait_multiple(2, em, false, ms, alertable,
					      NULL);
			if (r == APC_WAIT_OBJECT_0) {
				st_e();
				if (apc_event_set(st.e) != 0)
					st_fail(10);
			} else if (r == APC_WAIT_OBJECT_0 + 1) {
				st_m();
				if (apc_mutex_release(st.m) != 0)
					st_fail(11);
			} else {
				st_fail(0x300 | r);
			}
			break;
		}
	}
	return 0;
}

Test(wait_multiple, C18_eight_threads_ten_thousand_operations)
{
	apc_handle th[ST_THREADS];
	uint64_t kinds[6] = {0};
	uint64_t t0 = t_now_ns();
	unsigned int t, i;

	st.m = t_mutex_new(false);
	st.e = t_event_new(false, true);
	st.s = t_semaphore_new(ST_SLOTS, ST_SLOTS);
	for (t = 0; t < ST_THREADS; t++)
		for (i = 0; i < ST_OPS; i++)
			kinds[(i + t) % 6]++;
	for (t = 0; t < ST_THREADS; t++)
		th[t] = t_spawn(thread_stress, (void *)(uintptr_t)t);
	for (t = 0; t < ST_THREADS; t++) {
		cr_assert_eq(apc_wait(th[t], 600000u * t_slack(), false, NULL),
			     APC_WAIT_OBJECT_0, "thread %u hangs", t);
		cr_assert_eq(t_join(th[t]), 0);
	}
	cr_log_info("C18: %u x %u operations in %.0f ms", ST_THREADS, ST_OPS,
		    t_ms_since(t0));

	cr_assert_eq(atomic_load(&st.failures), 0,
		     "%u failed operations; first: %#x",
		     atomic_load(&st.failures), atomic_load(&st.fail_what));
	cr_assert_eq(atomic_load(&st.overflow), 0);
	/* Exact: each guarded increment happened once, under its lock. */
	cr_assert_eq(st.m_counter, atomic_load(&st.m_incs));
	cr_assert_eq(st.e_counter, atomic_load(&st.e_incs));
	cr_assert_eq(st.m_counter + st.e_counter,
		     kinds[0] + kinds[1] + 2 * kinds[3] + kinds[4] + kinds[5]);
	cr_assert_geq(st.m_counter, kinds[0] + kinds[3]);
	cr_assert_geq(st.e_counter, kinds[1] + kinds[3] + kinds[4]);

	/* Back to the first state: M free and not abandoned, E set once,
	 * S full. */
	cr_assert_eq(apc_wait(st.m, 0, false, NULL), APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_mutex_release(st.m), 0);
	cr_assert_eq(apc_mutex_release(st.m), APC_ERROR_NOT_OWNER);
	cr_assert(t_poll0(st.e));
	cr_assert_not(t_poll0(st.e));
	cr_assert_eq(t_drain(st.s), ST_SLOTS);
	cr_assert_eq(apc_close(st.m), 0);
	cr_assert_eq(apc_close(st.e), 0);
	cr_assert_eq(apc_close(st.s), 0);
}

/* ---- B9, B10: alertable multi-object waits ------------------------------- */

static void apc_release(uintptr_t data)
{
	t_log_push(1);
	(void)apc_semaphore_release((apc_handle)data, 1, NULL);
}

Test(wait_multiple, B9_apc_ended_wait_all_acquires_nothing)
{
	apc_handle s = t_semaphore_new(0, 5);
	apc_handle me = t_event_new(true, true);
	apc_handle ae = t_event_new(false, true);
	apc_handle h[3];

	t_reset();
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, apc_release, (uintptr_t)s),
		     0);
	cr_assert_eq(apc_wait_multiple(1, &s, true, 1000, true, NULL),
		     APC_WAIT_IO_COMPLETION);
	cr_assert_eq(t_log_len(), 1);
	/* The APC's count is still there for the next wait. */
	cr_assert_eq(apc_wait_multiple(1, &s, true, 200, false, NULL),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(t_drain(s), 0);

	/* With other objects, signalled all along: none of them taken. */
	h[0] = me;
	h[1] = s;
	h[2] = ae;
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, apc_release, (uintptr_t)s),
		     0);
	cr_assert_eq(apc_wait_multiple(3, h, true, T_WAIT_MS, true, NULL),
		     APC_WAIT_IO_COMPLETION);
	cr_assert_eq(t_log_len(), 2);
	cr_assert(t_poll0(me));
	cr_assert(t_poll0(ae));
	cr_assert_eq(t_drain(s), 1);
	cr_assert_eq(apc_close(s), 0);
	cr_assert_eq(apc_close(me), 0);
	cr_assert_eq(apc_close(ae), 0);
}

struct b9_waiter {
	apc_handle objs[2];
	atomic_uint ready;
	atomic_uint result;
};

static uint32_t thread_b9_waiter(void *arg)
{
	struct b9_waiter *w = arg;

	atomic_store(&w->ready, 1);
	atomic_store(&w->result,
		     apc_wait_multiple(2, w->objs, true, T_WAIT_MS * t_slack(),
				       true, NULL));
	return 0;
}

Test(wait_multiple, B9_apc_queued_to_a_wait_all_waiter)
{
	struct b9_waiter w = {0};
	uint32_t tid = 0;
	apc_handle th;

	t_reset();
	w.objs[0] = t_semaphore_new(0, 5);
	w.objs[1] = t_event_new(false, true);
	th = t_spawn_flags(thread_b9_waiter, &w, 0, &tid);
	cr_assert(t_spin_until(&w.ready, 1, T_WAIT_MS));
	(void)t_wait_blocked(tid);
	cr_assert_eq(apc_queue(th, apc_release, (uintptr_t)w.objs[0]), 0);
	cr_assert_eq(t_join(th), 0);
	cr_assert_eq(atomic_load(&w.result), APC_WAIT_IO_COMPLETION);
	t_assert_log_seq(1, 1, tid);
	cr_assert_eq(t_drain(w.objs[0]), 1);
	cr_assert(t_poll0(w.objs[1]));
	cr_assert_eq(apc_close(w.objs[0]), 0);
	cr_assert_eq(apc_close(w.objs[1]), 0);
}

Test(wait_multiple, B10_complete_wait_all_wins_over_pending_apc)
{
	apc_handle me = t_event_new(true, true);
	apc_handle s = t_semaphore_new(1, 5);
	apc_handle u = t_event_new(false, false);
	apc_handle h[2];

	t_reset();
	h[0] = me;
	h[1] = s;
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(apc_wait_multiple(2, h, true, 0, true, NULL),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);
	cr_assert_eq(t_drain(s), 0);
	/* Incomplete: the APC runs. */
	h[1] = u;
	cr_assert_eq(apc_wait_multiple(2, h, true, T_WAIT_MS, true, NULL),
		     APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&t_apc_runs), 1);
	cr_assert(t_poll0(me));
	cr_assert_eq(apc_close(me), 0);
	cr_assert_eq(apc_close(s), 0);
	cr_assert_eq(apc_close(u), 0);
}

/* ---- C48-C50, B19: SignalObjectAndWait ----------------------------------- */

Test(signal_and_wait, C48_signals_then_waits)
{
	apc_handle e0 = t_event_new(false, false);
	apc_handle e1 = t_event_new(true, true);
	apc_handle s = t_semaphore_new(0, 5);
	apc_handle s2 = t_semaphore_new(1, 5);
	apc_handle u = t_event_new(false, false);
	apc_handle m = t_mutex_new(true);
	apc_handle m2 = t_mutex_new(false);
	apc_handle ab = t_mutex_new(false);
	uint32_t err = T_POISON;
	int32_t prev = (int32_t)T_POISON;
	uint64_t t0;
	double ms;

	/* Event: set. */
	cr_assert_eq(apc_signal_and_wait(e0, e1, 0, false, &err),
		     APC_WAIT_OBJECT_0);
	cr_assert(t_poll0(e0));
	cr_assert(t_poll0(e1));
	/* Semaphore: release 1. */
	cr_assert_eq(apc_signal_and_wait(s, e1, T_WAIT_MS, false, &err),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_semaphore_release(s, 1, &prev), 0);
	cr_assert_eq(prev, 1);
	cr_assert_eq(t_drain(s), 2);
	/* Mutex: release once (count 2 -> 1). */
	cr_assert_eq(apc_wait(m, 0, false, NULL), APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_signal_and_wait(m, e1, 0, true, &err),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(probe_other(m), APC_WAIT_TIMEOUT);
	cr_assert_eq(apc_signal_and_wait(m, e1, 0, false, &err),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(probe_other(m), APC_WAIT_OBJECT_0);

	/* The wait is apc_wait's: it acquires what it waits on. */
	cr_assert_eq(apc_signal_and_wait(e0, s2, 0, false, &err),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(t_drain(s2), 0);
	cr_assert(t_poll0(e0));
	cr_assert_eq(apc_signal_and_wait(e0, m2, 0, false, &err),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(probe_other(m2), APC_WAIT_TIMEOUT);
	cr_assert_eq(apc_mutex_release(m2), 0);
	cr_assert(t_poll0(e0));
	abandon(ab);
	cr_assert_eq(apc_signal_and_wait(e0, ab, 0, false, &err),
		     APC_WAIT_ABANDONED_0);
	cr_assert_eq(apc_mutex_release(ab), 0);
	cr_assert(t_poll0(e0));
	/* And times out like it, the signal done all the same. */
	t0 = t_now_ns();
	cr_assert_eq(apc_signal_and_wait(e0, u, 20, false, &err),
		     APC_WAIT_TIMEOUT);
	ms = t_ms_since(t0);
	cr_assert_geq(ms, t_floor_ms(20), "waited %.3f ms", ms);
	cr_assert(t_poll0(e0));
	/* The thread pseudo-handle as the wait: never signalled (C12). */
	cr_assert_eq(
		apc_signal_and_wait(e0, APC_CURRENT_THREAD, 10, false, &err),
		APC_WAIT_TIMEOUT);
	cr_assert(t_poll0(e0));
	cr_assert_eq(err, T_POISON);

	/* The Win32 name. */
	cr_assert_eq(SignalObjectAndWait(e0, e1, 0, FALSE), WAIT_OBJECT_0);
	cr_assert(t_poll0(e0));

	cr_assert_eq(apc_close(e0), 0);
	cr_assert_eq(apc_close(e1), 0);
	cr_assert_eq(apc_close(s), 0);
	cr_assert_eq(apc_close(s2), 0);
	cr_assert_eq(apc_close(u), 0);
	cr_assert_eq(apc_close(m), 0);
	cr_assert_eq(apc_close(m2), 0);
	cr_assert_eq(apc_close(ab), 0);
}

/* Ping-pong: main signals `ping` and waits `pong`, the partner the other
 * way round; every signal must reach the other side exactly once. */
#define PP_ROUNDS 10000

static struct {
	apc_handle ping, pong;
	atomic_uint partner_rounds;
} pp;

static uint32_t thread_pong(void *arg)
{
	bool semaphores = arg != NULL;
	uint32_t ms = T_WAIT_MS * t_slack();
	unsigned int i;

	if (apc_wait(pp.ping, ms, false, NULL) != APC_WAIT_OBJECT_0)
		return 1;
	for (i = 0; i < PP_ROUNDS; i++) {
		atomic_fetch_add(&pp.partner_rounds, 1);
		if (i + 1 < PP_ROUNDS) {
			if (apc_signal_and_wait(pp.pong, pp.ping, ms, i & 1,
						NULL) != APC_WAIT_OBJECT_0)
				return 2;
		} else if ((semaphores ? apc_semaphore_release(pp.pong, 1, NULL)
				       : apc_event_set(pp.pong)) != 0) {
			return 3;
		}
	}
	return 0;
}

Test(signal_and_wait, C48_C18_ping_pong_ten_thousand_round_trips)
{
	unsigned int kind, i;

	/* Auto-reset events, then semaphores of maximum 1 (a signal that
	 * arrived twice would fail with ERROR_TOO_MANY_POSTS). */
	for (kind = 0; kind < 2; kind++) {
		uint32_t ms = T_WAIT_MS * t_slack();
		apc_handle th;

		pp.ping = kind ? t_semaphore_new(0, 1)
			       : t_event_new(false, false);
		pp.pong = kind ? t_semaphore_new(0, 1)
			       : t_event_new(false, false);
		atomic_store(&pp.partner_rounds, 0);
		th = t_spawn(thread_pong, kind ? &pp : NULL);
		for (i = 0; i < PP_ROUNDS; i++) {
			uint32_t r = apc_signal_and_wait(pp.ping, pp.pong, ms,
							 i & 2, NULL);

			cr_assert_eq(r, APC_WAIT_OBJECT_0,
				     "kind %u round %u: %#x", kind, i, r);
			cr_assert_eq(atomic_load(&pp.partner_rounds), i + 1);
		}
		cr_assert_eq(t_join(th), 0);
		cr_assert_not(t_poll0(pp.ping));
		cr_assert_not(t_poll0(pp.pong));
		cr_assert_eq(apc_close(pp.ping), 0);
		cr_assert_eq(apc_close(pp.pong), 0);
	}
}

Test(signal_and_wait, C49_signal_and_wait_on_the_same_object)
{
	apc_handle e = t_event_new(false, false);
	apc_handle s = t_semaphore_new(0, 1);
	apc_handle m = t_mutex_new(true);
	unsigned int i;

	for (i = 0; i < 10000; i++) {
		uint32_t r = apc_signal_and_wait(e, e, i & 1 ? 0 : T_WAIT_MS,
						 i & 2, NULL);

		cr_assert_eq(r, APC_WAIT_OBJECT_0, "#%u: %#x", i, r);
	}
	cr_assert_not(t_poll0(e));

	/* Semaphore: the release is taken back; mutex: released and
	 * re-acquired, still count 1. */
	for (i = 0; i < 1000; i++) {
		cr_assert_eq(apc_signal_and_wait(s, s, 0, false, NULL),
			     APC_WAIT_OBJECT_0);
		cr_assert_eq(apc_signal_and_wait(m, m, 0, false, NULL),
			     APC_WAIT_OBJECT_0);
	}
	cr_assert_eq(t_drain(s), 0);
	cr_assert_eq(probe_other(m), APC_WAIT_TIMEOUT);
	cr_assert_eq(apc_mutex_release(m), 0);
	cr_assert_eq(apc_mutex_release(m), APC_ERROR_NOT_OWNER);
	cr_assert_eq(apc_close(e), 0);
	cr_assert_eq(apc_close(s), 0);
	cr_assert_eq(apc_close(m), 0);
}

static uint32_t thread_return_0(void *arg)
{
	(void)arg;
	return 0;
}

Test(signal_and_wait, C50_failed_signal_means_no_wait)
{
	apc_handle full = t_semaphore_new(1, 1);
	apc_handle w = t_semaphore_new(1, 5);
	apc_handle u = t_event_new(false, false);
	apc_handle free_m = t_mutex_new(false);
	apc_handle other_m = t_mutex_new(false);
	apc_handle th = t_spawn(thread_return_0, NULL);
	struct owner o;
	apc_handle oth = start_owner(&o, other_m);
	apc_handle closed;
	uint32_t err = T_POISON, r;
	unsigned int i;
	uint64_t t0;
	struct {
		apc_handle h;
		uint32_t error;
	} bad[7];

	cr_assert_eq(t_wait_exit(th), 0);
	closed = t_event_new(false, false);
	cr_assert_eq(apc_close(closed), 0);
	bad[0].h = full;
	bad[0].error = APC_ERROR_TOO_MANY_POSTS;
	bad[1].h = free_m;
	bad[1].error = APC_ERROR_NOT_OWNER;
	bad[2].h = other_m;
	bad[2].error = APC_ERROR_NOT_OWNER;
	bad[3].h = th;
	bad[3].error = APC_ERROR_INVALID_HANDLE;
	bad[4].h = NULL;
	bad[4].error = APC_ERROR_INVALID_HANDLE;
	bad[5].h = closed;
	bad[5].error = APC_ERROR_INVALID_HANDLE;
	bad[6].h = APC_CURRENT_THREAD;
	bad[6].error = APC_ERROR_INVALID_HANDLE;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* A wait would take w's count. */
		r = apc_signal_and_wait(bad[i].h, w, 0, false, &err);
		assert_failed(r, err, bad[i].error);
		r = apc_signal_and_wait(bad[i].h, w, T_WAIT_MS, true, &err);
		assert_failed(r, err, bad[i].error);
		/* A wait would block. */
		t0 = t_now_ns();
		r = apc_signal_and_wait(bad[i].h, u, 5000, false, &err);
		assert_failed(r, err, bad[i].error);
		cr_assert_lt(t_ms_since(t0), 2500.0 * t_slack(),
			     "signal #%u failed after a wait", i);
	}
	cr_assert_eq(t_drain(w), 1);
	cr_assert_not(t_poll0(u));
	/* Nothing was signalled either. */
	cr_assert_eq(apc_semaphore_release(full, 1, NULL),
		     APC_ERROR_TOO_MANY_POSTS);
	cr_assert_eq(probe_other(free_m), APC_WAIT_OBJECT_0);

	/* The Win32 name: WAIT_FAILED, the signal's error. */
	SetLastError(0);
	cr_assert_eq(SignalObjectAndWait(full, w, 0, FALSE), WAIT_FAILED);
	cr_assert_eq(GetLastError(), ERROR_TOO_MANY_POSTS);
	SetLastError(0);
	cr_assert_eq(SignalObjectAndWait(free_m, w, 0, FALSE), WAIT_FAILED);
	cr_assert_eq(GetLastError(), ERROR_NOT_OWNER);

	atomic_fetch_or(&o.gate, T_GATE_OPEN);
	cr_assert_eq(t_join(oth), 0);
	cr_assert_eq(apc_close(full), 0);
	cr_assert_eq(apc_close(w), 0);
	cr_assert_eq(apc_close(u), 0);
	cr_assert_eq(apc_close(free_m), 0);
	cr_assert_eq(apc_close(other_m), 0);
	cr_assert_eq(apc_close(th), 0);
}

Test(signal_and_wait, C50_invalid_wait_handle)
{
	apc_handle e = t_event_new(false, false);
	apc_handle closed = t_event_new(false, false);
	uint32_t err = T_POISON, r;

	cr_assert_eq(apc_close(closed), 0);
	r = apc_signal_and_wait(e, NULL, 0, false, &err);
	assert_failed(r, err, APC_ERROR_INVALID_HANDLE);
	r = apc_signal_and_wait(e, closed, 0, false, &err);
	assert_failed(r, err, APC_ERROR_INVALID_HANDLE);
	r = apc_signal_and_wait(NULL, NULL, 0, false, &err);
	assert_failed(r, err, APC_ERROR_INVALID_HANDLE);
#ifndef _WIN32
	/* apcrt resolves the wait handle before it signals: a bad one
	 * costs no signal (Windows references both handles first, too,
	 * but no rule says so). */
	cr_assert_not(t_poll0(e));
#endif
	cr_assert_eq(apc_close(e), 0);
}

Test(signal_and_wait, B19_apc_ended_wait_keeps_the_signal)
{
	apc_handle e1 = t_event_new(false, false);
	apc_handle e2 = t_event_new(false, false);
	apc_handle me = t_event_new(true, true);
	apc_handle s = t_semaphore_new(0, 5);

	t_reset();
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(apc_signal_and_wait(e1, e2, T_WAIT_MS, true, NULL),
		     APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&t_apc_runs), 1);
	cr_assert(t_poll0(e1));
	cr_assert_not(t_poll0(e2));

	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(apc_signal_and_wait(s, e2, APC_INFINITE, true, NULL),
		     APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&t_apc_runs), 2);
	cr_assert_eq(t_drain(s), 1);

	/* A signalled wait object wins over the APC (B10). */
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(apc_signal_and_wait(e1, me, T_WAIT_MS, true, NULL),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(atomic_load(&t_apc_runs), 2);
	cr_assert(t_poll0(e1));
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&t_apc_runs), 3);

	/* Not alertable: the APC waits, the wait times out. */
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(apc_signal_and_wait(e1, e2, 10, false, NULL),
		     APC_WAIT_TIMEOUT);
	cr_assert_eq(atomic_load(&t_apc_runs), 3);
	cr_assert(t_poll0(e1));
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(apc_close(e1), 0);
	cr_assert_eq(apc_close(e2), 0);
	cr_assert_eq(apc_close(me), 0);
	cr_assert_eq(apc_close(s), 0);
}
