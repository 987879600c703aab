/*
 * Floors made of the bare MPSC queue of mpsc.h, no apcrt.
 *
 * self-apc mpsc: push one node onto the caller's own queue, pop it, call
 *	its function -- what a self-APC costs with no allocation, no handle
 *	and no wait call around it.  The target of issue 3 item 8(a) is
 *	apcrt <= 3x this.
 * self-apc mpsc-malloc: the same with malloc/free of the node, to show
 *	how much of apcrt's cost is the allocator (not a target).
 * throughput mpsc-futex: one producer thread pushes preallocated nodes to
 *	a consumer thread that pops them, and sleeps on a futex only when the
 *	queue is empty; the producer does FUTEX_WAKE only when the consumer
 *	has published "asleep" and its compare-and-swap took the wake.  The
 *	target of 8(c) is apcrt >= 0.5x this.
 * throughput mpsc-futex-malloc: the same, the producer mallocs each node
 *	and the consumer frees it (not a target).
 */
#include "bench.h"
#include "mpsc.h"

#define SELF_ITERS 20000000u
#define SELF_MALLOC_ITERS 10000000u
#define TPUT_ITERS 2000000u

enum { DB_RUNNING = 0, DB_ASLEEP = 1 };

static uint64_t self_count;

static __attribute__((noinline)) void self_fn(struct mpsc_node *n)
{
	bench_check_seq("mpsc self", n->data, self_count);
	self_count++;
}

static void run_one_self(struct mpsc *q, struct mpsc_node *n, uint64_t i)
{
	struct mpsc_node *got;

	n->fn = self_fn;
	n->data = (uintptr_t)i;
	mpsc_push(q, n);
	got = mpsc_pop(q);
	if (got == NULL)
		bench_fail("mpsc self: pop found nothing");
	got->fn(got);
}

static void bench_self(uint64_t n, int use_malloc)
{
	static struct mpsc q;
	struct mpsc_node fixed;
	uint64_t warm = bench_warmup(n), i, t0 = 0, t1;

	mpsc_init(&q);
	self_count = 0;
	for (i = 0; i < warm + n; i++) {
		struct mpsc_node *node = &fixed;

		if (i == warm)
			t0 = bench_now_ns();
		if (use_malloc) {
			node = malloc(sizeof(*node));
			if (node == NULL)
				bench_fail("out of memory");
		}
		run_one_self(&q, node, i);
		if (use_malloc)
			free(node);
	}
	t1 = bench_now_ns();
	bench_check_count("mpsc self", self_count, "APCs ran", warm + n);
	if (!mpsc_empty(&q))
		bench_fail("mpsc self: queue not empty at the end");
	bench_result_ns("self-apc", use_malloc ? "mpsc-malloc" : "mpsc",
			t1 - t0, n);
}

/* ---- one-way throughput ---------------------------------------------- */

struct tput {
	struct mpsc q;
	_Alignas(64) atomic_uint state; /* DB_RUNNING / DB_ASLEEP */
	struct bench_tput b;
	int use_malloc;
};

static struct tput tp;

static void tput_fn(struct mpsc_node *n)
{
	bench_tput_deliver(&tp.b, n->data);
}

static void *tput_consumer(void *arg)
{
	(void)arg;
	bench_pin(1);
	while (bench_tput_pending(&tp.b)) {
		struct mpsc_node *n = mpsc_pop(&tp.q);

		if (n != NULL) {
			n->fn(n);
			if (tp.use_malloc)
				free(n);
			continue;
		}
		if (!mpsc_empty(&tp.q)) {
			bench_cpu_relax(); /* a push is half done */
			continue;
		}
		atomic_store(&tp.state, DB_ASLEEP);
		if (!mpsc_empty(&tp.q)) {
			unsigned int e = DB_ASLEEP;

			atomic_compare_exchange_strong(&tp.state, &e,
						       DB_RUNNING);
			continue;
		}
		bench_futex_wait(&tp.state, DB_ASLEEP);
		atomic_store(&tp.state, DB_RUNNING);
	}
	return NULL;
}

static void tput_push(struct mpsc_node *n)
{
	unsigned int e = DB_ASLEEP;

	mpsc_push(&tp.q, n);
	if (atomic_load(&tp.state) == DB_ASLEEP &&
	    atomic_compare_exchange_strong(&tp.state, &e, DB_RUNNING)) {
		bench_futex_wake(&tp.state, 1);
	}
}

static void bench_tput(uint64_t n, int use_malloc)
{
	uint64_t warm = bench_warmup(n), i, t0 = 0;
	struct mpsc_node *nodes = NULL;
	pthread_t th;

	mpsc_init(&tp.q);
	atomic_init(&tp.state, DB_RUNNING);
	bench_tput_init(&tp.b, warm + n, "mpsc-futex");
	tp.use_malloc = use_malloc;
	if (!use_malloc) {
		nodes = calloc(warm + n, sizeof(*nodes));
		if (nodes == NULL)
			bench_fail("out of memory");
	}
	th = bench_thread_start(tput_consumer, NULL);
	bench_pin(0);
	for (i = 0; i < warm + n; i++) {
		struct mpsc_node *node;

		if (i == warm)
			t0 = bench_tput_catch_up(&tp.b, warm);
		node = use_malloc ? malloc(sizeof(*node)) : &nodes[i];
		if (node == NULL)
			bench_fail("out of memory");
		node->fn = tput_fn;
		node->data = (uintptr_t)i;
		tput_push(node);
	}
	pthread_join(th, NULL);
	free(nodes);
	bench_tput_report(&tp.b,
			  use_malloc ? "mpsc-futex-malloc" : "mpsc-futex",
			  "delivered", t0, n);
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);

	bench_self(bench_iters(&a, SELF_ITERS), 0);
	bench_self(bench_iters(&a, SELF_MALLOC_ITERS), 1);
	bench_tput(bench_iters(&a, TPUT_ITERS), 0);
	bench_tput(bench_iters(&a, TPUT_ITERS), 1);
	return 0;
}
