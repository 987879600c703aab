/*
 * Handles: pseudo-handles, duplication, closing, stale and forged values,
 * failed waits.
 *
 * Contract: M1-M5, I10 (portable form: apc_wait's error out-parameter).
 */
#include <criterion/criterion.h>

#include <apc/apc.h>

#include "helpers.h"

TestSuite(apc_handle, .timeout = 60);

static uint32_t thread_return_11(void *arg)
{
	(void)arg;
	return 11;
}

/*
 * Handles that never name an object.  Not small multiples of 4 nor
 * negative values: on Windows those may be real or pseudo handles.
 * UINTPTR_MAX / 2 is POSIX only: 64-bit Windows reads only the low 32 bits
 * of a handle ("it is safe to truncate the handle", MS Interprocess
 * Communication Between 32-bit and 64-bit Applications), and those are
 * 0xFFFFFFFF, the process pseudo-handle.
 */
static const uintptr_t forged[] = {
	0,
	1,
	2,
	3,
	0xdeadbeefu,
	0x12345678u,
#ifndef _WIN32
	UINTPTR_MAX / 2,
#endif
};

#define N_FORGED (sizeof(forged) / sizeof(forged[0]))

/* Every call on a handle that names nothing fails with 6 (0 for the id). */
static void assert_dead_handle(apc_handle h)
{
	apc_handle out = T_POISON_HANDLE;
	uint32_t code = T_POISON;
	uint32_t prev = T_POISON;
	uint32_t err = T_POISON;

	cr_assert_eq(apc_queue(h, t_apc_count, 0), APC_ERROR_INVALID_HANDLE,
		     "queue to %p", h);
	cr_assert_eq(apc_wait(h, 0, false, &err), APC_WAIT_FAILED, "wait on %p",
		     h);
	cr_assert_eq(err, APC_ERROR_INVALID_HANDLE);
	err = T_POISON;
	cr_assert_eq(apc_wait(h, 10, true, &err), APC_WAIT_FAILED);
	cr_assert_eq(err, APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_wait(h, 0, false, NULL), APC_WAIT_FAILED);
	cr_assert_eq(apc_thread_exit_code(h, &code), APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_thread_resume(h, &prev), APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_thread_id(h), 0);
	cr_assert_eq(apc_handle_duplicate(h, 0, &out),
		     APC_ERROR_INVALID_HANDLE);
	cr_assert_null(out);
	cr_assert_eq(apc_close(h), APC_ERROR_INVALID_HANDLE, "close %p", h);
}

Test(apc_handle, I10_forged_handles_are_invalid)
{
	unsigned int i;

	t_reset();
	for (i = 0; i < N_FORGED; i++)
		assert_dead_handle((apc_handle)forged[i]);
	cr_assert_eq(apc_sleep(0, true), 0);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);
}

Test(apc_handle, M2_process_pseudo_handle_invalid_outside_duplicate)
{
	apc_handle out = T_POISON_HANDLE;
	uint32_t err = T_POISON;
	uint32_t code = T_POISON;

	/* Not a thread, on both backends (A18: wrong object type). */
	cr_assert_eq(apc_queue(APC_CURRENT_PROCESS, t_apc_count, 0),
		     APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_thread_exit_code(APC_CURRENT_PROCESS, &code),
		     APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_thread_id(APC_CURRENT_PROCESS), 0);
#ifndef _WIN32
	/*
	 * POSIX only: refusing it as a waitable object or a duplication
	 * source is apcrt's half of M2 [apcrt].  On Windows it names the
	 * process, which is waitable (unsignalled while it runs) and can be
	 * duplicated (MS GetCurrentProcess).
	 */
	cr_assert_eq(apc_wait(APC_CURRENT_PROCESS, 0, false, &err),
		     APC_WAIT_FAILED);
	cr_assert_eq(err, APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_handle_duplicate(APC_CURRENT_PROCESS, 0, &out),
		     APC_ERROR_INVALID_HANDLE);
	cr_assert_null(out);
#else
	(void)err;
	(void)out;
#endif
}

