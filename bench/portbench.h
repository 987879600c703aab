/*
 * apcrt benchmarks: the bookkeeping of the completion-port scenario
 * (issue 6): packets posted by one thread and dequeued by PB_WORKERS
 * worker threads, in packets per microsecond (Mops/s).  bench-port
 * measures apcrt's port (apc_port_post, apc_port_get); base-port the
 * queues a POSIX programmer writes by hand.
 *
 * The poster posts packets 0, 1, ... (pb_packet: bytes, key and
 * overlapped pointer all derived from the number) for a time, then one
 * quit packet per worker (key PB_KEY_QUIT, ov NULL).  Each worker
 * dequeues one packet at a time and hands it to pb_take, which checks it:
 * a packet's three values must agree, and the numbers one worker sees
 * must increase (the port is FIFO); at the end every number must have
 * been seen exactly once (a count and a hashed sum).
 *
 * The clock (pb_posting, which the poster calls before each post, reads
 * it every PB_TICK posts): PB_WARM_MS of warm-up, after which the poster
 * waits for the warm-up packets to be dequeued and starts the clock with
 * the queue empty; then PB_RUN_MS of posting (both times -s SCALE; -n N
 * replaces PB_RUN_MS by N ms).  The clock stops when the first quit
 * packet is dequeued: the port is FIFO, so every numbered packet was
 * dequeued before it.  The result is the numbered packets posted after
 * the warm-up over that time.  The backlog is bounded: a poster more than
 * PB_WINDOW packets ahead of the workers yields until it is half that
 * (never starving them), so that a fast poster does not fill memory, and
 * the result is the rate of the slower side.
 *
 * Placement (BENCH_PIN, bench.h): pb_wait_workers pins the poster as role
 * 0 and pb_worker_enter each worker as role 1 (with PB_WORKERS + 1 CPUs
 * or more, worker w as role 1 + w).  So with the default (cross) on a
 * 2-CPU machine the poster has a CPU and the two workers share the other:
 * the workers are the slower side, packets queue up, and the measurement
 * is the cost of posting and dequeuing rather than of waking sleepers.
 * Left to the scheduler (BENCH_PIN=off), a hand-written queue flips
 * between that and a regime where every post wakes a sleeping worker,
 * 20 times slower, from one run to the next.
 *
 * Output:	RESULT port-tput <impl> <packets per microsecond> Mops/s
 *
 * Use:
 *	struct pb pb;
 *	pb_init(&pb, &args, "impl");
 *	start PB_WORKERS threads, worker w (0, 1) running
 *		pb_worker_enter(&pb, w);
 *		for (;;) { dequeue one packet (bytes, key, ov);
 *			   if (!pb_take(&pb.w[w], bytes, key, ov)) break; }
 *	in the posting thread:
 *		pb_wait_workers(&pb);
 *		for (i = 0; pb_posting(&pb, i); i++) {
 *			pb_packet(i, &bytes, &key, &ov); post them;
 *		}
 *		post PB_WORKERS times (0, PB_KEY_QUIT, NULL);
 *	join the workers; pb_report(&pb);
 *
 * Portable (bench.h's clock, yield and pinning only): the apcrt program
 * makes its threads with apcrt.
 */
#ifndef APC_BENCH_PORTBENCH_H
#define APC_BENCH_PORTBENCH_H

#include "bench.h"

#define PB_WORKERS 2

/* Milliseconds of posting at scale 1, and of warm-up before. */
#define PB_RUN_MS 500u
#define PB_WARM_MS 50u

/* Read the clock every PB_TICK posts; at most PB_WINDOW posts queued. */
#define PB_TICK 256u
#define PB_WINDOW 65536u

/* The key of the packet that tells a worker to stop. */
#define PB_KEY_QUIT ((uintptr_t)0)

/* What the packets' overlapped pointers point to (never dereferenced). */
static _Alignas(64) unsigned char pb_ovs[4][64];

struct pb_worker {
	_Alignas(64) atomic_uint_fast64_t count; /* numbered packets taken */
	uint64_t next;	 /* lowest number still allowed */
	uint64_t sum;	 /* of pb_hash(number) */
	uint64_t t_quit; /* its quit packet dequeued */
	int id;
	const char *impl;
};

struct pb {
	const char *impl;
	uint64_t warm_ns, run_ns;
	uint64_t warm, total; /* numbered packets: warm-up, in all */
	uint64_t t_start, t0;
	int timed;	  /* past the warm-up */
	atomic_int ready; /* workers at the start line */
	struct pb_worker w[PB_WORKERS];
};

