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
 * Nodes are recycled through a small per-thread cache: a consumer frees
 * into its own cache and allocates from it when it queues, which makes
 * self-APCs and ping-pong allocation-free in the steady state.
 */
#include <stdlib.h>

#include "internal.h"

_Atomic uint32_t apc__queue_limit;

/*
 * Per-thread node cache.  APC__CACHE_MAX bounds what a consumer that
 * receives more than it sends (one-way traffic) keeps; the rest goes back
 * to malloc.
 */
#define APC__CACHE_MAX 256

static _Thread_local struct apc__apc *cache;
static _Thread_local unsigned cache_len;

struct apc__apc *apc__apc_alloc(void)
{
	struct apc__apc *n = cache;

	if (n) {
		cache = n->next;
		cache_len--;
		return n;
	}
	return malloc(sizeof(*n));
}

void apc__apc_free(struct apc__apc *n)
{
	if (cache_len < APC__CACHE_MAX) {
		n->next = cache;
		cache = n;
		cache_len++;
		return;
	}
	free(n);
}

void apc__apc_cache_drain(void)
{
	while (cache) {
		struct apc__apc *n = cache;

		cache = n->next;
		free(n);
	}
	cache_len = 0;
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
