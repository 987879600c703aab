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

/* APC nodes are recycled through magazines (mag.c): 32 bytes each on
 * LP64, kept for reuse at the peak number pending at once, which
 * apc_set_queue_limit bounds. */
static struct apc__mag_pool pool = APC__MAG_POOL(struct apc__apc);

struct apc__apc *apc__apc_alloc(void)
{
	return apc__mag_alloc(&pool, &apc__tls.apc_cache);
}

void apc__apc_free(struct apc__apc *n)
{
	apc__mag_free(&pool, &apc__tls.apc_cache, n);
}

void apc__apc_cache_drain(void)
{
	apc__mag_drain(&apc__tls.apc_cache);
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
