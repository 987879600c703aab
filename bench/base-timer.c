/*
 * Baseline of scenario (d), no apcrt: a periodic 1 ms timerfd.
 *
 * timerfd_create(CLOCK_MONOTONIC), first expiry absolute at t0 + 1 ms
 * (t0 read just before timerfd_settime), interval 1 ms; the thread
 * loops in a blocking read() and reads the clock as soon as it returns.
 * Each read is a firing, its lateness measured as bench-timer's
 * (bench_timer_tick in bench.h: from the earliest expiry the read
 * answers for).  The expiration counts the reads return are checked
 * against the clock: no expiry may be counted before its due time.
 * Prints timer-p50 and timer-p99 in microseconds for impl timerfd.
 */
#include <sys/timerfd.h>

#include "bench.h"

#define TIMER_FIRINGS 2000u

static struct timespec ns_to_ts(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
			      .tv_nsec = (long)(ns % 1000000000u)};

	return ts;
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);
	struct bench_timer bt;
	struct itimerspec its;
	uint64_t t0, expiries = 0;
	int fd;

	fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (fd < 0)
		bench_fail("timerfd_create: %s", strerror(errno));
	bench_timer_init(&bt, bench_iters(&a, TIMER_FIRINGS));
	t0 = bench_timer_start(&bt);
	its.it_value = ns_to_ts(t0 + BENCH_TIMER_PERIOD_NS);
	its.it_interval = ns_to_ts(BENCH_TIMER_PERIOD_NS);
	if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) != 0)
		bench_fail("timerfd_settime: %s", strerror(errno));
	while (!bench_timer_done(&bt)) {
		uint64_t n, now;
		ssize_t r = read(fd, &n, sizeof(n));

		if (r < 0 && errno == EINTR)
			continue;
		if (r != (ssize_t)sizeof(n))
			bench_fail("timerfd read: %s",
				   r < 0 ? strerror(errno) : "short read");
		now = bench_now_ns();
		bench_timer_tick(&bt, now, "timerfd");
		expiries += n;
		if (n == 0 || t0 + expiries * BENCH_TIMER_PERIOD_NS > now)
			bench_fail("timerfd: %ju expiries by %ju ns after t0",
				   (uintmax_t)expiries, (uintmax_t)(now - t0));
	}
	close(fd);
	bench_timer_report(&bt, "timerfd");
	return 0;
}
