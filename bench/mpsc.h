/*
 * apcrt benchmarks: a minimal intrusive MPSC queue, the floor that apcrt's
 * APC queue is measured against (base-mpsc.c) and the queue on which the
 * doorbell protocols are compared (proto-doorbell.c).
 *
 * The classic design with a stub node: push is one atomic exchange of the
 * tail plus one store to the previous node's link, so any number of
 * producers push without a lock; only the owner pops.  A push that has
 * exchanged the tail but not yet linked is visible to the owner as "not
 * empty but nothing to pop"; the owner then spins, never sleeps.
 *
 * A node carries a function and a data word, like an APC.
 */
#ifndef APC_BENCH_MPSC_H
#define APC_BENCH_MPSC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct mpsc_node {
	_Atomic(struct mpsc_node *) next;
	void (*fn)(struct mpsc_node *n);
	uintptr_t data;
};

struct mpsc {
	_Alignas(64) _Atomic(struct mpsc_node *) tail; /* producers */
	_Alignas(64) struct mpsc_node *head;	       /* owner only */
	struct mpsc_node stub;
};

static inline void mpsc_init(struct mpsc *q)
{
	atomic_init(&q->stub.next, NULL);
	q->stub.fn = NULL;
	q->stub.data = 0;
	q->head = &q->stub;
	atomic_init(&q->tail, &q->stub);
}

/* Any thread.  seq_cst, so that a following load of a doorbell word is
 * ordered after it (the producer's half of the Dekker pair). */
static inline void mpsc_push(struct mpsc *q, struct mpsc_node *n)
{
	struct mpsc_node *prev;

	atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
	prev = atomic_exchange_explicit(&q->tail, n, memory_order_seq_cst);
	atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* Owner only: true when no push has begun since the last pop.  seq_cst:
 * the owner's half of the Dekker pair (after publishing "asleep"). */
static inline int mpsc_empty(struct mpsc *q)
{
	return q->head == &q->stub &&
	       atomic_load_explicit(&q->tail, memory_order_seq_cst) == &q->stub;
}

/*
 * Owner only: the oldest node, or NULL when the queue is empty or the
 * oldest push is half done (mpsc_empty() tells the two apart).
 */
static inline struct mpsc_node *mpsc_pop(struct mpsc *q)
{
	struct mpsc_node *head = q->head;
	struct mpsc_node *next =
		atomic_load_explicit(&head->next, memory_order_acquire);

	if (head == &q->stub) {
		if (next == NULL)
			return NULL;
		q->head = next;
		head = next;
		next = atomic_load_explicit(&next->next, memory_order_acquire);
	}
	if (next != NULL) {
		q->head = next;
		return head;
	}
	if (atomic_load_explicit(&q->tail, memory_order_acquire) != head)
		return NULL;
	mpsc_push(q, &q->stub);
	next = atomic_load_explicit(&head->next, memory_order_acquire);
	if (next != NULL) {
		q->head = next;
		return head;
	}
	return NULL;
}

#endif /* APC_BENCH_MPSC_H */
