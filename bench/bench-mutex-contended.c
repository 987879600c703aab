/*
 * apcrt, dispatcher objects: BENCH_CROWD (8) threads contending for one
 * mutex.
 *
 * Each thread from apc_thread_create() takes the mutex with apc_wait()
 * (WaitForSingleObject), increments a shared counter and releases it with
 * apc_mutex_release() (ReleaseMutex), over and over, for a fixed time
 * (CROWD_MS; -s scales it, -n replaces it, in milliseconds).  The threads
 * are not pinned.  Prints millions of acquisitions per second over all
 * threads; the counter must equal the acquisitions counted.  Baselines:
 * base-sync (pthread_mutex, a raw futex mutex) and base-winpr.
 */
#include "bench-apc.h"

#define CROWD_MS 300u

static apc_handle mutex;
static struct bench_crowd crowd;

static uint32_t crowd_thread(void *arg)
{
	uint64_t n = 0;

	(void)arg;
	bench_crowd_enter(&crowd);
	while (bench_crowd_running(&crowd)) {
		bench_apc_wait(mutex);
		crowd.counter++;
		bench_apc_mutex_release(mutex);
		n++;
	}
	bench_crowd_leave(&crowd, n);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);
	apc_handle th[BENCH_CROWD];
	int i;

	bench_crowd_init(&crowd, bench_iters(&a, CROWD_MS));
	mutex = bench_apc_mutex();
	for (i = 0; i < BENCH_CROWD; i++)
		th[i] = bench_apc_thread(crowd_thread, NULL);
	bench_crowd_run(&crowd);
	for (i = 0; i < BENCH_CROWD; i++)
		bench_apc_join(th[i], "a thread");
	bench_apc_close(mutex);
	bench_crowd_report(&crowd, "apcrt");
	return 0;
}
