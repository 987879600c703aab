/*
 * Thread objects: creation, exit codes, thread handles as waitable objects,
 * suspended start, thread ids.
 *
 * Contract: C45, C46 (thread objects), G10 (handles after exit), M6 and
 * A12 (suspended start, APCs before the start routine).
 */
#include <criterion/criterion.h>

#include <apc/apc.h>

#include "helpers.h"

TestSuite(apc_thread, .timeout = 60);

static uint32_t thread_return_99(void *arg)
{
	(void)arg;
	return 99;
}

static uint32_t thread_return_arg(void *arg)
{
	return (uint32_t)(uintptr_t)arg;
}

Test(apc_thread, C46_exit_code_is_the_return_value)
{
	apc_handle h = t_spawn(thread_return_99, NULL);
	uint32_t code = T_POISON;

	cr_assert_eq(t_wait_exit(h), 99);
	cr_assert_eq(apc_thread_exit_code(h, &code), 0);
	cr_assert_eq(code, 99);
	cr_assert_eq(apc_close(h), 0);
}

Test(apc_thread, C46_exit_code_full_32_bits)
{
	static const uint32_t codes[] = {0,	      1,	   258,
					 260,	      0x7fffffffu, 0x80000000u,
					 0xcafef00du, 0xfffffffeu};
	unsigned int i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		apc_handle h =
			t_spawn(thread_return_arg, (void *)(uintptr_t)codes[i]);

		cr_assert_eq(t_join(h), codes[i]);
	}
}

static atomic_uint exit_deep_after;

/* apc_thread_exit from a few frames down: none of them return. */
static void exit_inner(uint32_t code)
{
	apc_thread_exit(code);
}

static void exit_middle(uint32_t code)
{
	exit_inner(code);
	atomic_store(&exit_deep_after, 1);
}

static uint32_t thread_exit_42(void *arg)
{
	(void)arg;
	exit_middle(42);
	atomic_store(&exit_deep_after, 2);
	return 1;
}

Test(apc_thread, C46_exit_code_from_apc_thread_exit)
{
	apc_handle h;

	atomic_store(&exit_deep_after, 0);
	h = t_spawn(thread_exit_42, NULL);
	cr_assert_eq(t_join(h), 42);
	cr_assert_eq(atomic_load(&exit_deep_after), 0,
		     "apc_thread_exit returned");
}

Test(apc_thread, C45_C46_running_thread_unsignalled_still_active)
{
	atomic_uint gate = 0;
	apc_handle h = t_spawn(t_thread_gated, &gate);
	uint32_t code = T_POISON;
	uint32_t err = T_POISON;
	int i;

	for (i = 0; i < 3; i++) {
		cr_assert_eq(apc_wait(h, 0, false, &err), APC_WAIT_TIMEOUT);
		cr_assert_eq(apc_wait(h, 0, true, &err), APC_WAIT_TIMEOUT);
	}
	cr_assert_eq(apc_wait(h, 20, false, &err), APC_WAIT_TIMEOUT);
	cr_assert_eq(err, T_POISON);
	cr_assert_eq(apc_thread_exit_code(h, &code), 0);
	cr_assert_eq(code, APC_STILL_ACTIVE);

	atomic_store(&gate, 1);
	cr_assert_eq(t_wait_exit(h), 0);

	/* Signalled for good: every later wait returns at once. */
	for (i = 0; i < 3; i++) {
		cr_assert_eq(apc_wait(h, 0, false, &err), APC_WAIT_OBJECT_0);
		cr_assert_eq(apc_wait(h, 0, true, &err), APC_WAIT_OBJECT_0);
		cr_assert_eq(apc_wait(h, APC_INFINITE, false, &err),
			     APC_WAIT_OBJECT_0);
	}
	cr_assert_eq(err, T_POISON);
	cr_assert_eq(apc_close(h), 0);
}

