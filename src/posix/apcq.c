/*
 * The per-thread APC queue.
 *
 * Producers push onto an intrusive LIFO stack with a compare-and-swap on
 * thread->head (any number of producers, lock-free).  The owner takes the
 * whole stack with one exchange, reverses it and appends it to its private
 * FIFO list (local_head..local_tail), from which it runs APCs one at a
 * time.  The order of the queue is the order in which the pushes took
 * effect, so each producer's APCs run in the order it queued them (A4,
 * A5).
 *
 * Why a stack and not a Vyukov queue: the queue must close atomically at
 * thread exit (G2).  The exit path swaps in APC__QUEUE_CLOSED; a producer's
 * compare-and-swap either lands before (its APC is then freed unrun by the
 * exit path) or sees the sentinel and fails with ERROR_GEN_FAILURE.  No
 * APC can be pushed after the owner's final drain, so none leaks and none
 * runs on another thread.
 *
 * An APC is unlinked and its node recycled before its routine is called,
 * and no lock is held while it runs (A16): the routine may queue, wait
 * alertably (a nested wait continues from local_head, A15) or exit the
 * thread (G3).
 *
 * A thread queuing to itself appends to its private list directly, after
 * taking what others pushed, so a self-APC costs no atomic instruction.
 */
#include <stdlib.h>

#include "internal.h"

_Atomic uint32_t apc__queue_limit;

/*
 * Node recycling: magazines over slabs.
 *
 * APC nodes are allocated by producers and freed by consumers, usually on
 * different threads.  malloc and free across threads were measured at 60%
 * of one-way throughput, so nodes come from slabs of APC__MAG nodes and
 * are never given back to malloc: each thread frees nodes into its free
 * list; when that holds APC__MAG nodes (a magazine) it goes, whole, to a
 * process-wide depot (one mutex round per APC__MAG nodes).  A thread whose
 * allocation list runs dry takes its own free list, else a magazine from
 * the depot, else a new slab.
 *
 * The cost of this: apcrt keeps the memory of its peak number of APCs
 * pending at once (32 bytes each on LP64) for reuse until the process
 * ends.  apc_set_queue_limit bounds that peak.
 */
#define APC__MAG 64

struct slab {
	struct slab *next; /* every slab ever made, so none looks leaked */
	struct apc__apc nodes[APC__MAG];
};

static pthread_mutex_t depot_lock = PTHREAD_MUTEX_INITIALIZER;
static struct apc__apc *depot; /* magazines, linked through nodes[0].data */
static struct slab *slabs;

/*
 * A thread that only queues (a producer that never waits) has no thread
 * object and so no exit processing, but it holds magazines.  The first
 * time such a thread takes nodes from the depot or a slab it sets this
 * key, whose destructor hands its magazines back at thread exit.
 */
static pthread_key_t cache_key;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

static void cache_key_destructor(void *arg)
{
	(void)arg;
	apc__apc_cache_drain();
	/* Set the key again if a later destructor queues once more. */
	apc__tls.cache_key_set = false;
}

static void make_cache_key(void)
{
	if (pthread_key_create(&cache_key, cache_key_destructor) != 0)
		abort(); /* EAGAIN for keys: nothing can work then */
}

static void watch_cache(struct apc__tls *tls)
{
	if (tls->cache_key_set)
		return;
	pthread_once(&cache_key_once, make_cache_key);
	pthread_setspecific(cache_key, (void *)1);
	tls->cache_key_set = true;
}

static struct apc__apc *new_slab(void)
{
	struct slab *sl = malloc(sizeof(*sl));

	if (!sl)
		return NULL;
	for (unsigned i = 0; i + 1 < APC__MAG; i++)
		sl->nodes[i].next = &sl->nodes[i + 1];
	sl->nodes[APC__MAG - 1].next = NULL;
	pthread_mutex_lock(&depot_lock);
	sl->next = slabs;
	slabs = sl;
	pthread_mutex_unlock(&depot_lock);
	return sl->nodes;
}

struct apc__apc *apc__apc_alloc(void)
{
	struct apc__tls *tls = &apc__tls;
	struct apc__apc *n = tls->alloc_list;

	if (!n) {
		if (tls->free_list) {
			n = tls->free_list;
			tls->free_list = NULL;
			tls->free_len = 0;
		} else {
			watch_cache(tls);
			pthread_mutex_lock(&depot_lock);
			n = depot;
			if (n)
				depot = (struct apc__apc *)n->data;
			pthread_mutex_unlock(&depot_lock);
			if (!n)
				n = new_slab();
			if (!n)
				return NULL;
		}
	}
	tls->alloc_list = n->next;
	return n;
}

