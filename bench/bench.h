/*
 * apcrt benchmarks: what every bench program shares.
 *
 * Header-only (static inline), so each program is one .c file.  It holds
 * the clock, the command line, the output format, the bookkeeping that the
 * implementations of one scenario share (thread start and join, warm-up,
 * timing, count checks and the result line) and a few Linux primitives
 * (futex, cpu_relax) used by the baselines.  It never includes an apcrt
 * header: the baselines must build without apcrt, and WinPR's names
 * collide with <apc/windows.h>.  The apcrt programs' own helpers are in
 * bench-apc.h.
 *
 * Output: one line per measurement on stdout, nothing else.
 *
 *	RESULT <scenario> <impl> <value> <unit>
 *	NA <scenario> <impl> <reason words...>
 *
 * scenario is self-apc, pingpong or throughput (issue 3 item 8), or one
 * of the dispatcher-object scenarios: sync-event, sync-mutex (one thread,
 * uncontended), event-pingpong (two threads, two auto-reset events) and
 * mutex-contended (BENCH_CROWD threads on one mutex), or timer-p50 and
 * timer-p99 (issue item (d): the median and 99th percentile lateness of
 * a periodic 1 ms timer).  unit is ns/op (smaller is better: one
 * self-APC, one round trip of a ping-pong, one set+wait or
 * acquire+release), Mops/s (bigger is better: messages delivered, or lock
 * acquisitions, per microsecond) or us (smaller is better: microseconds
 * late).  bench/run repeats the programs in interleaved rounds and does
 * the statistics.
 *
 * Command line of every program: [-s SCALE] [-n ITERATIONS].  Each
 * measurement has a built-in iteration count sized for roughly 0.1-1 s
 * on a 2-core VM; -s multiplies it, -n replaces it.  (mutex-contended
 * runs for a time instead: there the count is in milliseconds; the timer
 * programs count firings, about 2 s at scale 1.)  A
 * program that finds a wrong result (an APC count or order mismatch, a
 * lock that let a count go astray) says so on stderr and exits 1.
 *
 * Placement: the two threads of a ping-pong or of a producer/consumer pair
 * call bench_pin(0) and bench_pin(1).  BENCH_PIN=cross (the default) puts
 * them on two different CPUs, so that every implementation pays the same
 * cross-CPU wake-up; BENCH_PIN=same puts both on one CPU (wake-ups become
 * context switches); BENCH_PIN=off leaves placement to the scheduler,
 * which on a small VM flips between the two and makes results bimodal.
 *
 * Windows: the apcrt programs (bench-*.c) also build with mingw-w64 for
 * the Windows backend, and bench/run --wine runs them under Wine.  There
 * this header takes the clock from QueryPerformanceCounter, the CPUs from
 * the process affinity mask, pins with SetThreadAffinityMask and yields
 * with SwitchToThread; the pthread and futex helpers, which only the
 * Linux baselines use, are left out.  Output goes in binary mode (no CR
 * before the LF).  The build defines __USE_MINGW_ANSI_STDIO (bench/
 * meson.build) for the C99 printf formats.
 */
#ifndef APC_BENCH_H
#define APC_BENCH_H

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#include <windows.h>
#else
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#endif

#define BENCH_NS_PER_OP "ns/op"
#define BENCH_MOPS "Mops/s"
#define BENCH_US "us"

#ifdef _WIN32
/* Ticks per second of the performance counter (bench_parse). */
static uint64_t bench_qpc_freq = 1;

/* Nanoseconds on the performance counter (monotonic). */
static inline uint64_t bench_now_ns(void)
{
	const uint64_t f = bench_qpc_freq;
	LARGE_INTEGER c;
	uint64_t t;

	QueryPerformanceCounter(&c);
	t = (uint64_t)c.QuadPart;
	/* (whole seconds, then the rest: no overflow for any frequency) */
	return t / f * 1000000000u + t % f * 1000000000u / f;
}

/* Give up the processor to another ready thread, if any (sched_yield). */
static inline void bench_yield(void)
{
	SwitchToThread();
}
#define BENCH_PRINTF __MINGW_PRINTF_FORMAT
#else
/* Nanoseconds on the monotonic clock. */
static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void bench_yield(void)
{
	sched_yield();
}
#define BENCH_PRINTF printf
#endif

static inline void bench_fail(const char *fmt, ...)
	__attribute__((noreturn, format(BENCH_PRINTF, 1, 2)));

