/*
 * Semaphores: creation limits, counts, releases and the waiters they
 * wake, and an alertable wait that an APC ends.
 *
 * Contract: C29-C34 (semaphores), C18 (exact wake-ups under load), B8.
 *
 * A semaphore's count is read without changing it by releasing into a
 * known state: `release(s, n, &prev)` reports the count before, and a
 * 0 ms wait takes one.  Waiters are threads; which of them went through
 * is read from their thread handles (a wait-any on them).
 */
#include <limits.h>

#include <criterion/criterion.h>

#include <apc/apc.h>
#include <apc/windows.h>

#include "blocked.h"
#include "helpers.h"

TestSuite(semaphore, .timeout = 180);

/* ---- helpers ------------------------------------------------------------- */

static apc_handle semaphore_new(int32_t initial, int32_t maximum)
{
	apc_handle h = T_POISON_HANDLE;

	cr_assert_eq(apc_semaphore_create(initial, maximum, &h), 0,
		     "create(%d, %d)", initial, maximum);
	cr_assert_not_null(h);
	cr_assert_neq(h, T_POISON_HANDLE);
	return h;
}

struct waiter {
	apc_handle sem;
	atomic_uint ready;
	uint32_t tid;
	apc_handle thread;
};

/* Exit code: the wait's result, or 0xE0000000 | error for WAIT_FAILED. */
static uint32_t thread_waiter(void *arg)
{
	struct waiter *w = arg;
	uint32_t err = T_POISON;
	uint32_t r;

	atomic_store(&w->ready, 1);
	r = apc_wait(w->sem, T_WAIT_MS * t_slack(), false, &err);
	return r == APC_WAIT_FAILED ? 0xE0000000u | err : r;
}

