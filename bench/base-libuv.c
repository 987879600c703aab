/*
 * libuv baselines of issue 3 item 8(b) and (c), no apcrt.
 *
 * pingpong libuv: two threads, each running its own uv_loop_t with one
 *	uv_async_t; each callback answers with uv_async_send() to the other
 *	thread's handle.  ns per round trip.
 * throughput libuv: one producer thread, one consumer running a loop.
 *	The producer mallocs a node (function and data, like an APC), appends
 *	it to a mutex-protected list and calls uv_async_send(); the consumer's
 *	callback takes the whole list under the mutex and runs and frees the
 *	nodes -- the way libuv programs hand work to a loop thread.  Mops/s.
 */
#include <uv.h>

#include "bench.h"

#define PP_ITERS 20000u
#define TPUT_ITERS 2000000u

static void uv_check(int r, const char *what)
{
	if (r != 0)
		bench_fail("%s: %s", what, uv_strerror(r));
}

/*
 * A loop's thread stops it with uv_stop() when the measurement is done;
 * its handle is closed afterwards, here, once no thread can call
 * uv_async_send() on it any more (a send racing with the close could
 * write to the loop's closed eventfd).
 */
static void loop_finish(uv_loop_t *loop, uv_async_t *async)
{
	uv_close((uv_handle_t *)async, NULL);
	uv_check(uv_run(loop, UV_RUN_DEFAULT), "uv_run");
	uv_check(uv_loop_close(loop), "uv_loop_close");
}

/* ---- ping-pong ----------------------------------------------------- */

static struct {
	uv_loop_t loop[2];
	uv_async_t async[2];
	atomic_int stop;
	struct bench_pp r;
} pp;

static void pp_cb(uv_async_t *h)
{
	int self = h == &pp.async[1];

	if (self == 0) {
		if (bench_pp_round(&pp.r)) {
			atomic_store(&pp.stop, 1);
			uv_check(uv_async_send(&pp.async[1]), "uv_async_send");
			uv_stop(&pp.loop[0]);
			return;
		}
	} else {
		if (atomic_load(&pp.stop)) {
			uv_stop(&pp.loop[1]);
			return;
		}
		pp.r.seen_b++;
	}
	uv_check(uv_async_send(&pp.async[!self]), "uv_async_send");
}

static void *pp_thread(void *arg)
{
	int self = (int)(intptr_t)arg;

	bench_pp_start(&pp.r, self);
	if (self == 1) /* B serves first: B -> A -> B */
		uv_check(uv_async_send(&pp.async[0]), "uv_async_send");
	uv_run(&pp.loop[self], UV_RUN_DEFAULT);
	return NULL;
}

static void bench_pingpong(uint64_t n)
{
	int i;

	bench_pp_init(&pp.r, n);
	for (i = 0; i < 2; i++) {
		uv_check(uv_loop_init(&pp.loop[i]), "uv_loop_init");
		uv_check(uv_async_init(&pp.loop[i], &pp.async[i], pp_cb),
			 "uv_async_init");
	}
	bench_run_pair(pp_thread, pp_thread);
	for (i = 0; i < 2; i++)
		loop_finish(&pp.loop[i], &pp.async[i]);
	bench_pp_report(&pp.r, "libuv", "rounds", pp.r.total - 1);
}

/* ---- one-way throughput -------------------------------------------- */

struct work {
	struct work *next;
	void (*fn)(uintptr_t data);
	uintptr_t data;
};

static struct {
	uv_loop_t loop;
	uv_async_t async;
	pthread_mutex_t lock;
	struct work *head, **tailp; /* under lock */
	struct bench_tput b;	    /* t1: set by tput_cb after the last */
} tp;

static void tput_fn(uintptr_t data)
{
	bench_tput_count(&tp.b, data);
}

static void tput_cb(uv_async_t *h)
{
	struct work *w;

	(void)h;
	pthread_mutex_lock(&tp.lock);
	w = tp.head;
	tp.head = NULL;
	tp.tailp = &tp.head;
	pthread_mutex_unlock(&tp.lock);
	while (w != NULL) {
		struct work *next = w->next;

		w->fn(w->data);
		free(w);
		w = next;
	}
	if (!bench_tput_pending(&tp.b)) {
		tp.b.t1 = bench_now_ns();
		uv_stop(&tp.loop);
	}
}

static void *tput_consumer(void *arg)
{
	(void)arg;
	bench_pin(1);
	uv_run(&tp.loop, UV_RUN_DEFAULT);
	return NULL;
}

static void tput_send(uint64_t i)
{
	struct work *w = malloc(sizeof(*w));

	if (w == NULL)
		bench_fail("out of memory");
	w->next = NULL;
	w->fn = tput_fn;
	w->data = (uintptr_t)i;
	pthread_mutex_lock(&tp.lock);
	*tp.tailp = w;
	tp.tailp = &w->next;
	pthread_mutex_unlock(&tp.lock);
	uv_check(uv_async_send(&tp.async), "uv_async_send");
}

static void bench_tput(uint64_t n)
{
	uint64_t warm = bench_warmup(n), i, t0 = 0;
	pthread_t th;

	uv_check(uv_loop_init(&tp.loop), "uv_loop_init");
	uv_check(uv_async_init(&tp.loop, &tp.async, tput_cb), "uv_async_init");
	pthread_mutex_init(&tp.lock, NULL);
	tp.head = NULL;
	tp.tailp = &tp.head;
	bench_tput_init(&tp.b, warm + n, "libuv throughput");
	th = bench_thread_start(tput_consumer, NULL);
	bench_pin(0);
	for (i = 0; i < warm + n; i++) {
		if (i == warm)
			t0 = bench_tput_catch_up(&tp.b, warm);
		tput_send(i);
	}
	pthread_join(th, NULL);
	loop_finish(&tp.loop, &tp.async);
	pthread_mutex_destroy(&tp.lock);
	bench_tput_report(&tp.b, "libuv", "delivered", t0, n);
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);

	bench_pingpong(bench_iters(&a, PP_ITERS));
	bench_tput(bench_iters(&a, TPUT_ITERS));
	return 0;
}