/* Report a wrong result or a failed call, and end the program with 1. */
static inline void bench_fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* The CPUs the process may use, as it started (bench_parse). */
#ifdef _WIN32
static DWORD_PTR bench_cpus;
#else
static cpu_set_t bench_cpus;
#endif

struct bench_args {
	double scale;	/* -s: multiplies the built-in counts */
	uint64_t iters; /* -n: replaces them when not 0 */
};

static inline void bench_usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-s SCALE] [-n ITERATIONS]\n", prog);
	exit(2);
}

static inline struct bench_args bench_parse(int argc, char **argv)
{
	struct bench_args a = {.scale = 1.0, .iters = 0};
	int i;

#ifdef _WIN32
	DWORD_PTR sys_cpus;
	LARGE_INTEGER freq;

	if (QueryPerformanceFrequency(&freq) && freq.QuadPart > 0)
		bench_qpc_freq = (uint64_t)freq.QuadPart;
	if (!GetProcessAffinityMask(GetCurrentProcess(), &bench_cpus,
				    &sys_cpus))
		bench_cpus = 0;
	/* RESULT lines end in LF only, as on Linux. */
	_setmode(_fileno(stdout), _O_BINARY);
#else
	if (sched_getaffinity(0, sizeof(bench_cpus), &bench_cpus) != 0)
		CPU_ZERO(&bench_cpus);
#endif

	for (i = 1; i < argc; i++) {
		char *end = NULL;

		if (i + 1 >= argc)
			bench_usage(argv[0]);
		if (strcmp(argv[i], "-s") == 0) {
			a.scale = strtod(argv[++i], &end);
			if (*end != '\0' || !(a.scale > 0.0) || a.scale > 1e6)
				bench_usage(argv[0]);
		} else if (strcmp(argv[i], "-n") == 0) {
			errno = 0;
			a.iters = strtoull(argv[++i], &end, 10);
			if (*end != '\0' || errno != 0 || a.iters == 0)
				bench_usage(argv[0]);
		} else {
			bench_usage(argv[0]);
		}
	}
	return a;
}

/*
 * Pin the calling thread for its role (0 or 1) in a two-thread
 * measurement, as BENCH_PIN says.  Does nothing with fewer than two
 * usable CPUs.
 */
static inline void bench_pin(int role)
{
	const char *mode = getenv("BENCH_PIN");
	int want, cpu, k = 0;
#ifdef _WIN32
	const int ncpu = (int)(sizeof(bench_cpus) * CHAR_BIT);

	if (mode != NULL && strcmp(mode, "off") == 0)
		return;
	if (__builtin_popcountll((unsigned long long)bench_cpus) < 2)
		return;
	want = mode != NULL && strcmp(mode, "same") == 0 ? 0 : role;
	for (cpu = 0; cpu < ncpu; cpu++) {
		DWORD_PTR bit = (DWORD_PTR)1 << cpu;

		if (!(bench_cpus & bit) || k++ != want)
			continue;
		if (SetThreadAffinityMask(GetCurrentThread(), bit) == 0)
			bench_fail("SetThreadAffinityMask: error %lu",
				   (unsigned long)GetLastError());
		return;
	}
#else
	cpu_set_t set;

	if (mode != NULL && strcmp(mode, "off") == 0)
		return;
	if (CPU_COUNT(&bench_cpus) < 2)
		return;
	want = mode != NULL && strcmp(mode, "same") == 0 ? 0 : role;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &bench_cpus) || k++ != want)
			continue;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0)
			bench_fail("sched_setaffinity: %s", strerror(errno));
		return;
	}
#endif
}

/* The iteration count of one measurement whose built-in count is base. */
static inline uint64_t bench_iters(const struct bench_args *a, uint64_t base)
{
	double n;

	if (a->iters != 0)
		return a->iters;
	n = (double)base * a->scale;
	return n < 1.0 ? 1 : (uint64_t)n;
}

/* Warm-up count that goes with n: a tenth, at least one. */
static inline uint64_t bench_warmup(uint64_t n)
{
	return n / 10 ? n / 10 : 1;
}

static inline void bench_result(const char *scenario, const char *impl,
				double value, const char *unit)
{
	printf("RESULT %s %s %.3f %s\n", scenario, impl, value, unit);
	fflush(stdout);
}

/* ns per operation for n operations that took ns nanoseconds. */
static inline void bench_result_ns(const char *scenario, const char *impl,
				   uint64_t ns, uint64_t n)
{
	bench_result(scenario, impl, (double)ns / (double)n, BENCH_NS_PER_OP);
}

