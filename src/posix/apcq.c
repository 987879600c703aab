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
 * Node recycling: magazines.  APC nodes are allocated by producers and
 * freed by consumers, usually on different threads; malloc and free across
 * threads were measured at 60% of one-way throughput.  So each thread frees
 * nodes into its free list; when that holds APC__MAG nodes it is handed,
 * whole, to a process-wide depot (one mutex round per APC__MAG nodes), and
 * a thread whose allocation list runs dry takes its own free list, or else
 * a full magazine from the depot, before it falls back to malloc.  The
 * depot keeps at most APC__DEPOT_MAX magazines; beyond that nodes go back
 * to malloc.
 */
#define APC__MAG 64
#define APC__DEPOT_MAX 64

static pthread_mutex_t depot_lock = PTHREAD_MUTEX_INITIALIZER;
static struct apc__apc *depot[APC__DEPOT_MAX];
static unsigned depot_len;

static void free_chain(struct apc__apc *n)
{
	while (n) {
		struct apc__apc *next = n->next;

		free(n);
		n = next;
	}
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
			pthread_mutex_lock(&depot_lock);
			if (depot_len)
				n = depot[--depot_len];
			pthread_mutex_unlock(&depot_lock);
			if (!n)
				return malloc(sizeof(*n));
		}
	}
	tls->alloc_list = n->next;
	return n;
}

void apc__apc_free(struct apc__apc *n)
{
	struct apc__tls *tls = &apc__tls;
	struct apc__apc *full;

	n->next = tls->free_list;
	tls->free_list = n;
	if (++tls->free_len < APC__MAG)
		return;
	full = tls->free_list;
	tls->free_list = NULL;
	tls->free_len = 0;
	pthread_mutex_lock(&depot_lock);
	if (depot_len < APC__DEPOT_MAX) {
		depot[depot_len++] = full;
		full = NULL;
	}
	pthread_mutex_unlock(&depot_lock);
	free_chain(full);
}

void apc__apc_cache_drain(void)
{
	struct apc__tls *tls = &apc__tls;

	free_chain(tls->alloc_list);
	free_chain(tls->free_list);
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

bool apc__queue_run(struct apc__thread *t)
{
	bool ran = false;

	for (;;) {
		struct apc__apc *n = t->local_head;
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
		data = n->data;
		if (n->counted)
			atomic_fetch_sub_explicit(&t->pending, 1,
						  memory_order_relaxed);
		apc__apc_free(n);
		fn(data);
		ran = true;
	}
}

void apc__queue_close(struct apc__thread *t)
{
	struct apc__apc *n = atomic_exchange_explicit(
		&t->head, APC__QUEUE_CLOSED, memory_order_acq_rel);

	while (n) {
		struct apc__apc *next = n->next;

		free(n);
		n = next;
	}
	n = t->local_head;
	while (n) {
		struct apc__apc *next = n->next;

		free(n);
		n = next;
	}
	t->local_head = t->local_tail = NULL;
}
