/*
 * The process-wide handle table.
 *
 * A handle is a value, never a pointer: (generation << 32) | ((index + 1)
 * << 2).  The low two bits are zero and ignored, as on Windows, index + 1 is
 * never zero (so NULL is never a handle) and the generation is never zero
 * (so no 32-bit value such as 0xdeadbeef can name a slot).  Each close
 * bumps the slot's generation, so a stale handle is refused even after
 * its slot was reused.
 *
 * Slots live in chunks of APC__CHUNK, allocated on demand and never
 * freed, so a lookup can read a slot without any lock.  Each slot has one
 * 64-bit word:
 *
 *	bits 63..32  generation
 *	bit  31      live
 *	bits 30..0   pins: lookups between reading obj and taking a reference
 *
 * A lookup pins the slot with a compare-and-swap that also checks the
 * generation and the live bit, reads obj, takes a reference on the object
 * and unpins.  A close clears live and bumps the generation in one
 * compare-and-swap (so no new pin can start), then waits for the pins to
 * drain -- each is a handful of instructions -- before it drops the
 * slot's reference.  Lookups therefore never block and never see a
 * freed object.  Allocating and freeing slots is rarer and takes a mutex.
 */
#include <sched.h>
#include <stdlib.h>

#include "internal.h"

#define APC__CHUNK 1024u
#define APC__NCHUNKS (APC_MAX_HANDLES / APC__CHUNK)

#define SLOT_LIVE (1ull << 31)
#define SLOT_PINS (SLOT_LIVE - 1)

struct slot {
	_Atomic uint64_t word;
	_Atomic(struct apc__object *) obj;
	uint32_t next_free; /* index + 1 of the next free slot; under lock */
};

static _Atomic(struct slot *) chunks[APC__NCHUNKS];

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t free_head;  /* index + 1; 0 = empty; under table_lock */
static uint32_t high_water; /* slots ever handed out; under table_lock */

void apc__object_init(struct apc__object *obj, uint32_t type,
		      void (*destroy)(struct apc__object *))
{
	atomic_init(&obj->refs, 1);
	obj->type = type;
	obj->destroy = destroy;
	atomic_init(&obj->lock.v, 0);
	obj->waiters = obj->waiters_tail = NULL;
	atomic_init(&obj->all_waiters, 0);
	atomic_init(&obj->handles, 0);
	obj->last_handle = NULL;
}

void apc__object_ref(struct apc__object *obj)
{
	atomic_fetch_add_explicit(&obj->refs, 1, memory_order_relaxed);
}

void apc__object_unref(struct apc__object *obj)
{
	if (atomic_fetch_sub_explicit(&obj->refs, 1, memory_order_acq_rel) ==
	    1) {
		obj->destroy(obj);
	}
}

static struct slot *slot_at(uint32_t index)
{
	struct slot *chunk = atomic_load_explicit(&chunks[index / APC__CHUNK],
						  memory_order_acquire);

	return chunk ? &chunk[index % APC__CHUNK] : NULL;
}

uint32_t apc__handle_new(struct apc__object *obj, apc_handle *out)
{
	uint32_t index;
	struct slot *s;
	uint64_t gen;

	pthread_mutex_lock(&table_lock);
	if (free_head) {
		index = free_head - 1;
		s = slot_at(index);
		free_head = s->next_free;
	} else {
		if (high_water == APC_MAX_HANDLES) {
			pthread_mutex_unlock(&table_lock);
			return APC_ERROR_NOT_ENOUGH_MEMORY;
		}
		index = high_water;
		if (index % APC__CHUNK == 0) {
			struct slot *chunk = calloc(APC__CHUNK, sizeof(*chunk));

			if (!chunk) {
				pthread_mutex_unlock(&table_lock);
				return APC_ERROR_NOT_ENOUGH_MEMORY;
			}
			for (uint32_t i = 0; i < APC__CHUNK; i++)
				atomic_init(&chunk[i].word, 1ull << 32);
			atomic_store_explicit(&chunks[index / APC__CHUNK],
					      chunk, memory_order_release);
		}
		high_water++;
		s = slot_at(index);
	}
	pthread_mutex_unlock(&table_lock);

	apc__object_ref(obj);
	atomic_fetch_add_explicit(&obj->handles, 1, memory_order_relaxed);
	atomic_store_explicit(&s->obj, obj, memory_order_relaxed);
	gen = atomic_load_explicit(&s->word, memory_order_relaxed) >> 32;
	/* Release: a lookup that sees the live bit also sees obj. */
	atomic_store_explicit(&s->word, (gen << 32) | SLOT_LIVE,
			      memory_order_release);
	*out = (apc_handle)(uintptr_t)((gen << 32) |
				       ((uint64_t)(index + 1) << 2));
	return 0;
}