Test(apc_handle, I10_wait_error_untouched_unless_failed)
{
	atomic_uint gate = 0;
	apc_handle h = t_spawn(t_thread_gated, &gate);
	uint32_t err = T_POISON;

	cr_assert_eq(apc_wait(h, 0, false, &err), APC_WAIT_TIMEOUT);
	cr_assert_eq(err, T_POISON);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(apc_wait(h, 0, true, &err), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(err, T_POISON);
	atomic_store(&gate, 1);
	cr_assert_eq(apc_wait(h, T_WAIT_MS, false, &err), APC_WAIT_OBJECT_0);
	cr_assert_eq(err, T_POISON);
	cr_assert_eq(apc_close(h), 0);
}

/* ---- M1: the thread pseudo-handle ---------------------------------------- */

Test(apc_handle, M1_close_pseudo_handle_is_a_no_op)
{
	uint32_t code = T_POISON;

	t_reset();
	cr_assert_eq(apc_close(APC_CURRENT_THREAD), 0);
	cr_assert_eq(apc_close(APC_CURRENT_THREAD), 0);
	cr_assert_eq(apc_thread_id(APC_CURRENT_THREAD),
		     apc_thread_id(APC_CURRENT_THREAD));
	cr_assert_neq(apc_thread_id(APC_CURRENT_THREAD), 0);
	cr_assert_eq(apc_thread_exit_code(APC_CURRENT_THREAD, &code), 0);
	cr_assert_eq(code, APC_STILL_ACTIVE);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&t_apc_runs), 1);
}

/* Receives the creator's APC_CURRENT_THREAD value and uses it. */
static uint32_t thread_use_pseudo(void *arg)
{
	apc_handle pseudo = arg;

	if (apc_queue(pseudo, t_apc_log, 21) != 0)
		return 1;
	if (apc_sleep(0, true) != APC_WAIT_IO_COMPLETION)
		return 2;
	return 0;
}

Test(apc_handle, M1_pseudo_handle_names_the_thread_using_it)
{
	uint32_t tid = 0;
	apc_handle h;

	t_reset();
	h = t_spawn_flags(thread_use_pseudo, APC_CURRENT_THREAD, 0, &tid);
	cr_assert_eq(t_join(h), 0);
	t_assert_log_seq(1, 21, tid);
	cr_assert_eq(apc_sleep(0, true), 0, "the APC was queued to main");
}

/* ---- M3: duplicating the pseudo-handle ----------------------------------- */

struct m3_worker {
	apc_handle main_real;
	uint32_t code_seen;
	uint32_t wait_seen;
	uint32_t id_seen;
};

static uint32_t thread_m3(void *arg)
{
	struct m3_worker *w = arg;

	w->id_seen = apc_thread_id(w->main_real);
	w->wait_seen = apc_wait(w->main_real, 0, false, NULL);
	if (apc_thread_exit_code(w->main_real, &w->code_seen) != 0)
		return 1;
	return apc_queue(w->main_real, t_apc_log, 31);
}

Test(apc_handle, M3_duplicate_of_pseudo_handle_is_a_real_handle)
{
	struct m3_worker w = {.code_seen = T_POISON,
			      .wait_seen = T_POISON,
			      .id_seen = T_POISON};
	uint32_t self = apc_thread_id(APC_CURRENT_THREAD);
	apc_handle dup = T_POISON_HANDLE;
	apc_handle h;

	t_reset();
	cr_assert_eq(apc_handle_duplicate(APC_CURRENT_THREAD, 0, &dup), 0);
	cr_assert_not_null(dup);
	cr_assert_neq(dup, T_POISON_HANDLE);
	cr_assert_neq(dup, APC_CURRENT_THREAD);
	cr_assert_eq(apc_thread_id(dup), self);

	w.main_real = dup;
	h = t_spawn(thread_m3, &w);
	cr_assert_eq(t_join(h), 0);
	cr_assert_eq(w.id_seen, self);
	cr_assert_eq(w.wait_seen, APC_WAIT_TIMEOUT);
	cr_assert_eq(w.code_seen, APC_STILL_ACTIVE);

	cr_assert_eq(t_log_len(), 0);
	cr_assert_eq(apc_sleep(T_WAIT_MS, true), APC_WAIT_IO_COMPLETION);
	t_assert_log_seq(1, 31, self);
	cr_assert_eq(apc_close(dup), 0);
	cr_assert_eq(apc_close(dup), APC_ERROR_INVALID_HANDLE);
}

