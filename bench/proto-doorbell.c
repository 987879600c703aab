/*
 * Doorbell protocols compared on the bare MPSC queue of mpsc.h, no apcrt.
 *
 * A thread owns an inbox: the queue plus one futex word.  Its "alertable
 * sleep" pops and runs nodes until the queue is empty and, when it ran
 * none, waits; a producer pushes and then rings by one of:
 *
 * proto-ring-if-asleep (what apcrt does): the owner publishes ASLEEP in
 *	the word, checks the queue once more, and FUTEX_WAITs on ASLEEP.  A
 *	producer rings (FUTEX_WAKE) only if it sees ASLEEP and its
 *	compare-and-swap ASLEEP -> RUNNING wins, so one producer rings per
 *	sleep and a busy owner costs no system call.
 * proto-wake-always: the word is a sequence number.  The owner reads it,
 *	checks the queue and FUTEX_WAITs on the value read; every producer
 *	increments it and calls FUTEX_WAKE after every push.
 * proto-spin-then-sleep: ring-if-asleep, but the owner first spins for a
 *	bounded time (BENCH_SPIN_NS ns, default 5000) watching the queue
 *	before it publishes ASLEEP.
 *
 * Scenarios: pingpong (two threads bounce one node, each in its alertable
 * loop; ns per round trip) and throughput (one producer, one consumer;
 * Mops/s).  Each protocol is measured in turn within the run; bench/run
 * interleaves the runs with the other programs.
 */
#include "bench.h"
#include "mpsc.h"

#define PP_ITERS 20000u
#define TPUT_ITERS 2000000u
#define SPIN_NS_DEFAULT 5000u

enum proto { RING_IF_ASLEEP, WAKE_ALWAYS, SPIN_THEN_SLEEP };
enum { DB_RUNNING = 0, DB_ASLEEP = 1 };

static const struct variant {
	const char *name;
	enum proto proto;
} variants[] = {
	{"proto-ring-if-asleep", RING_IF_ASLEEP},
	{"proto-wake-always", WAKE_ALWAYS},
	{"proto-spin-then-sleep", SPIN_THEN_SLEEP},
};

static uint64_t spin_ns = SPIN_NS_DEFAULT;

struct inbox {
	struct mpsc q;
	_Alignas(64) atomic_uint word;
};

static void inbox_init(struct inbox *ib)
{
	mpsc_init(&ib->q);
	atomic_init(&ib->word, DB_RUNNING);
}

/* Owner: block until the queue may hold something. */
static void inbox_wait(struct inbox *ib, enum proto p)
{
	unsigned int v;

	switch (p) {
	case SPIN_THEN_SLEEP: {
		uint64_t end = bench_now_ns() + spin_ns;

		do {
			for (int i = 0; i < 32; i++) {
				if (!mpsc_empty(&ib->q))
					return;
				bench_cpu_relax();
			}
		} while (bench_now_ns() < end);
	}
		/* fall through */
	case RING_IF_ASLEEP:
		atomic_store(&ib->word, DB_ASLEEP);
		if (!mpsc_empty(&ib->q)) {
			v = DB_ASLEEP;
			atomic_compare_exchange_strong(&ib->word, &v,
						       DB_RUNNING);
			return;
		}
		bench_futex_wait(&ib->word, DB_ASLEEP);
		atomic_store(&ib->word, DB_RUNNING);
		return;
	case WAKE_ALWAYS:
		v = atomic_load(&ib->word);
		if (!mpsc_empty(&ib->q))
			return;
		bench_futex_wait(&ib->word, v);
		return;
	}
}

/* Any thread: queue n to ib's owner and ring. */
static void inbox_post(struct inbox *ib, struct mpsc_node *n, enum proto p)
{
	unsigned int v = DB_ASLEEP;

	mpsc_push(&ib->q, n);
	if (p == WAKE_ALWAYS) {
		atomic_fetch_add(&ib->word, 1);
		bench_futex_wake(&ib->word, 1);
	} else if (atomic_load(&ib->word) == DB_ASLEEP &&
		   atomic_compare_exchange_strong(&ib->word, &v, DB_RUNNING)) {
		bench_futex_wake(&ib->word, 1);
	}
}

