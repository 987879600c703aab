/*
 * Threads apcrt did not create: pthreads adopted on first use of the API,
 * and pthread_exit.  POSIX only (suite posix), public API plus pthreads.
 *
 * Contract: C45, C46, G1, G11 for adopted threads; A19 after their end;
 * M3 (apc_thread_self from any pthread); B27 (signals during waits).
 */
#include <criterion/criterion.h>

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <apc/apc.h>

#include "helpers.h"

TestSuite(thread_posix, .timeout = 60);

struct foreign {
	_Atomic(apc_handle) handle; /* from apc_thread_self, for main */
	atomic_uint tid;
	atomic_uint ready;
	atomic_uint go;
	atomic_uint result;
};

static void *foreign_self(void *arg)
{
	struct foreign *f = arg;
	apc_handle h = T_POISON_HANDLE;
	uint32_t code = T_POISON;
	uint32_t bad = 0;

	if (apc_thread_self(&h) != 0 || h == T_POISON_HANDLE || !h)
		bad |= 1;
	if (apc_thread_id(h) != (uint32_t)gettid())
		bad |= 2;
	if (apc_thread_id(APC_CURRENT_THREAD) != (uint32_t)gettid())
		bad |= 4;
	if (apc_thread_exit_code(h, &code) != 0 || code != APC_STILL_ACTIVE)
		bad |= 8;
	atomic_store(&f->tid, (unsigned int)gettid());
	atomic_store(&f->handle, h);
	atomic_store(&f->ready, 1);
	/* Main queues one APC to us; run it. */
	if (apc_sleep(T_WAIT_MS, true) != APC_WAIT_IO_COMPLETION)
		bad |= 16;
	atomic_store(&f->result, bad);
	return NULL;
}

Test(thread_posix, M3_thread_self_in_foreign_pthread)
{
	struct foreign f = {0};
	uint32_t code = T_POISON;
	uint32_t err = T_POISON;
	pthread_t pt;
	apc_handle h;

	t_reset();
	cr_assert_eq(pthread_create(&pt, NULL, foreign_self, &f), 0);
	cr_assert(t_spin_until(&f.ready, 1, T_WAIT_MS));
	h = atomic_load(&f.handle);
	cr_assert_eq(apc_thread_id(h), atomic_load(&f.tid));
	cr_assert_eq(apc_queue(h, t_apc_log, 9), 0);
	cr_assert_eq(pthread_join(pt, NULL), 0);
	cr_assert_eq(atomic_load(&f.result), 0, "foreign thread saw %#x",
		     atomic_load(&f.result));
	t_assert_log_seq(1, 9, atomic_load(&f.tid));

	/* Ended: the handle is signalled, the queue closed. */
	cr_assert_eq(apc_wait(h, T_WAIT_MS, false, &err), APC_WAIT_OBJECT_0);
	cr_assert_eq(err, T_POISON);
	cr_assert_eq(apc_thread_exit_code(h, &code), 0);
	cr_assert_neq(code, APC_STILL_ACTIVE);
	cr_assert_eq(apc_queue(h, t_apc_log, 10), APC_ERROR_GEN_FAILURE);
	cr_assert_eq(apc_thread_id(h), atomic_load(&f.tid));
	cr_assert_eq(apc_close(h), 0);
}

/* First API use is a queue to itself through the pseudo-handle. */
static void *foreign_queue_self(void *arg)
{
	(void)arg;
	if (apc_queue(APC_CURRENT_THREAD, t_apc_log, 1) != 0)
		return (void *)1;
	if (apc_sleep(0, true) != APC_WAIT_IO_COMPLETION)
		return (void *)2;
	return NULL;
}

Test(thread_posix, A17_foreign_pthread_queues_to_itself)
{
	pthread_t pt;
	void *ret = (void *)3;

	t_reset();
	cr_assert_eq(pthread_create(&pt, NULL, foreign_queue_self, NULL), 0);
	cr_assert_eq(pthread_join(pt, &ret), 0);
	cr_assert_null(ret);
	t_assert_log_seq(1, 1, 0);
	cr_assert_neq(t_log_tid(0), apc_thread_id(APC_CURRENT_THREAD));
}

/* Adopted, gets APCs, never waits: they are discarded at its end (G1). */
static void *foreign_no_wait(void *arg)
{
	struct foreign *f = arg;
	apc_handle h = NULL;

	if (apc_thread_self(&h) != 0)
		return (void *)1;
	atomic_store(&f->handle, h);
	atomic_store(&f->ready, 1);
	if (!t_spin_until(&f->go, 1, T_WAIT_MS))
		return (void *)2;
	return NULL;
}