static uint32_t thread_dup_self(void *arg)
{
	_Atomic(apc_handle) *out = arg;
	apc_handle h = NULL;

	if (apc_handle_duplicate(APC_CURRENT_THREAD, APC_DUPLICATE_SAME_ACCESS,
				 &h) != 0)
		return 1;
	atomic_store(out, h);
	return 5;
}

Test(apc_handle, M3_duplicate_waits_for_the_thread_exit)
{
	_Atomic(apc_handle) got = NULL;
	uint32_t tid = 0;
	apc_handle h = t_spawn_flags(thread_dup_self, &got, 0, &tid);
	apc_handle d;

	cr_assert_eq(t_join(h), 5);
	d = atomic_load(&got);
	cr_assert_not_null(d);
	cr_assert_eq(apc_thread_id(d), tid);
	cr_assert_eq(apc_queue(d, t_apc_count, 0), APC_ERROR_GEN_FAILURE);
	cr_assert_eq(t_join(d), 5);
}

/* ---- M4: duplicates name the same object --------------------------------- */

Test(apc_handle, M4_duplicate_names_same_object)
{
	atomic_uint gate = 0;
	uint32_t tid = 0;
	/* Running: its APCs cannot run at its start (A12). */
	apc_handle h = t_spawn_gated(&gate, &tid);
	apc_handle d = T_POISON_HANDLE;
	uint32_t code = T_POISON;

	t_reset();
	cr_assert_eq(apc_handle_duplicate(h, 0, &d), 0);
	cr_assert_not_null(d);
	cr_assert_neq(d, h);
	cr_assert_eq(apc_thread_id(d), tid);

	/* Closing the source leaves the duplicate fully usable. */
	cr_assert_eq(apc_close(h), 0);
	cr_assert_eq(apc_close(h), APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_thread_id(d), tid);
	cr_assert_eq(apc_thread_exit_code(d, &code), 0);
	cr_assert_eq(code, APC_STILL_ACTIVE);
	cr_assert_eq(apc_wait(d, 0, false, NULL), APC_WAIT_TIMEOUT);
	cr_assert_eq(apc_queue(d, t_apc_count, 0), 0);

	atomic_store(&gate, 1);
	cr_assert_eq(t_wait_exit(d), 0);
	cr_assert_eq(atomic_load(&t_apc_runs), 0); /* discarded (G1) */
	cr_assert_eq(apc_close(d), 0);
	cr_assert_eq(apc_close(d), APC_ERROR_INVALID_HANDLE);
}

Test(apc_handle, M4_each_duplicate_is_a_distinct_value)
{
	enum { N = 32 };
	apc_handle h = t_spawn(thread_return_11, NULL);
	apc_handle d[N];
	int i, j;

	for (i = 0; i < N; i++) {
		d[i] = T_POISON_HANDLE;
		/* Alternate sources: the thread handle and earlier copies. */
		cr_assert_eq(apc_handle_duplicate(i ? d[i / 2] : h,
						  APC_DUPLICATE_SAME_ACCESS,
						  &d[i]),
			     0);
		cr_assert_not_null(d[i]);
		cr_assert_neq(d[i], T_POISON_HANDLE);
		cr_assert_neq(d[i], h);
		for (j = 0; j < i; j++)
			cr_assert_neq(d[i], d[j]);
	}
	cr_assert_eq(t_join(h), 11);
	/* Every copy sees the ended thread. */
	for (i = 0; i < N; i++)
		cr_assert_eq(t_join(d[i]), 11);
}

/* ---- M5: DUPLICATE_CLOSE_SOURCE, bad arguments --------------------------- */

/*
 * After a duplication with DUPLICATE_CLOSE_SOURCE, does the source's value
 * name nothing?  On POSIX always: apcrt never gives a closed value to a
 * new handle (generations), so the duplicate has another value and the
 * source's is dead.  On Windows only when the duplicate got another value:
 * a closed value may name the next handle created, and the duplicate
 * itself may take the source's value (Wine's server reuses the source's
 * entry in place; Microsoft documents no handle values, only that the
 * source is closed, MS DuplicateHandle).
 */
