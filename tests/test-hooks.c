/*
 * Rules that need a test hook into the POSIX engine (suite posix):
 *
 *   C44  a wait that would pass a mutex's recursion limit fails with
 *        WAIT_FAILED / ERROR_MUTANT_LIMIT_EXCEEDED and changes nothing;
 *        reaching the limit for real takes 2^32 - 1 waits, so
 *        apc__mutex_test_set_recursion sets the count.
 *   D18  absolute due times follow the wall clock, relative ones do not;
 *        setting the system clock needs privilege (and would disturb the
 *        machine), so apc__clock_test_shift moves apcrt's wall clock
 *        through the same path as a real clock change.
 *
 * Each test runs in its own process, so a shifted clock never leaks into
 * another test.
 */
#include <criterion/criterion.h>

#include "posix/internal.h"

#include "helpers.h"

TestSuite(hooks, .timeout = 60);

#define SECOND 10000000LL /* 100 ns units */

/* ---- C44 ------------------------------------------------------------------
 */

Test(hooks, C44_recursion_overflow_fails_with_587_and_changes_nothing)
{
	apc_handle m = t_mutex_new(true), e = t_event_new(true, true);
	apc_handle both[2] = {e, m};
	uint32_t err = 0;

	cr_assert_eq(apc__mutex_test_set_recursion(m, UINT32_MAX), 0);
	/* One more recursion, by every kind of wait. */
	cr_assert_eq(apc_wait(m, 0, false, &err), APC_WAIT_FAILED);
	cr_assert_eq(err, APC_ERROR_MUTANT_LIMIT_EXCEEDED);
	err = 0;
	cr_assert_eq(apc_wait(m, APC_INFINITE, true, &err), APC_WAIT_FAILED);
	cr_assert_eq(err, APC_ERROR_MUTANT_LIMIT_EXCEEDED);
	err = 0;
	cr_assert_eq(apc_wait_multiple(2, both, true, 0, false, &err),
		     APC_WAIT_FAILED);
	cr_assert_eq(err, APC_ERROR_MUTANT_LIMIT_EXCEEDED);

	/* The count did not move: one release makes room for exactly one
	 * more recursion. */
	cr_assert_eq(apc_mutex_release(m), 0);
	cr_assert_eq(apc_wait(m, 0, false, &err), APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_wait(m, 0, false, &err), APC_WAIT_FAILED);
	cr_assert_eq(err, APC_ERROR_MUTANT_LIMIT_EXCEEDED);

	/* A count of 2 takes exactly two releases, then the mutex is free
	 * (the failed waits left ownership as it was). */
	cr_assert_eq(apc__mutex_test_set_recursion(m, 2), 0);
	cr_assert_eq(apc_mutex_release(m), 0);
	cr_assert_eq(apc_mutex_release(m), 0);
	cr_assert_eq(apc_mutex_release(m), APC_ERROR_NOT_OWNER);

	/* The hook itself is owner-only. */
	cr_assert_eq(apc__mutex_test_set_recursion(m, 5), APC_ERROR_NOT_OWNER);
	cr_assert_eq(apc_close(m), 0);
	cr_assert_eq(apc_close(e), 0);
}

/* ---- D18 ------------------------------------------------------------------
 */

static apc_handle timer_at(int64_t due)
{
	apc_handle t;

	cr_assert_eq(apc_timer_create(true, &t), 0);
	cr_assert_eq(apc_timer_set(t, due, 0, NULL, NULL), 0);
	return t;
}

Test(hooks, D18_the_hook_moves_filetime_now)
{
	int64_t before = apc_filetime_now(), after;

	apc__clock_test_shift(10 * SECOND);
	after = apc_filetime_now();
	cr_assert_geq(after - before, 10 * SECOND);
	cr_assert_lt(after - before, 11 * SECOND);
}

Test(hooks, D18_clock_forward_fires_absolute_at_once_not_relative)
{
	uint64_t set = t_now_ns(), start;
	apc_handle abs = timer_at(apc_filetime_now() + 3 * SECOND);
	apc_handle rel = timer_at(-2 * SECOND);
	uint32_t err;

	apc_sleep(100, false);
	cr_assert(!t_poll0(abs));
	cr_assert(!t_poll0(rel));

	/* +10 s: the absolute due time is now 7 s in the past. */
	apc__clock_test_shift(10 * SECOND);
	start = t_now_ns();
	cr_assert_eq(apc_wait(abs, 1000 * t_slack(), false, &err),
		     APC_WAIT_OBJECT_0);
	cr_assert_lt(t_ms_since(start), 500.0 * t_slack());

	/* The relative timer keeps its 2 s from the set call. */
	cr_assert(!t_poll0(rel));
	cr_assert_eq(apc_wait(rel, 5000 * t_slack(), false, &err),
		     APC_WAIT_OBJECT_0);
	cr_assert_geq(t_ms_since(set), t_floor_ms(2000));
	cr_assert_eq(apc_close(abs), 0);
	cr_assert_eq(apc_close(rel), 0);
}

Test(hooks, D18_clock_back_delays_absolute_until_the_new_time)
{
	apc_handle abs = timer_at(apc_filetime_now() + SECOND);
	uint64_t start;
	uint32_t err;

	/* -10 s: the due time is now 11 s away. */
	apc__clock_test_shift(-10 * SECOND);
	cr_assert_eq(apc_wait(abs, 1500, false, &err), APC_WAIT_TIMEOUT);

	/* Back again: the due time is past, so it fires at once. */
	apc__clock_test_shift(10 * SECOND);
	start = t_now_ns();
	cr_assert_eq(apc_wait(abs, 1000 * t_slack(), false, &err),
		     APC_WAIT_OBJECT_0);
	cr_assert_lt(t_ms_since(start), 500.0 * t_slack());
	cr_assert_eq(apc_close(abs), 0);
}

/*
 * apcrt decision (README): once an absolute periodic timer has fired, its
 * period runs on the monotonic clock; a later clock change does not move
 * it.
 */
Test(hooks, D18_period_after_the_first_expiry_is_monotonic)
{
	apc_handle t;
	uint64_t start;
	uint32_t err;

	cr_assert_eq(apc_timer_create(false, &t), 0);
	cr_assert_eq(apc_timer_set(t, apc_filetime_now() + SECOND / 10, 200,
				   NULL, NULL),
		     0);
	cr_assert_eq(apc_wait(t, 2000 * t_slack(), false, &err),
		     APC_WAIT_OBJECT_0);
	start = t_now_ns();
	apc__clock_test_shift(-100 * SECOND);
	cr_assert_eq(apc_wait(t, 2000 * t_slack(), false, &err),
		     APC_WAIT_OBJECT_0);
	cr_assert_lt(t_ms_since(start), 1000.0 * t_slack());
	apc__clock_test_shift(200 * SECOND);
	start = t_now_ns();
	cr_assert_eq(apc_wait(t, 2000 * t_slack(), false, &err),
		     APC_WAIT_OBJECT_0);
	cr_assert_geq(t_ms_since(start), t_floor_ms(100));
	cr_assert_eq(apc_close(t), 0);
}