/* Start n waiters on s; true when all were seen asleep in the wait. */
static bool start_waiters(struct waiter *w, unsigned int n, apc_handle s)
{
	bool known = true;
	unsigned int i;

	for (i = 0; i < n; i++) {
		w[i].sem = s;
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

/*
 * Wait up to ms for one of the n threads in th[] to end; join it (its
 * wait must have succeeded) and drop it from th[].  false: none ended.
 */
static bool reap_one(apc_handle *th, unsigned int *n, uint32_t ms)
{
	uint32_t err = T_POISON;
	uint32_t r = apc_wait_multiple(*n, th, false, ms, false, &err);
	uint32_t code;

	if (r == APC_WAIT_TIMEOUT)
		return false;
	cr_assert_lt(r, *n, "wait for the waiters: %#x (error %u)", r, err);
	code = t_join(th[r]);
	cr_assert_eq(code, APC_WAIT_OBJECT_0, "waiter's wait: %#x", code);
	th[r] = th[--*n];
	return true;
}

/* ---- C29: creation ------------------------------------------------------- */

Test(semaphore, C29_create_rejects_invalid_counts)
{
	static const int32_t bad[][2] = {
		{2, 1},		{-1, 1},	{0, 0},
		{1, 0},		{0, -1},	{-1, -1},
		{INT32_MIN, 1}, {1, INT32_MIN}, {0, INT32_MIN},
		{-1, 0},	{INT32_MAX, 1}, {INT32_MAX, INT32_MAX - 1},
	};
	static const int32_t good[][2] = {
		{1, 2}, {0, 1}, {1, 1}, {0, INT32_MAX}, {INT32_MAX, INT32_MAX},
	};
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		apc_handle h = T_POISON_HANDLE;

		cr_assert_eq(apc_semaphore_create(bad[i][0], bad[i][1], &h),
			     APC_ERROR_INVALID_PARAMETER, "create(%d, %d)",
			     bad[i][0], bad[i][1]);
		cr_assert_null(h, "create(%d, %d)", bad[i][0], bad[i][1]);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		apc_handle h = semaphore_new(good[i][0], good[i][1]);

		cr_assert_eq(t_poll0(h), good[i][0] > 0);
		cr_assert_eq(apc_close(h), 0);
	}
	cr_assert_eq(apc_semaphore_create(0, 1, NULL),
		     APC_ERROR_INVALID_PARAMETER);
	cr_assert_eq(apc_semaphore_create(2, 1, NULL),
		     APC_ERROR_INVALID_PARAMETER);
}

Test(semaphore, C29_CreateSemaphore_win32_names)
{
	HANDLE h;

	SetLastError(0);
	cr_assert_null(CreateSemaphore(NULL, 2, 1, NULL));
	cr_assert_eq(GetLastError(), ERROR_INVALID_PARAMETER);
	SetLastError(0);
	cr_assert_null(CreateSemaphore(NULL, -1, 1, NULL));
	cr_assert_eq(GetLastError(), ERROR_INVALID_PARAMETER);
	SetLastError(0);
	cr_assert_null(CreateSemaphore(NULL, 0, 0, NULL));
	cr_assert_eq(GetLastError(), ERROR_INVALID_PARAMETER);

	h = CreateSemaphore(NULL, 1, 2, NULL);
	cr_assert_not_null(h);
	cr_assert_eq(WaitForSingleObject(h, 0), WAIT_OBJECT_0);
	cr_assert_eq(WaitForSingleObject(h, 0), WAIT_TIMEOUT);
	cr_assert(CloseHandle(h));
}

/* ---- C30, C31: counts and releases --------------------------------------- */

Test(semaphore, C30_each_wait_takes_one)
{
	apc_handle s = semaphore_new(2, 5);
	uint32_t err = T_POISON;

	cr_assert(t_poll0(s));
	cr_assert(t_poll0(s));
	cr_assert_not(t_poll0(s));

	cr_assert_eq(apc_semaphore_release(s, 5, NULL), 0);
	cr_assert_eq(apc_wait(s, T_WAIT_MS, false, &err), APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_wait(s, T_WAIT_MS, true, &err), APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_wait(s, APC_INFINITE, false, &err), APC_WAIT_OBJECT_0);
	/* One object in a multiple wait, any or all: one count each. */
	cr_assert_eq(apc_wait_multiple(1, &s, false, 0, false, &err),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_wait_multiple(1, &s, true, 0, false, &err),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(err, T_POISON);
	cr_assert_eq(t_drain(s), 0);
	cr_assert_eq(apc_close(s), 0);
}

Test(semaphore, C31_release_reports_the_previous_count)
{
	apc_handle s = semaphore_new(0, 10);
	int32_t prev;

	prev = (int32_t)T_POISON;
	cr_assert_eq(apc_semaphore_release(s, 1, &prev), 0);
	cr_assert_eq(prev, 0);
	prev = (int32_t)T_POISON;
	cr_assert_eq(apc_semaphore_release(s, 1, &prev), 0);
	cr_assert_eq(prev, 1);
	prev = (int32_t)T_POISON;
	cr_assert_eq(apc_semaphore_release(s, 3, &prev), 0);
	cr_assert_eq(prev, 2);
	/* previous is optional. */
	cr_assert_eq(apc_semaphore_release(s, 2, NULL), 0);
	prev = (int32_t)T_POISON;
	cr_assert_eq(apc_semaphore_release(s, 3, &prev), 0);
	cr_assert_eq(prev, 7);
	/* The count is the sum: 10, at the maximum. */
	cr_assert_eq(t_drain(s), 10);

	/* The Win32 name, through a handle of the portable call. */
	{
		LONG lprev = (LONG)T_POISON;

		cr_assert(ReleaseSemaphore(s, 4, &lprev));
		cr_assert_eq(lprev, 0);
		cr_assert(ReleaseSemaphore(s, 1, NULL));
		cr_assert_eq(t_drain(s), 5);
	}
	cr_assert_eq(apc_close(s), 0);
}

/* ---- C32, C33: failed releases ------------------------------------------- */

Test(semaphore, C32_release_past_the_maximum_changes_nothing)
{
	apc_handle s = semaphore_new(0, 2);
	int32_t prev = (int32_t)T_POISON;
	LONG lprev = (LONG)T_POISON;

	cr_assert_eq(apc_semaphore_release(s, 3, &prev),
		     APC_ERROR_TOO_MANY_POSTS);
	cr_assert_eq(prev, (int32_t)T_POISON, "previous written on failure");
	cr_assert_not(t_poll0(s));

	cr_assert_eq(apc_semaphore_release(s, 2, &prev), 0);
	cr_assert_eq(prev, 0);
	prev = (int32_t)T_POISON;
	cr_assert_eq(apc_semaphore_release(s, 1, &prev),
		     APC_ERROR_TOO_MANY_POSTS);
	cr_assert_eq(prev, (int32_t)T_POISON);
	cr_assert_eq(apc_semaphore_release(s, INT32_MAX, &prev),
		     APC_ERROR_TOO_MANY_POSTS);
	cr_assert_eq(prev, (int32_t)T_POISON);
	cr_assert_eq(t_drain(s), 2);

	/* No overflow near INT32_MAX. */
	cr_assert_eq(apc_close(s), 0);
	s = semaphore_new(INT32_MAX - 1, INT32_MAX);
	cr_assert_eq(apc_semaphore_release(s, 2, &prev),
		     APC_ERROR_TOO_MANY_POSTS);
	cr_assert_eq(apc_semaphore_release(s, INT32_MAX, &prev),
		     APC_ERROR_TOO_MANY_POSTS);
	cr_assert_eq(prev, (int32_t)T_POISON);
	cr_assert_eq(apc_semaphore_release(s, 1, &prev), 0);
	cr_assert_eq(prev, INT32_MAX - 1);
	prev = (int32_t)T_POISON;
	cr_assert_eq(apc_semaphore_release(s, 1, &prev),
		     APC_ERROR_TOO_MANY_POSTS);
	cr_assert_eq(prev, (int32_t)T_POISON);
	cr_assert(t_poll0(s));
	cr_assert_eq(apc_semaphore_release(s, 1, &prev), 0);
	cr_assert_eq(prev, INT32_MAX - 1);

	/* The Win32 name: FALSE, last error 298. */
	SetLastError(0);
	cr_assert_not(ReleaseSemaphore(s, 1, &lprev));
	cr_assert_eq(GetLastError(), ERROR_TOO_MANY_POSTS);
	cr_assert_eq(apc_close(s), 0);
}

Test(semaphore, C33_release_count_must_be_positive)
{
	static const int32_t counts[] = {0, -1, INT32_MIN};
	apc_handle s = semaphore_new(1, 5);
	unsigned int i;

	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		int32_t prev = (int32_t)T_POISON;
		uint32_t st = apc_semaphore_release(s, counts[i], &prev);

		/* Wine's server adds 0 and reads a negative count as a huge
		 * one (298); Windows checks the sign first. */
		T_WINE_DEVIATION("Wine accepts 0 and fails negative counts "
				 "with 298; MS ReleaseSemaphore: "
				 "lReleaseCount must be greater than zero",
				 cr_expect_eq(st, APC_ERROR_INVALID_PARAMETER,
					      "release(%d): %u", counts[i],
					      st));
		if (counts[i] == 0)
			T_WINE_DEVIATION("Wine writes the previous count when "
					 "it accepts 0; MS ReleaseSemaphore",
					 cr_expect_eq(prev, (int32_t)T_POISON,
						      "release(0)"));
		else
			cr_assert_eq(prev, (int32_t)T_POISON, "release(%d)",
				     counts[i]);
	}
	/* The count is still 1. */
	cr_assert_eq(t_drain(s), 1);
	cr_assert_eq(apc_close(s), 0);
}

Test(semaphore, C33_release_on_other_objects_fails)
{
	apc_handle e = T_POISON_HANDLE, m = T_POISON_HANDLE, closed;
	int32_t prev = (int32_t)T_POISON;

	cr_assert_eq(apc_event_create(true, true, &e), 0);
	cr_assert_eq(apc_mutex_create(false, &m), 0);
	closed = semaphore_new(1, 1);
	cr_assert_eq(apc_close(closed), 0);

	cr_assert_eq(apc_semaphore_release(e, 1, &prev),
		     APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_semaphore_release(m, 1, &prev),
		     APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_semaphore_release(closed, 1, &prev),
		     APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_semaphore_release(NULL, 1, &prev),
		     APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_semaphore_release(APC_CURRENT_THREAD, 1, &prev),
		     APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(prev, (int32_t)T_POISON);
	cr_assert_eq(apc_close(e), 0);
	cr_assert_eq(apc_close(m), 0);
}

/* ---- C34: releases and waiters ------------------------------------------- */

Test(semaphore, C34_release_n_wakes_min_n_k_waiters)
{
	enum { N = 3 };
	struct waiter w[N];
	apc_handle s = semaphore_new(0, 10);
	apc_handle th[N];
	int32_t prev = (int32_t)T_POISON;
	unsigned int n = N, i;
	bool known;

	known = start_waiters(w, N, s);
	for (i = 0; i < N; i++)
		th[i] = w[i].thread;

	cr_assert_eq(apc_semaphore_release(s, 2, &prev), 0);
	cr_assert_eq(prev, 0);
	/* Sleeping waiters take their count inside the release. */
	if (known)
		cr_assert_not(t_poll0(s), "the release left a count to take");
	cr_assert(reap_one(th, &n, T_WAIT_MS * t_slack()));
	cr_assert(reap_one(th, &n, T_WAIT_MS * t_slack()));
	/* Exactly two: the third still waits, nothing is left. */
	cr_assert_not(reap_one(th, &n, 100), "release 2 woke 3 waiters");
	cr_assert_not(t_poll0(s));

	/* Two more for one waiter: it takes one, one stays in the count. */
	prev = (int32_t)T_POISON;
	cr_assert_eq(apc_semaphore_release(s, 2, &prev), 0);
	cr_assert_eq(prev, 0);
	cr_assert(reap_one(th, &n, T_WAIT_MS * t_slack()));
	cr_assert_eq(n, 0);
	prev = (int32_t)T_POISON;
	cr_assert_eq(apc_semaphore_release(s, 1, &prev), 0);
	cr_assert_eq(prev, 1);
	cr_assert_eq(t_drain(s), 2);
	cr_assert_eq(apc_close(s), 0);
}

Test(semaphore, C34_release_one_at_a_time_wakes_one_at_a_time)
{
	enum { N = 4 };
	struct waiter w[N];
	apc_handle s = semaphore_new(0, 1);
	apc_handle th[N];
	unsigned int n = N, i;

	start_waiters(w, N, s);
	for (i = 0; i < N; i++)
		th[i] = w[i].thread;
	for (i = 1; i <= N; i++) {
		int32_t prev = (int32_t)T_POISON;

		cr_assert_eq(apc_semaphore_release(s, 1, &prev), 0,
			     "release #%u", i);
		cr_assert_eq(prev, 0);
		cr_assert(reap_one(th, &n, T_WAIT_MS * t_slack()));
		if (n)
			cr_assert_not(reap_one(th, &n, 50),
				      "release #%u woke two", i);
	}
	cr_assert_not(t_poll0(s));
	cr_assert_eq(apc_close(s), 0);
}

/* ---- C18: producers and consumers, exact counts -------------------------- */

#define PC_THREADS 4
#define PC_OPS 10000

static struct {
	apc_handle sem;
	atomic_uint taken;
	atomic_uint released;
	atomic_uint failures;
} pc;

static uint32_t thread_producer(void *arg)
{
	unsigned int i;

	(void)arg;
	for (i = 0; i < PC_OPS; i++) {
		int32_t prev = -1;

		if (apc_semaphore_release(pc.sem, 1, &prev) != 0 || prev < 0)
			atomic_fetch_add(&pc.failures, 1);
		else
			atomic_fetch_add(&pc.released, 1);
		if (i % 64 == 0)
			(void)apc_sleep(0, false);
	}
	return 0;
}

static uint32_t thread_consumer(void *arg)
{
	unsigned int i;
	uint32_t r;

	for (i = 0; i < PC_OPS; i++) {
		/* Half alertable: no APC is ever queued, so never 0xC0. */
		r = apc_wait(pc.sem, T_WAIT_MS * t_slack(), (uintptr_t)arg & 1,
			     NULL);
		if (r == APC_WAIT_OBJECT_0)
			atomic_fetch_add(&pc.taken, 1);
		else
			atomic_fetch_add(&pc.failures, 1);
	}
	return 0;
}

Test(semaphore, C18_C34_producers_and_consumers_exact_counts)
{
	apc_handle th[2 * PC_THREADS];
	unsigned int i;

	pc.sem = semaphore_new(0, INT32_MAX);
	for (i = 0; i < PC_THREADS; i++) {
		th[2 * i] = t_spawn(thread_consumer, (void *)(uintptr_t)i);
		th[2 * i + 1] = t_spawn(thread_producer, NULL);
	}
	for (i = 0; i < 2 * PC_THREADS; i++) {
		cr_assert_eq(apc_wait(th[i], 300000u * t_slack(), false, NULL),
			     APC_WAIT_OBJECT_0, "thread %u hangs", i);
		cr_assert_eq(t_join(th[i]), 0);
	}
	cr_assert_eq(atomic_load(&pc.failures), 0);
	cr_assert_eq(atomic_load(&pc.released), PC_THREADS * PC_OPS);
	cr_assert_eq(atomic_load(&pc.taken), PC_THREADS * PC_OPS);
	/* Every count released was taken, none twice. */
	cr_assert_not(t_poll0(pc.sem));
	cr_assert_eq(apc_close(pc.sem), 0);
}

/* ---- B8: an APC that releases the semaphore ------------------------------ */

static void apc_release(uintptr_t data)
{
	t_log_push(1);
	(void)apc_semaphore_release((apc_handle)data, 1, NULL);
}

Test(semaphore, B8_apc_release_does_not_satisfy_the_wait)
{
	apc_handle s = semaphore_new(0, 5);

	t_reset();
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, apc_release, (uintptr_t)s),
		     0);
	cr_assert_eq(apc_wait(s, T_WAIT_MS, true, NULL),
		     APC_WAIT_IO_COMPLETION);
	cr_assert_eq(t_log_len(), 1);
	/* The count the APC added is still there, and only that one. */
	cr_assert_eq(t_drain(s), 1);
	cr_assert_eq(apc_close(s), 0);
}