Test(apc_thread, G10_handle_valid_after_exit)
{
	uint32_t tid = 0;
	apc_handle h = t_spawn_flags(thread_return_99, NULL, 0, &tid);
	uint32_t code = T_POISON;
	uint32_t err = T_POISON;

	cr_assert_eq(t_wait_exit(h), 99);
	/* Let the thread's exit processing finish, whatever it does. */
	cr_assert_eq(apc_sleep(100, false), 0);
	cr_assert_eq(apc_wait(h, 0, false, &err), APC_WAIT_OBJECT_0);
	cr_assert_eq(err, T_POISON);
	cr_assert_eq(apc_thread_exit_code(h, &code), 0);
	cr_assert_eq(code, 99);
	cr_assert_eq(apc_thread_id(h), tid);
	cr_assert_eq(apc_close(h), 0);
}

Test(apc_thread, G10_duplicate_outlives_closed_original)
{
	apc_handle h = t_spawn(thread_return_99, NULL);
	apc_handle d = T_POISON_HANDLE;

	cr_assert_eq(apc_handle_duplicate(h, 0, &d), 0);
	cr_assert_eq(apc_close(h), 0);
	cr_assert_eq(t_join(d), 99);
}

Test(apc_thread, create_rejects_bad_parameters)
{
	apc_handle h = T_POISON_HANDLE;
	uint32_t tid = T_POISON;

	cr_assert_eq(apc_thread_create(NULL, NULL, 0, 0, &h, &tid),
		     APC_ERROR_INVALID_PARAMETER);
	cr_assert_null(h);

	cr_assert_eq(
		apc_thread_create(thread_return_99, NULL, 0, 0, NULL, &tid),
		APC_ERROR_INVALID_PARAMETER);

	h = T_POISON_HANDLE;
	cr_assert_eq(
		apc_thread_create(thread_return_99, NULL, 0, 0x1u, &h, &tid),
		APC_ERROR_INVALID_PARAMETER);
	cr_assert_null(h);

	h = T_POISON_HANDLE;
	cr_assert_eq(apc_thread_create(thread_return_99, NULL, 0,
				       APC_THREAD_SUSPENDED | 0x80000000u, &h,
				       &tid),
		     APC_ERROR_INVALID_PARAMETER);
	cr_assert_null(h);
}

static uint32_t thread_report_id(void *arg)
{
	(void)arg;
	return apc_thread_id(APC_CURRENT_THREAD);
}

Test(apc_thread, thread_ids)
{
	uint32_t self = apc_thread_id(APC_CURRENT_THREAD);
	uint32_t tid = T_POISON;
	apc_handle h = T_POISON_HANDLE;
	uint32_t seen;

	cr_assert_neq(self, 0);
	cr_assert_eq(apc_thread_id(APC_CURRENT_THREAD), self);

	cr_assert_eq(apc_thread_create(thread_report_id, NULL, 0, 0, &h, &tid),
		     0);
	cr_assert_neq(tid, T_POISON);
	cr_assert_neq(tid, 0);
	cr_assert_neq(tid, self);
	cr_assert_eq(apc_thread_id(h), tid);
	seen = t_wait_exit(h);
	cr_assert_eq(seen, tid, "thread saw id %u, creator got %u", seen, tid);
	cr_assert_eq(apc_thread_id(h), tid);
	cr_assert_eq(apc_close(h), 0);

	/* tid may be NULL. */
	h = T_POISON_HANDLE;
	cr_assert_eq(apc_thread_create(thread_return_99, NULL, 0, 0, &h, NULL),
		     0);
	cr_assert_eq(t_join(h), 99);

	/* Handles that name no thread. */
	cr_assert_eq(apc_thread_id(NULL), 0);
	cr_assert_eq(apc_thread_id(T_POISON_HANDLE), 0);
	cr_assert_eq(apc_thread_id(APC_CURRENT_PROCESS), 0);
}