/* Millions of messages per second for n messages in ns nanoseconds. */
static inline void bench_result_mops(const char *scenario, const char *impl,
				     uint64_t ns, uint64_t n)
{
	bench_result(scenario, impl, (double)n * 1e3 / (double)(ns ? ns : 1),
		     BENCH_MOPS);
}

static inline void bench_na(const char *scenario, const char *impl,
			    const char *reason)
{
	printf("NA %s %s %s\n", scenario, impl, reason);
	fflush(stdout);
}

/* ---- checks ---------------------------------------------------------- */

/* Sequence numbers: number got arrived where expected was due. */
static inline void bench_check_seq(const char *who, uint64_t got,
				   uint64_t expected)
{
	if (got != expected)
		bench_fail("%s: got %ju, expected %ju", who, (uintmax_t)got,
			   (uintmax_t)expected);
}

/* A final count: count of what happened, where expected were due. */
static inline void bench_check_count(const char *who, uint64_t count,
				     const char *what, uint64_t expected)
{
	if (count != expected)
		bench_fail("%s: %ju %s, expected %ju", who, (uintmax_t)count,
			   what, (uintmax_t)expected);
}

/* ---- threads (the baselines: Linux only) ----------------------------- */

#ifndef _WIN32

/* A new thread running fn(arg); ends the program if it cannot start. */
static inline pthread_t bench_thread_start(void *(*fn)(void *), void *arg)
{
	pthread_t th;

	if (pthread_create(&th, NULL, fn, arg) != 0)
		bench_fail("pthread_create failed");
	return th;
}

/*
 * Run fa((void *)0) and fb((void *)1) on two new threads (the argument is
 * the role, for bench_pin) and return when both have ended.
 */
static inline void bench_run_pair(void *(*fa)(void *), void *(*fb)(void *))
{
	pthread_t a = bench_thread_start(fa, (void *)(intptr_t)0);
	pthread_t b = bench_thread_start(fb, (void *)(intptr_t)1);

	pthread_join(a, NULL);
	pthread_join(b, NULL);
}
#endif

/* ---- scenario (b): ping-pong ----------------------------------------- */

/*
 * The bookkeeping of a ping-pong between thread A (role 0) and thread B
 * (role 1).  A counts round trips; the clock runs from the end of the
 * warm-up rounds to the end of the last round.  B counts its own turns.
 */
struct bench_pp {
	uint64_t warm, total; /* rounds of warm-up, rounds in all */
	uint64_t rounds;      /* A's count */
	uint64_t seen_b;      /* B's count */
	uint64_t t0, t1;
	atomic_int ready; /* threads at the start line */
};

/* Before the threads start: n timed rounds after a warm-up. */
static inline void bench_pp_init(struct bench_pp *pp, uint64_t n)
{
	atomic_init(&pp->ready, 0);
	pp->warm = bench_warmup(n);
	pp->total = pp->warm + n;
	pp->rounds = 0;
	pp->seen_b = 0;
}

/* First thing in either thread: pin it, then wait for the other one. */
static inline void bench_pp_start(struct bench_pp *pp, int role)
{
	bench_pin(role);
	atomic_fetch_add(&pp->ready, 1);
	while (atomic_load(&pp->ready) < 2)
		bench_yield();
}

/* A, at each round: count and time it.  True after the last round. */
static inline int bench_pp_round(struct bench_pp *pp)
{
	pp->rounds++;
	if (pp->rounds == pp->warm)
		pp->t0 = bench_now_ns();
	if (pp->rounds != pp->total)
		return 0;
	pp->t1 = bench_now_ns();
	return 1;
}

/*
 * After both threads ended: check that A counted every round and B seen_b
 * turns (what names the counts in the message), and print ns per round
 * trip for impl in scenario (pingpong, event-pingpong).
 */
static inline void bench_pp_report_as(const struct bench_pp *pp,
				      const char *scenario, const char *impl,
				      const char *what, uint64_t seen_b)
{
	if (pp->rounds != pp->total || pp->seen_b != seen_b)
		bench_fail("%s %s: %ju/%ju %s, expected %ju/%ju", impl,
			   scenario, (uintmax_t)pp->rounds,
			   (uintmax_t)pp->seen_b, what, (uintmax_t)pp->total,
			   (uintmax_t)seen_b);
	bench_result_ns(scenario, impl, pp->t1 - pp->t0, pp->total - pp->warm);
}