/* Give a chain of free nodes to the depot as one magazine. */
static void depot_put(struct apc__apc *chain)
{
	pthread_mutex_lock(&depot_lock);
	chain->data = (uintptr_t)depot;
	depot = chain;
	pthread_mutex_unlock(&depot_lock);
}

void apc__apc_free(struct apc__apc *n)
{
	struct apc__tls *tls = &apc__tls;

	n->next = tls->free_list;
	tls->free_list = n;
	if (++tls->free_len < APC__MAG)
		return;
	depot_put(tls->free_list);
	tls->free_list = NULL;
	tls->free_len = 0;
}

void apc__apc_cache_drain(void)
{
	struct apc__tls *tls = &apc__tls;

	if (tls->alloc_list)
		depot_put(tls->alloc_list);
	if (tls->free_list)
		depot_put(tls->free_list);
	tls->alloc_list = tls->free_list = NULL;
	tls->free_len = 0;
}

bool apc__queue_push(struct apc__thread *t, struct apc__apc *node)
{
	struct apc__apc *old =
		atomic_load_explicit(&t->head, memory_order_relaxed);

	do {
		if (old == APC__QUEUE_CLOSED)
			return false;
		node->next = old;
		/*
		 * seq_cst: the push must be ordered before the ringer's read of
		 * the doorbell, against the owner arming the doorbell before
		 * its last look at the queue (see doorbell.c).
		 */
	} while (!atomic_compare_exchange_weak_explicit(&t->head, &old, node,
							memory_order_seq_cst,
							memory_order_relaxed));
	return true;
}

bool apc__queue_nonempty(struct apc__thread *t)
{
	return t->local_head ||
	       atomic_load_explicit(&t->head, memory_order_seq_cst) != NULL;
}

/* Owner: move the shared stack, reversed, to the end of the local list. */
static void take(struct apc__thread *t)
{
	struct apc__apc *stack, *first = NULL, *last;

	if (atomic_load_explicit(&t->head, memory_order_relaxed) == NULL)
		return;
	stack = atomic_exchange_explicit(&t->head, NULL, memory_order_acquire);
	last = stack;
	while (stack) {
		struct apc__apc *next = stack->next;

		stack->next = first;
		first = stack;
		stack = next;
	}
	if (!first)
		return;
	if (t->local_head)
		t->local_tail->next = first;
	else
		t->local_head = first;
	t->local_tail = last;
}

void apc__queue_push_self(struct apc__thread *t, struct apc__apc *node)
{
	take(t);
	node->next = NULL;
	if (t->local_head)
		t->local_tail->next = node;
	else
		t->local_head = node;
	t->local_tail = node;
}

static inline __attribute__((always_inline)) bool
queue_run(struct apc__thread *t)
{
	bool ran = false;

	for (;;) {
		struct apc__apc *n = t->local_head;
		apc__internal_fn ifn;
		apc_fn fn;
		uintptr_t data;

		if (!n) {
			take(t);
			n = t->local_head;
			if (!n)
				return ran;
		}
		t->local_head = n->next;
		fn = n->fn;
		ifn = n->ifn;
		data = n->data;
		if (n->counted)
			atomic_fetch_sub_explicit(&t->pending, 1,
						  memory_order_relaxed);
		apc__apc_free(n);
		if (ifn) {
			ran |= ifn(data, true);
		} else {
			fn(data);
			ran = true;
		}
	}
}

/* A thread with an io_uring ring: reap it first, submit what routines
 * batched after.  Out of line, to keep the plain run short. */
static __attribute__((noinline)) bool queue_run_ring(struct apc__thread *t)
{
	bool ran;

	apc__uring_reap(t);
	ran = queue_run(t);
	apc__uring_flush(t); /* what routines batched (io-uring.c) */
	return ran;
}

bool apc__queue_run(struct apc__thread *t)
{
	if (__builtin_expect(apc__tls.has_ring, 0))
		return queue_run_ring(t);
	return queue_run(t);
}

/* Discard one node unrun, letting an internal one release its data. */
static void discard(struct apc__apc *n)
{
	if (n->ifn)
		n->ifn(n->data, false);
	apc__apc_free(n);
}

void apc__queue_close(struct apc__thread *t)
{
	struct apc__apc *n = atomic_exchange_explicit(
		&t->head, APC__QUEUE_CLOSED, memory_order_acq_rel);

	while (n) {
		struct apc__apc *next = n->next;

		discard(n);
		n = next;
	}
	n = t->local_head;
	while (n) {
		struct apc__apc *next = n->next;

		discard(n);
		n = next;
	}
	t->local_head = t->local_tail = NULL;
}
