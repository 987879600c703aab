/*
 * Raw futex and pthread baselines of the dispatcher-object scenarios, no
 * apcrt.
 *
 * sync-event futex-event: a raw futex auto-reset event, set then waited
 *	for by one thread.  ns per set+wait.
 * sync-mutex futex-mutex: a raw futex mutex, acquired and released by
 *	one thread.  ns per acquire+release.
 * sync-mutex pthread-mutex: the same with a default pthread_mutex_t.
 * mutex-contended pthread-mutex, mutex-contended futex-mutex: BENCH_CROWD
 *	threads take the lock, increment a shared counter and release it,
 *	over and over for CROWD_MS milliseconds each (bench.h).  Mops/s.
 *
 * The futex objects are the three-state words of Drepper's "Futexes Are
 * Tricky" (mutex 3): what an event or mutex costs with nothing but its
 * atomic fast path and a FUTEX_WAIT/FUTEX_WAKE slow path -- no handles,
 * no owner, no recursion, no multi-object waits.  The event ping-pong's
 * raw futex baseline is base-futex's ping-pong, reused by the table.
 */
#include "bench.h"

#define EVENT_ITERS 20000000u
#define MUTEX_ITERS 20000000u
#define CROWD_MS 300u /* each of the two */

/* ---- a raw futex mutex: 0 free, 1 taken, 2 taken and maybe waiters ---- */

static inline void fmutex_lock(atomic_uint *m)
{
	unsigned int c = 0;

	if (atomic_compare_exchange_strong(m, &c, 1))
		return;
	if (c != 2)
		c = atomic_exchange(m, 2);
	while (c != 0) {
		bench_futex_wait(m, 2);
		c = atomic_exchange(m, 2);
	}
}

static inline void fmutex_unlock(atomic_uint *m)
{
	if (atomic_fetch_sub(m, 1) != 1) {
		atomic_store(m, 0);
		bench_futex_wake(m, 1);
	}
}

/*
 * A raw futex auto-reset event: the same word with signalled in the place
 * of free.  1 signalled, 0 not, 2 not and maybe waiters.  A wait takes
 * the signal as a lock is taken; a set is an unlock that may be repeated
 * (signals do not accumulate).
 */
static inline void fevent_wait(atomic_uint *e)
{
	unsigned int c = 1;

	if (atomic_compare_exchange_strong(e, &c, 0))
		return;
	if (c != 2)
		c = atomic_exchange(e, 2);
	while (c != 1) {
		bench_futex_wait(e, 2);
		c = atomic_exchange(e, 2);
	}
}

static inline void fevent_set(atomic_uint *e)
{
	if (atomic_exchange(e, 1) == 2)
		bench_futex_wake(e, 1);
}

/* ---- uncontended ------------------------------------------------------- */

static void bench_event(uint64_t n)
{
	struct bench_loop l = bench_loop_init(n);
	atomic_uint ev = 0;
	uint64_t i;

	for (i = 0; i < l.total; i++) {
		bench_loop_tick(&l, i);
		fevent_set(&ev);
		fevent_wait(&ev);
	}
	bench_loop_report(&l, "sync-event", "futex-event");
	if (atomic_load(&ev) != 0)
		bench_fail("futex-event: left signalled");
}

static void bench_fmutex(uint64_t n)
{
	struct bench_loop l = bench_loop_init(n);
	atomic_uint m = 0;
	uint64_t i;

	for (i = 0; i < l.total; i++) {
		bench_loop_tick(&l, i);
		fmutex_lock(&m);
		fmutex_unlock(&m);
	}
	bench_loop_report(&l, "sync-mutex", "futex-mutex");
	if (atomic_load(&m) != 0)
		bench_fail("futex-mutex: left taken");
}

static void bench_pmutex(uint64_t n)
{
	struct bench_loop l = bench_loop_init(n);
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	uint64_t i;

	for (i = 0; i < l.total; i++) {
		bench_loop_tick(&l, i);
		if (pthread_mutex_lock(&m) != 0)
			bench_fail("pthread_mutex_lock failed");
		if (pthread_mutex_unlock(&m) != 0)
			bench_fail("pthread_mutex_unlock failed");
	}
	bench_loop_report(&l, "sync-mutex", "pthread-mutex");
	if (pthread_mutex_trylock(&m) != 0)
		bench_fail("pthread-mutex: left taken");
	pthread_mutex_unlock(&m);
}

/* ---- contended --------------------------------------------------------- */

static struct {
	pthread_mutex_t pmutex;
	_Alignas(64) atomic_uint fmutex;
	struct bench_crowd c;
} crowd = {.pmutex = PTHREAD_MUTEX_INITIALIZER};

static void *pmutex_thread(void *arg)
{
	uint64_t n = 0;

	(void)arg;
	bench_crowd_enter(&crowd.c);
	while (bench_crowd_running(&crowd.c)) {
		if (pthread_mutex_lock(&crowd.pmutex) != 0)
			bench_fail("pthread_mutex_lock failed");
		crowd.c.counter++;
		if (pthread_mutex_unlock(&crowd.pmutex) != 0)
			bench_fail("pthread_mutex_unlock failed");
		n++;
	}
	bench_crowd_leave(&crowd.c, n);
	return NULL;
}

static void *fmutex_thread(void *arg)
{
	uint64_t n = 0;

	(void)arg;
	bench_crowd_enter(&crowd.c);
	while (bench_crowd_running(&crowd.c)) {
		fmutex_lock(&crowd.fmutex);
		crowd.c.counter++;
		fmutex_unlock(&crowd.fmutex);
		n++;
	}
	bench_crowd_leave(&crowd.c, n);
	return NULL;
}

static void bench_crowd(void *(*fn)(void *), const char *impl, uint64_t ms)
{
	pthread_t th[BENCH_CROWD];
	int i;

	bench_crowd_init(&crowd.c, ms);
	for (i = 0; i < BENCH_CROWD; i++)
		th[i] = bench_thread_start(fn, NULL);
	bench_crowd_run(&crowd.c);
	for (i = 0; i < BENCH_CROWD; i++)
		pthread_join(th[i], NULL);
	bench_crowd_report(&crowd.c, impl);
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);

	bench_event(bench_iters(&a, EVENT_ITERS));
	bench_fmutex(bench_iters(&a, MUTEX_ITERS));
	bench_pmutex(bench_iters(&a, MUTEX_ITERS));
	atomic_init(&crowd.fmutex, 0);
	bench_crowd(pmutex_thread, "pthread-mutex", bench_iters(&a, CROWD_MS));
	bench_crowd(fmutex_thread, "futex-mutex", bench_iters(&a, CROWD_MS));
	return 0;
}