/* bench_pp_report_as for the APC ping-pong. */
static inline void bench_pp_report(const struct bench_pp *pp, const char *impl,
				   const char *what, uint64_t seen_b)
{
	bench_pp_report_as(pp, "pingpong", impl, what, seen_b);
}

/* ---- scenario (c): one-way throughput -------------------------------- */

/*
 * The consumer's side of a one-way throughput measurement; it starts a
 * cache line.  The producer sends messages 0 .. total-1 and keeps its
 * warm-up count and start time in locals (bench_tput_catch_up), so that
 * its loop never reads this line.
 */
struct bench_tput {
	_Alignas(64) atomic_uint_fast64_t done; /* consumer's count */
	uint64_t total;
	uint64_t t1;	 /* when the last message was handled */
	const char *who; /* for messages */
};

static inline void bench_tput_init(struct bench_tput *tp, uint64_t total,
				   const char *who)
{
	atomic_init(&tp->done, 0);
	tp->total = total;
	tp->who = who;
}

/* Consumer: true while messages are still to come. */
static inline int bench_tput_pending(struct bench_tput *tp)
{
	return atomic_load_explicit(&tp->done, memory_order_relaxed) <
	       tp->total;
}

/* Consumer: count message data, which must be the next one in order. */
static inline uint64_t bench_tput_count(struct bench_tput *tp, uint64_t data)
{
	uint64_t c = atomic_load_explicit(&tp->done, memory_order_relaxed);

	bench_check_seq(tp->who, data, c);
	atomic_store_explicit(&tp->done, c + 1, memory_order_release);
	return c + 1;
}

/* Consumer: bench_tput_count, and stop the clock after the last one. */
static inline void bench_tput_deliver(struct bench_tput *tp, uint64_t data)
{
	if (bench_tput_count(tp, data) == tp->total)
		tp->t1 = bench_now_ns();
}

/*
 * Producer, before sending message warm (the first timed one): wait for
 * the consumer to handle the warm-up messages; returns the start time.
 */
static inline uint64_t bench_tput_catch_up(struct bench_tput *tp, uint64_t warm)
{
	while (atomic_load(&tp->done) < warm)
		bench_yield();
	return bench_now_ns();
}

/*
 * After the consumer ended: check that it handled every message (what
 * names them in the message) and print Mops/s for the n timed ones, sent
 * from t0 on, for impl.
 */
static inline void bench_tput_report(struct bench_tput *tp, const char *impl,
				     const char *what, uint64_t t0, uint64_t n)
{
	bench_check_count(tp->who, atomic_load(&tp->done), what, tp->total);
	bench_result_mops("throughput", impl, tp->t1 - t0, n);
}

/* ---- uncontended operations (sync-event, sync-mutex) ---------------- */

/*
 * The loop of an uncontended measurement: for (i = 0; i < total; i++)
 * { bench_loop_tick(&l, i); one operation; } then bench_loop_report().
 * The clock starts after the warm-up operations.
 */
struct bench_loop {
	uint64_t warm, total;
	uint64_t t0;
};

static inline struct bench_loop bench_loop_init(uint64_t n)
{
	struct bench_loop l = {.warm = bench_warmup(n), .t0 = 0};

	l.total = l.warm + n;
	return l;
}

static inline void bench_loop_tick(struct bench_loop *l, uint64_t i)
{
	if (i == l->warm)
		l->t0 = bench_now_ns();
}

/* Stop the clock and print ns per timed operation for impl. */
static inline void bench_loop_report(const struct bench_loop *l,
				     const char *scenario, const char *impl)
{
	bench_result_ns(scenario, impl, bench_now_ns() - l->t0,
			l->total - l->warm);
}

/* ---- many threads on one lock (mutex-contended) ---------------------- */

/* Threads of the contended scenario. */
#define BENCH_CROWD 8

/*
 * The bookkeeping of a contended lock: BENCH_CROWD threads take and
 * release one lock, and increment counter while they hold it, until the
 * main thread says stop.  The threads are not pinned (there are more of
 * them than CPUs).  The clock runs from the moment all of them have
 * started and are let go (bench_crowd_go) to the moment the last one has
 * stopped; the result is acquisitions per microsecond over that time.
 *
 * It runs for a time, not a count, because the acquisitions of a lock
 * that hands itself to the next waiter come at two very different rates:
 * while its threads keep their CPUs (the first few milliseconds of a
 * scheduler time slice) they pass it from one running thread to another,
 * and once one of them is preempted every hand-over waits for a thread to
 * be woken.  A short fixed count sometimes ends inside the first phase.
 */