static inline uint64_t pb_hash(uint64_t x)
{
	x += 0x9e3779b97f4a7c15u;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

/* Before the workers start. */
static inline void pb_init(struct pb *pb, const struct bench_args *a,
			   const char *impl)
{
	double run_ms = a->iters ? (double)a->iters : PB_RUN_MS * a->scale;
	int w;

	memset(pb, 0, sizeof(*pb));
	pb->impl = impl;
	pb->run_ns = (uint64_t)(run_ms * 1e6);
	pb->warm_ns = (uint64_t)(PB_WARM_MS * a->scale * 1e6);
	atomic_init(&pb->ready, 0);
	for (w = 0; w < PB_WORKERS; w++) {
		atomic_init(&pb->w[w].count, 0);
		pb->w[w].id = w;
		pb->w[w].impl = impl;
	}
}

/* The values of numbered packet i. */
static inline void pb_packet(uint64_t i, uint32_t *bytes, uintptr_t *key,
			     void **ov)
{
	*bytes = (uint32_t)pb_hash(i);
	*key = (uintptr_t)(i + 1);
	*ov = pb_ovs[i % 4];
}

/* Usable CPUs (bench_parse). */
static inline int pb_ncpus(void)
{
#ifdef _WIN32
	return __builtin_popcountll((unsigned long long)bench_cpus);
#else
	return CPU_COUNT(&bench_cpus);
#endif
}

/* Worker w (0 .. PB_WORKERS - 1), before its first dequeue. */
static inline void pb_worker_enter(struct pb *pb, int w)
{
	bench_pin(pb_ncpus() > PB_WORKERS ? 1 + w : 1);
	atomic_fetch_add(&pb->ready, 1);
}

/*
 * A worker, for each packet it dequeued: checks it and counts it; false
 * for the quit packet (then the worker stops dequeuing).
 */
static inline int pb_take(struct pb_worker *w, uint32_t bytes, uintptr_t key,
			  void *ov)
{
	uint64_t i, c;

	if (key == PB_KEY_QUIT) {
		w->t_quit = bench_now_ns();
		if (bytes != 0 || ov != NULL)
			bench_fail("%s: worker %d: quit packet %u %p", w->impl,
				   w->id, bytes, ov);
		return 0;
	}
	i = (uint64_t)key - 1;
	if (bytes != (uint32_t)pb_hash(i) || ov != (void *)pb_ovs[i % 4])
		bench_fail("%s: worker %d: packet %ju has bytes %u, ov %p",
			   w->impl, w->id, (uintmax_t)i, bytes, ov);
	if (i < w->next)
		bench_fail("%s: worker %d: packet %ju after %ju (not FIFO)",
			   w->impl, w->id, (uintmax_t)i,
			   (uintmax_t)w->next - 1);
	w->next = i + 1;
	w->sum += pb_hash(i);
	c = atomic_load_explicit(&w->count, memory_order_relaxed);
	atomic_store_explicit(&w->count, c + 1, memory_order_release);
	return 1;
}

/* The poster, before its first post: wait for the workers. */
static inline void pb_wait_workers(struct pb *pb)
{
	bench_pin(0);
	while (atomic_load(&pb->ready) < PB_WORKERS)
		bench_yield();
}

/* Numbered packets the workers have taken so far. */
static inline uint64_t pb_taken(struct pb *pb)
{
	uint64_t n = 0;
	int w;

	for (w = 0; w < PB_WORKERS; w++)
		n += atomic_load(&pb->w[w].count);
	return n;
}

/*
 * The poster, before posting packet i (i = 0, 1, ...): true if it is to
 * be posted; false when the time is up (then post the quit packets).
 */
static inline int pb_posting(struct pb *pb, uint64_t i)
{
	uint64_t now;

	if (i % PB_TICK != 0)
		return 1;
	if (i - pb_taken(pb) > PB_WINDOW)
		while (i - pb_taken(pb) > PB_WINDOW / 2)
			bench_yield();
	now = bench_now_ns();
	if (i == 0) {
		pb->t_start = now;
		return 1;
	}
	if (!pb->timed) {
		if (now - pb->t_start < pb->warm_ns)
			return 1;
		/* The warm-up dequeued: the clock starts on an empty port. */
		while (pb_taken(pb) < i)
			bench_yield();
		pb->warm = i;
		pb->timed = 1;
		pb->t0 = bench_now_ns();
		return 1;
	}
	if (now - pb->t0 < pb->run_ns)
		return 1;
	pb->total = i;
	return 0;
}

/* After the workers were joined: check, and print port-tput for impl. */
static inline void pb_report(struct pb *pb)
{
	uint64_t sum = 0, want = 0, i, t1 = 0;
	int w;

	if (pb->total == 0)
		bench_fail("%s: pb_report before pb_posting ended", pb->impl);
	bench_check_count(pb->impl, pb_taken(pb), "packets dequeued",
			  pb->total);
	for (i = 0; i < pb->total; i++)
		want += pb_hash(i);
	for (w = 0; w < PB_WORKERS; w++) {
		sum += pb->w[w].sum;
		if (pb->w[w].t_quit == 0)
			bench_fail("%s: worker %d got no quit packet", pb->impl,
				   w);
		if (t1 == 0 || pb->w[w].t_quit < t1)
			t1 = pb->w[w].t_quit;
	}
	if (sum != want)
		bench_fail("%s: packets lost or seen twice", pb->impl);
	bench_result_mops("port-tput", pb->impl, t1 - pb->t0,
			  pb->total - pb->warm);
}

#endif /* APC_BENCH_PORTBENCH_H */
