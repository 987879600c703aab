/*
 * Long-running checks (suite slow): many threads, the full handle table,
 * long runs of short waits.  Public API only.
 *
 * Contract: G11 (per-thread state freed), M5 and the APC_MAX_HANDLES
 * limit (DUPLICATE_CLOSE_SOURCE when the duplication fails), B15 and B24
 * over 10,000 waits.
 */
#include <criterion/criterion.h>

#include <stdlib.h>

#include <apc/apc.h>

#include "helpers.h"

TestSuite(stress, .timeout = 600);

/* APC: counts in the per-thread counter its data points to. */
static void apc_count_into(uintptr_t data)
{
	atomic_fetch_add((atomic_uint *)data, 1);
}

/*
 * Sleeps alertably until its first APC ran (which may be before this
 * routine starts, A12); returns 0 then, 1 if none came.
 */
static uint32_t thread_wait_for_apc(void *arg)
{
	atomic_uint *ran = arg;
	int i;

	for (i = 0; i < 10 && atomic_load(ran) == 0; i++)
		(void)apc_sleep(T_WAIT_MS, true);
	return atomic_load(ran) ? 0 : 1;
}

Test(stress, G11_ten_thousand_threads_with_apcs)
{
	enum { TOTAL = 10000, BATCH = 50 };
	static atomic_uint ran[BATCH];
	apc_handle h[BATCH];
	unsigned int done, i, total = 0;

	for (done = 0; done < TOTAL; done += BATCH) {
		for (i = 0; i < BATCH; i++) {
			atomic_store(&ran[i], 0);
			h[i] = t_spawn(thread_wait_for_apc, &ran[i]);
			cr_assert_eq(apc_queue(h[i], apc_count_into,
					       (uintptr_t)&ran[i]),
				     0);
			/*
			 * One more to half of them: refused if the thread
			 * already ended, else run or left for exit (G1).
			 */
			if (i & 1) {
				uint32_t st = apc_queue(h[i], apc_count_into,
							(uintptr_t)&ran[i]);

				cr_assert(st == 0 ||
						  st == APC_ERROR_GEN_FAILURE,
					  "status %u", st);
			}
		}
		for (i = 0; i < BATCH; i++) {
			cr_assert_eq(t_join(h[i]), 0);
			cr_assert_geq(atomic_load(&ran[i]), 1);
			cr_assert_leq(atomic_load(&ran[i]), 1 + (i & 1));
			total += atomic_load(&ran[i]);
		}
	}
	cr_assert_geq(total, TOTAL);
	cr_assert_leq(total, TOTAL + TOTAL / 2);
}

/*
 * Skipped on Windows: APC_MAX_HANDLES is the size of apcrt's own handle
 * table.  On Windows handles come from the process's kernel handle table,
 * whose limit (about 2^24) is not apcrt's and not worth exhausting.
 */
Test(stress, M5_handle_table_full)
{
#ifdef _WIN32
	cr_skip_test("apcrt only: APC_MAX_HANDLES sizes apcrt's table");
#else
	atomic_uint dummy = 0;
	apc_handle *all;
	apc_handle src = NULL, out;
	unsigned int n = 0, i;
	uint32_t st = 0;

	all = calloc(APC_MAX_HANDLES + 1u, sizeof(*all));
	cr_assert_not_null(all);
	cr_assert_eq(apc_thread_self(&src), 0);

	while (n <= APC_MAX_HANDLES) {
		out = T_POISON_HANDLE;
		st = apc_handle_duplicate(src, 0, &out);
		if (st != 0)
			break;
		all[n++] = out;
	}
	cr_assert_eq(st, APC_ERROR_NOT_ENOUGH_MEMORY, "status %u after %u", st,
		     n);
	cr_assert_null(out);
	/* Only the few handles of the harness and this test are missing. */
	cr_assert_leq(n, APC_MAX_HANDLES - 1);
	cr_assert_geq(n, APC_MAX_HANDLES - 64);

	/* Everything that allocates a handle fails the same way. */
	out = T_POISON_HANDLE;
	cr_assert_eq(apc_thread_self(&out), APC_ERROR_NOT_ENOUGH_MEMORY);
	out = T_POISON_HANDLE;
	cr_assert_eq(apc_thread_create(thread_wait_for_apc, &dummy, 0, 0, &out,
				       NULL),
		     APC_ERROR_NOT_ENOUGH_MEMORY);
	cr_assert_null(out);

	/* M5: DUPLICATE_CLOSE_SOURCE closes the source even on failure. */
	out = T_POISON_HANDLE;
	cr_assert_eq(apc_handle_duplicate(all[n - 1],
					  APC_DUPLICATE_CLOSE_SOURCE, &out),
		     APC_ERROR_NOT_ENOUGH_MEMORY);
	cr_assert_null(out);
	cr_assert_eq(apc_close(all[n - 1]), APC_ERROR_INVALID_HANDLE);
	n--;

	/* One slot free again. */
	out = T_POISON_HANDLE;
	cr_assert_eq(apc_handle_duplicate(src, 0, &out), 0);
	all[n++] = out;

	for (i = 0; i < n; i++)
		cr_assert_eq(apc_close(all[i]), 0, "handle %u", i);
	free(all);

	out = T_POISON_HANDLE;
	cr_assert_eq(apc_handle_duplicate(src, 0, &out), 0);
	cr_assert_eq(apc_close(out), 0);
	cr_assert_eq(apc_close(src), 0);
#endif
}

Test(stress, B15_B24_ten_thousand_short_alertable_sleeps)
{
	unsigned int i;
	uint64_t t0;
	double ms;
	uint32_t r;

	for (i = 0; i < 10000; i++) {
		t0 = t_now_ns();
		r = apc_sleep(1, true);
		ms = t_ms_since(t0);
		cr_assert_eq(r, 0, "sleep #%u returned %#x", i, r);
		cr_assert_geq(ms, t_floor_ms(1), "sleep #%u took %.3f ms", i,
			      ms);
	}
}