struct bench_crowd {
	atomic_int ready; /* threads at the start line */
	atomic_int go;
	atomic_int done;	    /* threads stopped */
	atomic_uint_fast64_t total; /* their own counts, summed */
	uint64_t ms;		    /* how long to run */
	uint64_t t0, t1;
	_Alignas(64) atomic_int stop;  /* read by every iteration */
	_Alignas(64) uint64_t counter; /* only under the lock */
};

static inline void bench_crowd_init(struct bench_crowd *c, uint64_t ms)
{
	atomic_init(&c->ready, 0);
	atomic_init(&c->go, 0);
	atomic_init(&c->done, 0);
	atomic_init(&c->total, 0);
	atomic_init(&c->stop, 0);
	c->ms = ms;
	c->counter = 0;
}

/* Each thread, before its first acquisition: wait for the others. */
static inline void bench_crowd_enter(struct bench_crowd *c)
{
	atomic_fetch_add(&c->ready, 1);
	while (!atomic_load(&c->go))
		bench_yield();
}

/* Each thread, before each acquisition: true while it should go on. */
static inline int bench_crowd_running(struct bench_crowd *c)
{
	return !atomic_load_explicit(&c->stop, memory_order_relaxed);
}

/* Each thread, after its last release: n acquisitions it made. */
static inline void bench_crowd_leave(struct bench_crowd *c, uint64_t n)
{
	atomic_fetch_add(&c->total, n);
	if (atomic_fetch_add(&c->done, 1) + 1 == BENCH_CROWD)
		c->t1 = bench_now_ns();
}

/*
 * The main thread, once the threads are created: start the clock, let
 * them run for c->ms milliseconds and tell them to stop.  Then join them.
 */