/* Decode a handle value; NULL if it cannot name a slot. */
static struct slot *decode(apc_handle h, uint64_t *gen)
{
	/* The two low bits are ignored, as Windows does (contract C11). */
	uint64_t v = (uint64_t)(uintptr_t)h & ~(uint64_t)3;
	uint64_t index1 = (v & 0xFFFFFFFFu) >> 2;

	if (index1 == 0 || index1 > APC_MAX_HANDLES)
		return NULL;
	*gen = v >> 32;
	if (*gen == 0)
		return NULL;
	return slot_at((uint32_t)index1 - 1);
}

struct apc__object *apc__handle_pin(apc_handle h, uint32_t type,
				    struct apc__pin *pin)
{
	struct apc__object *obj;
	struct slot *s;
	uint64_t gen, w;

	s = decode(h, &gen);
	if (!s)
		return NULL;
	w = atomic_load_explicit(&s->word, memory_order_acquire);
	do {
		if ((w >> 32) != gen || !(w & SLOT_LIVE))
			return NULL;
	} while (!atomic_compare_exchange_weak_explicit(&s->word, &w, w + 1,
							memory_order_acquire,
							memory_order_acquire));
	pin->word = &s->word;
	obj = atomic_load_explicit(&s->obj, memory_order_relaxed);
	if (type && obj->type != type) {
		apc__handle_unpin(pin);
		return NULL;
	}
	return obj;
}

void apc__handle_unpin(struct apc__pin *pin)
{
	atomic_fetch_sub_explicit(pin->word, 1, memory_order_release);
}

struct apc__object *apc__handle_get(apc_handle h, uint32_t type)
{
	struct apc__pin pin;
	struct apc__object *obj = apc__handle_pin(h, type, &pin);

	if (obj) {
		apc__object_ref(obj);
		apc__handle_unpin(&pin);
	}
	return obj;
}

uint32_t apc__handle_close(apc_handle h)
{
	struct apc__object *obj;
	struct slot *s;
	uint64_t gen, w, next_gen;
	uint32_t index;

	s = decode(h, &gen);
	if (!s)
		return APC_ERROR_INVALID_HANDLE;
	next_gen = (gen + 1) & 0xFFFFFFFFu;
	if (next_gen == 0)
		next_gen = 1;
	w = atomic_load_explicit(&s->word, memory_order_acquire);
	do {
		if ((w >> 32) != gen || !(w & SLOT_LIVE))
			return APC_ERROR_INVALID_HANDLE;
	} while (!atomic_compare_exchange_weak_explicit(
		&s->word, &w, (next_gen << 32) | (w & SLOT_PINS),
		memory_order_acq_rel, memory_order_acquire));

	/* No new pin can start; wait for the few in flight to finish. */
	while (atomic_load_explicit(&s->word, memory_order_acquire) & SLOT_PINS)
		sched_yield();

	obj = atomic_load_explicit(&s->obj, memory_order_relaxed);
	atomic_store_explicit(&s->obj, NULL, memory_order_relaxed);

	index = (uint32_t)(((uint64_t)(uintptr_t)h & 0xFFFFFFFCu) >> 2);
	pthread_mutex_lock(&table_lock);
	s->next_free = free_head;
	free_head = index;
	pthread_mutex_unlock(&table_lock);

	if (atomic_fetch_sub_explicit(&obj->handles, 1, memory_order_acq_rel) ==
		    1 &&
	    obj->last_handle)
		obj->last_handle(obj);
	apc__object_unref(obj);
	return 0;
}