Test(apc_thread, thread_ids_distinct)
{
	enum { N = 8 };
	atomic_uint gate = 0;
	apc_handle h[N];
	uint32_t tid[N];
	int i, j;

	/* All alive at once, so the system cannot reuse an id. */
	for (i = 0; i < N; i++)
		h[i] = t_spawn_flags(t_thread_gated, &gate, 0, &tid[i]);
	for (i = 0; i < N; i++) {
		cr_assert_neq(tid[i], apc_thread_id(APC_CURRENT_THREAD));
		for (j = 0; j < i; j++)
			cr_assert_neq(tid[i], tid[j]);
	}
	atomic_store(&gate, 1);
	for (i = 0; i < N; i++)
		cr_assert_eq(t_join(h[i]), 0);
}

static uint32_t thread_big_frame(void *arg)
{
	volatile unsigned char buf[64 * 1024];
	unsigned int i, sum = 0;

	(void)arg;
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)i;
	for (i = 0; i < sizeof(buf); i++)
		sum += buf[i];
	return sum;
}

Test(apc_thread, stack_size)
{
	static const size_t sizes[] = {1, 4096, 256 * 1024, 1024 * 1024};
	unsigned int want = 0, i;
	apc_handle h = T_POISON_HANDLE;

	for (i = 0; i < 64 * 1024; i++)
		want += (unsigned char)i;

	/* Tiny sizes are rounded up to the minimum; the thread still runs. */
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		h = T_POISON_HANDLE;
		cr_assert_eq(apc_thread_create(thread_return_99, NULL, sizes[i],
					       0, &h, NULL),
			     0, "stack size %zu", sizes[i]);
		cr_assert_eq(t_join(h), 99);
	}
	h = T_POISON_HANDLE;
	cr_assert_eq(apc_thread_create(thread_big_frame, NULL, 1024 * 1024, 0,
				       &h, NULL),
		     0);
	cr_assert_eq(t_join(h), want);
}

/* ---- M6 / A12: suspended start ------------------------------------------- */

#define START_MARK 1000u

static uint32_t thread_log_start(void *arg)
{
	(void)arg;
	t_log_push(START_MARK);
	return 7;
}

Test(apc_thread, M6_A12_suspended_start_runs_apcs_first)
{
	uint32_t tid = 0;
	apc_handle h;
	uint32_t prev = T_POISON;
	uint32_t code = T_POISON;
	uint32_t err = T_POISON;

	t_reset();
	h = t_spawn_flags(thread_log_start, NULL, APC_THREAD_SUSPENDED, &tid);
	cr_assert_eq(apc_thread_id(h), tid);
	cr_assert_eq(apc_queue(h, t_apc_log, 1), 0);
	cr_assert_eq(apc_queue(h, t_apc_log, 2), 0);

	/* Runs no user code while suspended. */
	cr_assert_eq(apc_wait(h, 50, false, &err), APC_WAIT_TIMEOUT);
	cr_assert_eq(apc_thread_exit_code(h, &code), 0);
	cr_assert_eq(code, APC_STILL_ACTIVE);
	cr_assert_eq(t_log_len(), 0);

	cr_assert_eq(apc_thread_resume(h, &prev), 0);
	cr_assert_eq(prev, 1);
	cr_assert_eq(t_wait_exit(h), 7);

	cr_assert_eq(t_log_len(), 3);
	cr_assert_eq(t_log_value(0), 1);
	cr_assert_eq(t_log_value(1), 2);
	cr_assert_eq(t_log_value(2), START_MARK);
	cr_assert_eq(t_log_tid(0), tid);
	cr_assert_eq(t_log_tid(1), tid);
	cr_assert_eq(t_log_tid(2), tid);

	/* Resuming an ended thread: previous count 0, nothing happens. */
	prev = T_POISON;
	cr_assert_eq(apc_thread_resume(h, &prev), 0);
	cr_assert_eq(prev, 0);
	cr_assert_eq(apc_close(h), 0);
}

Test(apc_thread, M6_resume_twice_and_null_prev_count)
{
	apc_handle h = t_spawn_flags(thread_return_99, NULL,
				     APC_THREAD_SUSPENDED, NULL);
	uint32_t prev = T_POISON;

	cr_assert_eq(apc_thread_resume(h, NULL), 0);
	cr_assert_eq(apc_thread_resume(h, &prev), 0);
	cr_assert_eq(prev, 0);
	cr_assert_eq(t_join(h), 99);
}