static inline void bench_crowd_run(struct bench_crowd *c)
{
	while (atomic_load(&c->ready) < BENCH_CROWD)
		bench_yield();
	c->t0 = bench_now_ns();
	atomic_store(&c->go, 1);
#ifdef _WIN32
	Sleep((DWORD)c->ms);
#else
	{
		struct timespec ts = {.tv_sec = (time_t)(c->ms / 1000),
				      .tv_nsec =
					      (long)(c->ms % 1000) * 1000000L};

		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
#endif
	atomic_store(&c->stop, 1);
}

/*
 * After every thread was joined: check the counter against the threads'
 * counts and print millions of acquisitions per second for impl.
 */
static inline void bench_crowd_report(struct bench_crowd *c, const char *impl)
{
	const uint64_t n = atomic_load(&c->total);

	bench_check_count(impl, c->counter, "increments under the lock", n);
	bench_result_mops("mutex-contended", impl, c->t1 - c->t0, n);
}

/* ---- scenario (d): lateness of a periodic timer --------------------- */

/* The period of the timer scenario: 1 ms. */
#define BENCH_TIMER_PERIOD_NS 1000000u

/*
 * The bookkeeping of a periodic timer's lateness.  The timer is armed
 * just after bench_timer_start() read the clock (t0) to expire at
 * t0 + P, t0 + 2P, ... (P = BENCH_TIMER_PERIOD_NS).  Each time its
 * consumer runs -- a completion routine is called, a read of a timerfd
 * returns -- it passes the time it began to bench_timer_tick().  A run
 * is a firing: the count is of runs, not of expiries.
 *
 * A run may stand for several expiries.  At most one completion routine
 * call is pending at a time (apc_timer_set): an expiry while a call is
 * still queued queues nothing, so a thread late by more than a period
 * gets one call for several expiries.  A timerfd read likewise returns a
 * count of several.  The lateness of run k, which began at now_k, is
 * therefore taken from the earliest expiry it answers for: the first one
 * after the previous run began (now_{k-1}; t0 for the first run), every
 * expiry until then having been answered by the runs before.  That
 * expiry can still be to come when the run began (the run answers one
 * that came between the previous run's dequeue or read and its clock
 * reading); then it answers the last expiry at or before now_k.  With
 * B(t) the last period boundary t0 + iP at or before t:
 *
 *	lateness_k = now_k - min(B(now_{k-1}) + P, B(now_k))
 *
 * On time (late by less than a period) this is the distance from the
 * last boundary; a thread held up for several periods is charged the
 * whole delay, not its remainder modulo P.  (Under Wine, which queues a
 * call per expiry, a burst of queued calls is charged one boundary each
 * as long as each is less than a period late.)  The same rule for the
 * completion routine and for timerfd keeps the two comparable.  The
 * FILETIME a completion routine receives is not used: it is on the wall
 * clock, not on this one.
 *
 * The first warm runs are not timed; the result is the nearest-rank p50
 * and p99 of the rest, in microseconds.
 */
struct bench_timer {
	uint64_t t0, prev;    /* armed; when the previous run began */
	uint64_t warm, total; /* runs of warm-up, runs in all */
	uint64_t runs;	      /* so far */
	uint64_t *late;	      /* ns, of the timed runs */
};

/* Before arming: n timed runs after a warm-up. */
static inline void bench_timer_init(struct bench_timer *bt, uint64_t n)
{
	bt->warm = bench_warmup(n);
	bt->total = bt->warm + n;
	bt->runs = 0;
	bt->late = malloc(n * sizeof(*bt->late));
	if (bt->late == NULL)
		bench_fail("out of memory");
}

/* Just before arming the timer: read the clock as t0, and return it. */
static inline uint64_t bench_timer_start(struct bench_timer *bt)
{
	bt->t0 = bench_now_ns();
	bt->prev = bt->t0;
	return bt->t0;
}

/* The last period boundary at or before t (t >= t0). */
static inline uint64_t bench_timer_boundary(const struct bench_timer *bt,
					    uint64_t t)
{
	const uint64_t p = BENCH_TIMER_PERIOD_NS;

	return bt->t0 + (t - bt->t0) / p * p;
}

/* A run that began at now (impl names it in a message). */
static inline void bench_timer_tick(struct bench_timer *bt, uint64_t now,
				    const char *impl)
{
	uint64_t first, last;

	if (now < bt->t0 + BENCH_TIMER_PERIOD_NS)
		bench_fail("%s: fired %ju ns after it was armed, before its "
			   "due time",
			   impl, (uintmax_t)(now - bt->t0));
	/*
	 * Wine queues a call per expiry instead of at most one, and one
	 * alertable wait runs every call queued: calls may come after the
	 * last one counted, in the same wait.
	 */
	if (bt->runs >= bt->total)
		return;
	first = bench_timer_boundary(bt, bt->prev) + BENCH_TIMER_PERIOD_NS;
	last = bench_timer_boundary(bt, now);
	if (bt->runs >= bt->warm)
		bt->late[bt->runs - bt->warm] =
			now - (first < last ? first : last);
	bt->prev = now;
	bt->runs++;
}

/* True once every run was counted. */
static inline int bench_timer_done(const struct bench_timer *bt)
{
	return bt->runs >= bt->total;
}

static inline int bench_timer_cmp(const void *a, const void *b)
{
	const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The nearest-rank q-th percentile of the n sorted values v (n > 0). */
static inline uint64_t bench_timer_pct(const uint64_t *v, uint64_t n,
				       unsigned int q)
{
	uint64_t rank = (n * q + 99) / 100;

	return v[rank ? rank - 1 : 0];
}

/* After the last run: print timer-p50 and timer-p99 for impl. */
static inline void bench_timer_report(struct bench_timer *bt, const char *impl)
{
	const uint64_t n = bt->total - bt->warm;

	bench_check_count(impl, bt->runs, "firings", bt->total);
	qsort(bt->late, (size_t)n, sizeof(*bt->late), bench_timer_cmp);
	bench_result("timer-p50", impl,
		     (double)bench_timer_pct(bt->late, n, 50) / 1e3, BENCH_US);
	bench_result("timer-p99", impl,
		     (double)bench_timer_pct(bt->late, n, 99) / 1e3, BENCH_US);
	free(bt->late);
	bt->late = NULL;
}

/* ---- Linux primitives for the baselines ---------------------------- */

#ifndef _WIN32

static inline void bench_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("pause" ::: "memory");
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

/* FUTEX_WAIT_PRIVATE while *word == val; returns at once otherwise. */
static inline void bench_futex_wait(atomic_uint *word, unsigned int val)
{
	long r = syscall(SYS_futex, (void *)word, FUTEX_WAIT_PRIVATE, val, NULL,
			 NULL, 0);

	if (r != 0 && errno != EAGAIN && errno != EINTR)
		bench_fail("futex wait: %s", strerror(errno));
}

static inline void bench_futex_wake(atomic_uint *word, int n)
{
	if (syscall(SYS_futex, (void *)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL,
		    0) < 0)
		bench_fail("futex wake: %s", strerror(errno));
}
#endif

#endif /* APC_BENCH_H */