struct alertable_waiter {
	apc_handle sem;
	atomic_uint ready;
	atomic_uint result;
	atomic_uint next;
};

static uint32_t thread_alertable_wait(void *arg)
{
	struct alertable_waiter *w = arg;

	atomic_store(&w->ready, 1);
	atomic_store(&w->result,
		     apc_wait(w->sem, T_WAIT_MS * t_slack(), true, NULL));
	/* The next wait finds the APC's count (contract B8's test). */
	atomic_store(&w->next, apc_wait(w->sem, 0, false, NULL));
	return 0;
}

Test(semaphore, B8_apc_queued_to_a_waiter_releases_its_semaphore)
{
	struct alertable_waiter w = {0};
	uint32_t tid = 0;
	apc_handle th;

	t_reset();
	w.sem = semaphore_new(0, 5);
	th = t_spawn_flags(thread_alertable_wait, &w, 0, &tid);
	cr_assert(t_spin_until(&w.ready, 1, T_WAIT_MS));
	(void)t_wait_blocked(tid);
	cr_assert_eq(apc_queue(th, apc_release, (uintptr_t)w.sem), 0);
	cr_assert_eq(t_join(th), 0);
	cr_assert_eq(atomic_load(&w.result), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&w.next), APC_WAIT_OBJECT_0);
	t_assert_log_seq(1, 1, tid);
	cr_assert_not(t_poll0(w.sem));
	cr_assert_eq(apc_close(w.sem), 0);
}