/* Owner: the alertable sleep.  Runs every queued node, waiting first if
 * there is none. */
static void inbox_sleep(struct inbox *ib, enum proto p)
{
	int ran = 0;

	for (;;) {
		struct mpsc_node *n = mpsc_pop(&ib->q);

		if (n != NULL) {
			n->fn(n);
			ran = 1;
			continue;
		}
		if (!mpsc_empty(&ib->q)) {
			bench_cpu_relax(); /* a push is half done */
			continue;
		}
		if (ran)
			return;
		inbox_wait(ib, p);
	}
}

/* ---- ping-pong ----------------------------------------------------- */

static struct {
	struct inbox box[2];
	enum proto proto;
	struct bench_pp r; /* rounds: thread 0's; seen_b: thread 1's */
	atomic_int stop;
	struct mpsc_node ball;
} pp;

static void pp_fn(struct mpsc_node *n)
{
	int self = (int)n->data;

	if (self == 0) {
		if (bench_pp_round(&pp.r))
			atomic_store(&pp.stop, 1);
	} else {
		pp.r.seen_b++;
		if (atomic_load(&pp.stop))
			return;
	}
	n->data = (uintptr_t)!self;
	inbox_post(&pp.box[!self], n, pp.proto);
}

static void *pp_thread(void *arg)
{
	int self = (int)(intptr_t)arg;

	bench_pp_start(&pp.r, self);
	if (self == 0) {
		pp.ball.fn = pp_fn;
		pp.ball.data = 1;
		inbox_post(&pp.box[1], &pp.ball, pp.proto);
	}
	while (!atomic_load(&pp.stop))
		inbox_sleep(&pp.box[self], pp.proto);
	return NULL;
}

static void bench_pingpong(const struct variant *v, uint64_t n)
{
	inbox_init(&pp.box[0]);
	inbox_init(&pp.box[1]);
	pp.proto = v->proto;
	bench_pp_init(&pp.r, n);
	atomic_init(&pp.stop, 0);
	bench_run_pair(pp_thread, pp_thread);
	/* thread 1 gets the ball first, and once more after the last round */
	bench_pp_report(&pp.r, v->name, "handled", pp.r.total + 1);
}

/* ---- one-way throughput -------------------------------------------- */

static struct {
	struct inbox box;
	enum proto proto;
	struct bench_tput b;
} tp;

static void tput_fn(struct mpsc_node *n)
{
	bench_tput_deliver(&tp.b, n->data);
}

static void *tput_consumer(void *arg)
{
	(void)arg;
	bench_pin(1);
	while (bench_tput_pending(&tp.b))
		inbox_sleep(&tp.box, tp.proto);
	return NULL;
}

static void bench_tput(const struct variant *v, uint64_t n)
{
	uint64_t warm = bench_warmup(n), i, t0 = 0;
	struct mpsc_node *nodes = calloc(warm + n, sizeof(*nodes));
	pthread_t th;

	if (nodes == NULL)
		bench_fail("out of memory");
	inbox_init(&tp.box);
	tp.proto = v->proto;
	bench_tput_init(&tp.b, warm + n, "throughput");
	th = bench_thread_start(tput_consumer, NULL);
	bench_pin(0);
	for (i = 0; i < warm + n; i++) {
		if (i == warm)
			t0 = bench_tput_catch_up(&tp.b, warm);
		nodes[i].fn = tput_fn;
		nodes[i].data = (uintptr_t)i;
		inbox_post(&tp.box, &nodes[i], tp.proto);
	}
	pthread_join(th, NULL);
	free(nodes);
	bench_tput_report(&tp.b, v->name, "delivered", t0, n);
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);
	const char *env = getenv("BENCH_SPIN_NS");
	size_t i;

	if (env != NULL && *env != '\0')
		spin_ns = strtoull(env, NULL, 10);
	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
		bench_pingpong(&variants[i], bench_iters(&a, PP_ITERS));
	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
		bench_tput(&variants[i], bench_iters(&a, TPUT_ITERS));
	return 0;
}