Test(apc_thread, M6_resume_running_thread_unaffected)
{
	atomic_uint gate = 0;
	apc_handle h = t_spawn(t_thread_gated, &gate);
	uint32_t prev = T_POISON;
	uint32_t code = T_POISON;

	cr_assert_eq(apc_thread_resume(h, &prev), 0);
	cr_assert_eq(prev, 0);
	cr_assert_eq(apc_thread_exit_code(h, &code), 0);
	cr_assert_eq(code, APC_STILL_ACTIVE);

	prev = T_POISON;
	cr_assert_eq(apc_thread_resume(APC_CURRENT_THREAD, &prev), 0);
	cr_assert_eq(prev, 0);

	atomic_store(&gate, 1);
	cr_assert_eq(t_join(h), 0);
}

Test(apc_thread, M6_resume_invalid_handle)
{
	uint32_t prev = T_POISON;

	cr_assert_eq(apc_thread_resume(NULL, &prev), APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_thread_resume(T_POISON_HANDLE, &prev),
		     APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_thread_resume(APC_CURRENT_PROCESS, &prev),
		     APC_ERROR_INVALID_HANDLE);
}

Test(apc_thread, M6_suspended_thread_can_exit_from_apc)
{
	apc_handle h;

	t_reset();
	h = t_spawn_flags(thread_log_start, NULL, APC_THREAD_SUSPENDED, NULL);
	cr_assert_eq(apc_queue(h, t_apc_log, 1), 0);
	cr_assert_eq(apc_queue(h, t_apc_exit, 5), 0);
	cr_assert_eq(apc_queue(h, t_apc_log, 2), 0);
	cr_assert_eq(apc_thread_resume(h, NULL), 0);
	cr_assert_eq(t_join(h), 5);
	/* The start routine and the APC after the exit never ran (G3). */
	t_assert_log_seq(1, 1, 0);
}

/* ---- exit codes, other paths --------------------------------------------- */