Test(thread_posix, G1_foreign_pthread_end_discards_apcs)
{
	struct foreign f = {0};
	void *ret = (void *)3;
	pthread_t pt;
	apc_handle h;
	int i;

	t_reset();
	cr_assert_eq(pthread_create(&pt, NULL, foreign_no_wait, &f), 0);
	cr_assert(t_spin_until(&f.ready, 1, T_WAIT_MS));
	h = atomic_load(&f.handle);
	for (i = 0; i < 50; i++)
		cr_assert_eq(apc_queue(h, t_apc_count, 0), 0);
	atomic_store(&f.go, 1);
	cr_assert_eq(pthread_join(pt, &ret), 0);
	cr_assert_null(ret);
	/* The exit code of a pthread is not specified; it has ended. */
	(void)t_join(h);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);
}

/* apc_thread_exit ends a foreign pthread too, with its code. */
static void *foreign_apc_exit(void *arg)
{
	struct foreign *f = arg;
	apc_handle h = NULL;

	if (apc_thread_self(&h) != 0)
		return (void *)1;
	if (apc_queue(APC_CURRENT_THREAD, t_apc_count, 0) != 0)
		return (void *)2;
	atomic_store(&f->handle, h);
	apc_thread_exit(77);
}

Test(thread_posix, C46_G1_apc_thread_exit_in_foreign_pthread)
{
	struct foreign f = {0};
	void *ret = (void *)3;
	pthread_t pt;

	t_reset();
	cr_assert_eq(pthread_create(&pt, NULL, foreign_apc_exit, &f), 0);
	cr_assert_eq(pthread_join(pt, &ret), 0);
	cr_assert_neq(ret, (void *)1);
	cr_assert_neq(ret, (void *)2);
	cr_assert_not_null(atomic_load(&f.handle));
	cr_assert_eq(t_join(atomic_load(&f.handle)), 77);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);
}

/* pthread_exit from a thread apcrt created: it ends, its APCs are lost. */
static uint32_t thread_pthread_exit(void *arg)
{
	(void)arg;
	if (apc_queue(APC_CURRENT_THREAD, t_apc_count, 0) != 0)
		return 1;
	pthread_exit(NULL);
}

Test(thread_posix, G1_pthread_exit_from_apcrt_thread)
{
	apc_handle h;
	uint32_t code;

	t_reset();
	h = t_spawn(thread_pthread_exit, NULL);
	code = t_join(h);
	cr_assert_neq(code, 1);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);
}

/* Many adopted threads come and go (G11: LSan and valgrind check leaks). */
static void *foreign_short(void *arg)
{
	_Atomic(apc_handle) *out = arg;
	apc_handle h = NULL;

	if (apc_thread_self(&h) != 0)
		return (void *)1;
	if (apc_queue(APC_CURRENT_THREAD, t_apc_count, 0) != 0)
		return (void *)2;
	if (apc_sleep(0, true) != APC_WAIT_IO_COMPLETION)
		return (void *)3;
	/* One more, left pending at exit. */
	if (apc_queue(APC_CURRENT_THREAD, t_apc_count, 0) != 0)
		return (void *)4;
	atomic_store(out, h);
	return NULL;
}

Test(thread_posix, G11_many_adopted_threads)
{
	enum { N = 16, ROUNDS = 25 };
	_Atomic(apc_handle) got[N];
	pthread_t pt[N];
	void *ret;
	int r, i;

	t_reset();
	for (r = 0; r < ROUNDS; r++) {
		for (i = 0; i < N; i++) {
			atomic_store(&got[i], NULL);
			cr_assert_eq(pthread_create(&pt[i], NULL, foreign_short,
						    &got[i]),
				     0);
		}
		for (i = 0; i < N; i++) {
			ret = (void *)5;
			cr_assert_eq(pthread_join(pt[i], &ret), 0);
			cr_assert_null(ret, "round %d thread %d: %p", r, i,
				       ret);
			(void)t_join(atomic_load(&got[i]));
		}
	}
	cr_assert_eq(atomic_load(&t_apc_runs), ROUNDS * N);
}

/* Adopted threads that never keep a handle: nothing to close, no leak. */
static void *foreign_anonymous(void *arg)
{
	(void)arg;
	if (apc_queue(APC_CURRENT_THREAD, t_apc_count, 0) != 0)
		return (void *)1;
	if (apc_test_alert() != 0)
		return (void *)2;
	return NULL;
}

Test(thread_posix, G11_adopted_threads_without_handles)
{
	pthread_t pt;
	void *ret;
	int i;

	t_reset();
	for (i = 0; i < 200; i++) {
		ret = (void *)3;
		cr_assert_eq(pthread_create(&pt, NULL, foreign_anonymous, NULL),
			     0);
		cr_assert_eq(pthread_join(pt, &ret), 0);
		cr_assert_null(ret);
	}
	cr_assert_eq(atomic_load(&t_apc_runs), 200);
}