static bool close_source_value_dead(apc_handle src, apc_handle dup)
{
#ifdef _WIN32
	return dup != src;
#else
	cr_assert_neq(dup, src, "apcrt reused a closed value");
	return true;
#endif
}

Test(apc_handle, M5_close_source)
{
	apc_handle h = t_spawn(thread_return_11, NULL);
	apc_handle d = T_POISON_HANDLE;
	uint32_t code = T_POISON;

	cr_assert_eq(apc_handle_duplicate(h, APC_DUPLICATE_CLOSE_SOURCE, &d),
		     0);
	cr_assert_not_null(d);
	cr_assert_neq(d, T_POISON_HANDLE);
	/* The source is gone (see close_source_value_dead). */
	if (close_source_value_dead(h, d)) {
		cr_assert_eq(apc_thread_exit_code(h, &code),
			     APC_ERROR_INVALID_HANDLE);
		cr_assert_eq(apc_close(h), APC_ERROR_INVALID_HANDLE);
	}
	/* The duplicate works. */
	cr_assert_eq(t_join(d), 11);

	/* Both options together. */
	h = t_spawn(thread_return_11, NULL);
	d = T_POISON_HANDLE;
	cr_assert_eq(apc_handle_duplicate(h,
					  APC_DUPLICATE_CLOSE_SOURCE |
						  APC_DUPLICATE_SAME_ACCESS,
					  &d),
		     0);
	if (close_source_value_dead(h, d))
		cr_assert_eq(apc_close(h), APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(t_join(d), 11);
}

Test(apc_handle, M5_invalid_source)
{
	apc_handle d = T_POISON_HANDLE;
	apc_handle h = t_spawn(thread_return_11, NULL);

	cr_assert_eq(t_join(h), 11);
	cr_assert_eq(apc_handle_duplicate(h, 0, &d), APC_ERROR_INVALID_HANDLE);
	cr_assert_null(d);
	d = T_POISON_HANDLE;
	cr_assert_eq(apc_handle_duplicate(h, APC_DUPLICATE_CLOSE_SOURCE, &d),
		     APC_ERROR_INVALID_HANDLE);
	cr_assert_null(d);
	d = T_POISON_HANDLE;
	cr_assert_eq(apc_handle_duplicate(NULL, 0, &d),
		     APC_ERROR_INVALID_HANDLE);
	cr_assert_null(d);
}

Test(apc_handle, M5_bad_parameters)
{
	apc_handle h = t_spawn(thread_return_11, NULL);
	apc_handle d = T_POISON_HANDLE;

	cr_assert_eq(apc_handle_duplicate(h, 0, NULL),
		     APC_ERROR_INVALID_PARAMETER);
	cr_assert_eq(apc_handle_duplicate(h, 0x4u, &d),
		     APC_ERROR_INVALID_PARAMETER);
	cr_assert_null(d);
	d = T_POISON_HANDLE;
	cr_assert_eq(apc_handle_duplicate(h, 0x80000000u, &d),
		     APC_ERROR_INVALID_PARAMETER);
	cr_assert_null(d);
	/* h is still open. */
	cr_assert_eq(t_join(h), 11);
}

/* ---- closed and stale handles -------------------------------------------- */

Test(apc_handle, M4_close_twice_fails)
{
	apc_handle h = t_spawn(thread_return_11, NULL);

	cr_assert_eq(t_wait_exit(h), 11);
	cr_assert_eq(apc_close(h), 0);
	cr_assert_eq(apc_close(h), APC_ERROR_INVALID_HANDLE);
	assert_dead_handle(h);
}

/*
 * Skipped on Windows: that a closed handle's value never names a later
 * object is apcrt's (its handles carry a generation).  Windows reuses a
 * closed handle's value for the next handle it creates.
 */
Test(apc_handle, M5_stale_handles_never_reach_a_new_object)
{
#ifdef _WIN32
	cr_skip_test("apcrt only: Windows reuses closed handle values");
#else
	enum { ROUNDS = 200 };
	apc_handle stale[ROUNDS];
	apc_handle live;
	int i, j;

	for (i = 0; i < ROUNDS; i++) {
		stale[i] = t_spawn(thread_return_11, NULL);
		cr_assert_eq(t_join(stale[i]), 11);
	}
	/* New handles probably reuse the slots; old values stay dead. */
	live = t_spawn(thread_return_11, NULL);
	for (i = 0; i < ROUNDS; i++) {
		cr_assert_neq(stale[i], live);
		assert_dead_handle(stale[i]);
	}
	/* The live one was not closed by any of that. */
	cr_assert_eq(apc_thread_id(live) != 0, true);
	cr_assert_eq(t_join(live), 11);

	/* Same with duplicates made and closed in a loop. */
	live = t_spawn(thread_return_11, NULL);
	for (i = 0; i < ROUNDS; i++) {
		apc_handle d = T_POISON_HANDLE;

		cr_assert_eq(apc_handle_duplicate(live, 0, &d), 0);
		stale[i] = d;
		cr_assert_eq(apc_close(d), 0);
		for (j = 0; j <= i; j++)
			cr_assert_eq(apc_close(stale[j]),
				     APC_ERROR_INVALID_HANDLE);
	}
	cr_assert_eq(t_join(live), 11);
#endif
}

/* ---- the object outlives its last handle while the thread runs ----------- */

struct orphan {
	atomic_uint gate;
	atomic_uint done;
};

static uint32_t thread_orphan(void *arg)
{
	struct orphan *o = arg;

	if (t_thread_gated(&o->gate) != 0)
		return 1;
	/* Use its own object after every handle to it is gone. */
	if (apc_queue(APC_CURRENT_THREAD, t_apc_count, 0) != 0 ||
	    apc_sleep(0, true) != APC_WAIT_IO_COMPLETION)
		return 2;
	atomic_store(&o->done, 1);
	return 0;
}

Test(apc_handle, M4_closing_the_last_handle_of_a_running_thread)
{
	struct orphan o = {0};
	apc_handle h;

	t_reset();
	h = t_spawn(thread_orphan, &o);
	cr_assert_eq(apc_close(h), 0);
	assert_dead_handle(h);
	atomic_store(&o.gate, 1);
	cr_assert(t_spin_until(&o.done, 1, T_WAIT_MS));
	cr_assert_eq(atomic_load(&t_apc_runs), 1);
}

/* ---- concurrent duplicate/close, with stale handles hammered ------------- */

struct dup_worker {
	apc_handle src;
	uint32_t tid;
	apc_handle stale;
};

static uint32_t thread_dup_close(void *arg)
{
	struct dup_worker *w = arg;
	uint32_t bad = 0;
	unsigned int i;

	for (i = 0; i < 5000; i++) {
		apc_handle d = NULL;

		if (apc_handle_duplicate(w->src, 0, &d) != 0) {
			bad++;
			continue;
		}
		if (apc_thread_id(d) != w->tid)
			bad++;
		if (apc_close(d) != 0)
			bad++;
#ifndef _WIN32
		/*
		 * POSIX only: a closed or stale value stays dead (apcrt's
		 * generations).  On Windows another worker's duplicate may
		 * take the value at once, and closing it again would close
		 * that worker's handle.
		 */
		if (apc_close(d) != APC_ERROR_INVALID_HANDLE)
			bad++;
		if (apc_thread_id(w->stale) != 0 ||
		    apc_close(w->stale) != APC_ERROR_INVALID_HANDLE)
			bad++;
#endif
	}
	return bad;
}

Test(apc_handle, M4_concurrent_duplicate_and_close)
{
	enum { N = 4 };
	atomic_uint gate = 0;
	struct dup_worker w[N];
	apc_handle h[N];
	apc_handle target, stale;
	uint32_t tid = 0;
	int i;

	target = t_spawn_flags(t_thread_gated, &gate, 0, &tid);
	stale = t_spawn(thread_return_11, NULL);
	cr_assert_eq(t_join(stale), 11);
	for (i = 0; i < N; i++) {
		w[i] = (struct dup_worker){
			.src = target, .tid = tid, .stale = stale};
		h[i] = t_spawn(thread_dup_close, &w[i]);
	}
	for (i = 0; i < N; i++)
		cr_assert_eq(t_join(h[i]), 0, "worker %d", i);
	atomic_store(&gate, 1);
	cr_assert_eq(t_join(target), 0);
}