Test(apc_thread, C46_exit_code_bad_parameters)
{
	uint32_t code = T_POISON;
	apc_handle h = t_spawn(thread_return_99, NULL);

	cr_assert_eq(apc_thread_exit_code(h, NULL),
		     APC_ERROR_INVALID_PARAMETER);
	cr_assert_eq(apc_thread_exit_code(NULL, &code),
		     APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_thread_exit_code(T_POISON_HANDLE, &code),
		     APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_thread_exit_code(APC_CURRENT_PROCESS, &code),
		     APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(t_join(h), 99);
}

Test(apc_thread, C46_current_thread_still_active)
{
	uint32_t code = T_POISON;

	cr_assert_eq(apc_thread_exit_code(APC_CURRENT_THREAD, &code), 0);
	cr_assert_eq(code, APC_STILL_ACTIVE);
}

/* ---- apc_thread_self ----------------------------------------------------- */

static uint32_t thread_queue_to_handle(void *arg)
{
	apc_handle target = arg;

	return apc_queue(target, t_apc_log, 77);
}

Test(apc_thread, M3_thread_self_real_handle)
{
	apc_handle a = T_POISON_HANDLE, b = T_POISON_HANDLE;
	uint32_t self = apc_thread_id(APC_CURRENT_THREAD);
	uint32_t code = T_POISON;
	uint32_t err = T_POISON;
	apc_handle w;

	t_reset();
	cr_assert_eq(apc_thread_self(&a), 0);
	cr_assert_eq(apc_thread_self(&b), 0);
	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert_neq(a, T_POISON_HANDLE);
	cr_assert_neq(a, APC_CURRENT_THREAD);
	cr_assert_neq(a, b, "each call returns a new handle");
	cr_assert_eq(apc_thread_id(a), self);
	cr_assert_eq(apc_thread_id(b), self);
	cr_assert_eq(apc_thread_exit_code(a, &code), 0);
	cr_assert_eq(code, APC_STILL_ACTIVE);
	cr_assert_eq(apc_wait(a, 0, false, &err), APC_WAIT_TIMEOUT);

	/* Another thread queues to us through the handle. */
	w = t_spawn(thread_queue_to_handle, a);
	cr_assert_eq(t_join(w), 0);
	cr_assert_eq(t_log_len(), 0, "an APC ran outside an alertable wait");
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	t_assert_log_seq(1, 77, self);

	cr_assert_eq(apc_close(a), 0);
	cr_assert_eq(apc_close(b), 0);
	cr_assert_eq(apc_close(a), APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_thread_self(NULL), APC_ERROR_INVALID_PARAMETER);
}

static uint32_t thread_self_exit(void *arg)
{
	_Atomic(apc_handle) *out = arg;
	apc_handle h = NULL;

	if (apc_thread_self(&h) != 0)
		return 1;
	atomic_store(out, h);
	return 0x55;
}

Test(apc_thread, M3_thread_self_handle_outlives_thread)
{
	_Atomic(apc_handle) got = NULL;
	apc_handle w = t_spawn(thread_self_exit, &got);
	uint32_t tid = apc_thread_id(w);
	apc_handle h;

	cr_assert_eq(t_join(w), 0x55);
	h = atomic_load(&got);
	cr_assert_not_null(h);
	cr_assert_eq(apc_thread_id(h), tid);
	cr_assert_eq(t_join(h), 0x55);
}

/* ---- many threads -------------------------------------------------------- */

Test(apc_thread, G11_many_short_threads)
{
	/* Exit codes from CODE0 up: none is STILL_ACTIVE (259). */
	enum { ROUNDS = 50, N = 20, CODE0 = 1000 };
	apc_handle h[N];
	int r, i;

	t_reset();
	for (r = 0; r < ROUNDS; r++) {
		for (i = 0; i < N; i++) {
			h[i] = t_spawn_flags(
				thread_return_arg,
				(void *)(uintptr_t)(CODE0 + r * N + i),
				APC_THREAD_SUSPENDED, NULL);
			cr_assert_eq(apc_queue(h[i], t_apc_count, 0), 0);
			cr_assert_eq(apc_thread_resume(h[i], NULL), 0);
		}
		for (i = 0; i < N; i++)
			cr_assert_eq(t_join(h[i]),
				     (uint32_t)(CODE0 + r * N + i));
	}
	cr_assert_eq(atomic_load(&t_apc_runs), ROUNDS * N);
}

/* ---- C45: every waiter is released, early leavers unlink cleanly --------- */

struct waiter {
	apc_handle object;
	uint32_t ms;
	atomic_uint *started;
};

static uint32_t thread_waiter(void *arg)
{
	struct waiter *w = arg;

	atomic_fetch_add(w->started, 1);
	return apc_wait(w->object, w->ms, (w->ms & 1) != 0, NULL);
}

Test(apc_thread, C45_all_waiters_released_at_exit)
{
	enum { N = 12 };
	atomic_uint gate = 0, started = 0;
	struct waiter w[N];
	apc_handle x = t_spawn(t_thread_gated, &gate);
	apc_handle h[N];
	int i;

	/* Even ones wait long; odd ones time out early and leave the list. */
	for (i = 0; i < N; i++) {
		w[i] = (struct waiter){.object = x,
				       .ms = (i & 1) ? 21u + 10u * (unsigned)i
						     : T_WAIT_MS * 2,
				       .started = &started};
		h[i] = t_spawn(thread_waiter, &w[i]);
	}
	cr_assert(t_spin_until(&started, N, T_WAIT_MS));
	for (i = 1; i < N; i += 2)
		cr_assert_eq(t_join(h[i]), APC_WAIT_TIMEOUT, "waiter %d", i);
	atomic_store(&gate, 1);
	for (i = 0; i < N; i += 2)
		cr_assert_eq(t_join(h[i]), APC_WAIT_OBJECT_0, "waiter %d", i);
	cr_assert_eq(t_join(x), 0);
}