/*
 * G11: pthreads that only produce (queue to others, never adopted) keep
 * no apcrt memory after they end.  Measured with mallinfo2; sanitizer and
 * valgrind allocators may not report, then the test only logs.
 */
static apc_handle producer_target;

static void *foreign_producer(void *arg)
{
	(void)arg;
	return (void *)(uintptr_t)apc_queue(producer_target, t_apc_count, 0);
}

static void run_producers(unsigned int n)
{
	pthread_t pt;
	void *ret;
	unsigned int i;

	for (i = 0; i < n; i++) {
		ret = (void *)1;
		cr_assert_eq(pthread_create(&pt, NULL, foreign_producer, NULL),
			     0);
		cr_assert_eq(pthread_join(pt, &ret), 0);
		cr_assert_null(ret, "apc_queue returned %ju",
			       (uintmax_t)(uintptr_t)ret);
		cr_assert_eq(apc_test_alert(), 0);
	}
}

Test(thread_posix, G11_foreign_producers_keep_no_memory)
{
	enum { WARM = 200, N = 4000 };
	struct mallinfo2 before, after;
	long long growth;

	t_reset();
	cr_assert_eq(apc_thread_self(&producer_target), 0);
	run_producers(WARM);
	before = mallinfo2();
	run_producers(N);
	after = mallinfo2();
	cr_assert_eq(atomic_load(&t_apc_runs), WARM + N);
	cr_assert_eq(apc_close(producer_target), 0);

	growth = (long long)after.uordblks - (long long)before.uordblks;
	cr_log_info("%d producer threads: heap in use %zu -> %zu (%+lld)", N,
		    before.uordblks, after.uordblks, growth);
	if (before.uordblks == 0)
		return; /* the allocator does not report */
	cr_assert_lt(growth, 1024 * 1024,
		     "heap grew by %lld bytes over %d short-lived producer "
		     "threads (%lld per thread)",
		     growth, N, growth / N);
}

/* ---- B27: EINTR is absorbed ---------------------------------------------- */

static void on_sigusr1(int sig)
{
	(void)sig;
}

struct interrupted {
	atomic_uint started;
	atomic_uint done;
	apc_handle object;
	uint32_t result[3];
	double ms[3];
};

static uint32_t thread_interrupted(void *arg)
{
	struct interrupted *w = arg;
	uint64_t t0;

	atomic_store(&w->started, 1);
	t0 = t_now_ns();
	w->result[0] = apc_sleep(200, false);
	w->ms[0] = t_ms_since(t0);
	t0 = t_now_ns();
	w->result[1] = apc_sleep(200, true);
	w->ms[1] = t_ms_since(t0);
	t0 = t_now_ns();
	w->result[2] = apc_wait(w->object, 200, true, NULL);
	w->ms[2] = t_ms_since(t0);
	atomic_store(&w->done, 1);
	return 0;
}

Test(thread_posix, B27_signals_do_not_cut_waits_short)
{
	struct sigaction sa, old;
	struct interrupted w = {0};
	atomic_uint gate = 0;
	apc_handle h, running;
	unsigned int signals = 0;
	int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr1;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: the kernel returns EINTR */
	cr_assert_eq(sigaction(SIGUSR1, &sa, &old), 0);

	running = t_spawn(t_thread_gated, &gate);
	w.object = running;
	h = t_spawn(thread_interrupted, &w);
	cr_assert(t_spin_until(&w.started, 1, T_WAIT_MS));

	/* apc_thread_id is the kernel tid: signal that thread. */
	while (!atomic_load(&w.done) && signals < 1000) {
		cr_assert_eq(syscall(SYS_tgkill, getpid(), apc_thread_id(h),
				     SIGUSR1),
			     0);
		signals++;
		(void)apc_sleep(5, false);
	}
	cr_assert_eq(t_join(h), 0);
	atomic_store(&gate, 1);
	cr_assert_eq(t_join(running), 0);
	cr_assert_eq(sigaction(SIGUSR1, &old, NULL), 0);

	cr_log_info("%u signals sent", signals);
	cr_assert_gt(signals, 3);
	for (i = 0; i < 3; i++)
		cr_assert_geq(w.ms[i], 200.0, "wait %d: %.3f ms", i, w.ms[i]);
	cr_assert_eq(w.result[0], 0);
	cr_assert_eq(w.result[1], 0);
	cr_assert_eq(w.result[2], APC_WAIT_TIMEOUT);
}

/* Creation that cannot get a stack fails cleanly. */
Test(thread_posix, create_fails_cleanly_without_memory)
{
	apc_handle h = T_POISON_HANDLE;
	uint32_t tid = T_POISON;

	cr_assert_eq(apc_thread_create(t_thread_gated, NULL, SIZE_MAX / 2, 0,
				       &h, &tid),
		     APC_ERROR_NOT_ENOUGH_MEMORY);
	cr_assert_null(h);
}
