/*
 * Dispatcher objects: events, semaphores, mutexes, and what every
 * waitable object shares -- locking, the signalled test, acquisition and
 * waking waiters.
 *
 * Each operation has the same shape (as in the ntsync driver): resolve
 * the handle, lock the object (with apc__wait_all_lock first when it has
 * wait-all waiters), change its state, wake whoever the new state lets
 * through, unlock.  Waking happens under the lock, on the waiter's behalf:
 * the signaller claims the waiter's wait (one compare-and-swap, see struct
 * apc__wait), acquires the object for it, and rings its doorbell.  So a
 * release that allows N acquisitions satisfies exactly N waiters, in the
 * order they started waiting (C16, C18), and a waiter never holds part of
 * a wait-all set (C6).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

apc__lock apc__wait_all_lock = APC__LOCK_INIT;

struct apc__event {
	struct apc__object hdr;
	bool manual;
	bool signalled;
};

struct apc__semaphore {
	struct apc__object hdr;
	int32_t count;
	int32_t max;
};

/* ---- locking ----------------------------------------------------------- */

bool apc__object_lock(struct apc__object *obj)
{
	if (atomic_load_explicit(&obj->all_waiters, memory_order_relaxed)) {
		apc__lock_take(&apc__wait_all_lock);
		apc__lock_take(&obj->lock);
		return true;
	}
	apc__lock_take(&obj->lock);
	/* A wait-all waiter may have come between the look and the lock. */
	if (atomic_load_explicit(&obj->all_waiters, memory_order_relaxed)) {
		apc__lock_give(&obj->lock);
		apc__lock_take(&apc__wait_all_lock);
		apc__lock_take(&obj->lock);
		return true;
	}
	return false;
}

void apc__object_unlock(struct apc__object *obj, bool all_locked)
{
	apc__lock_give(&obj->lock);
	if (all_locked)
		apc__lock_give(&apc__wait_all_lock);
}

/* ---- state ------------------------------------------------------------- */

#define MUTEX_MAX_RECURSION UINT32_MAX

bool apc__object_signalled(struct apc__object *obj, struct apc__thread *t)
{
	switch (obj->type) {
	case APC__TYPE_THREAD:
		return atomic_load_explicit(
			&((struct apc__thread *)obj)->exited,
			memory_order_relaxed);
	case APC__TYPE_EVENT:
		return ((struct apc__event *)obj)->signalled;
	case APC__TYPE_SEMAPHORE:
		return ((struct apc__semaphore *)obj)->count > 0;
	case APC__TYPE_TIMER:
		return apc__timer_signalled(obj);
	case APC__TYPE_FILE:
		return apc__file_signalled(obj);
	case APC__TYPE_PORT:
		/* A wait on a port takes nothing (no acquire case, F25). */
		return apc__port_signalled(obj);
	case APC__TYPE_MUTEX: {
		struct apc__mutex *m = (struct apc__mutex *)obj;

		/* A full recursion count is not signalled even for the owner;
		 * the owner's own wait reports it instead (C44). */
		return !m->owner ||
		       (m->owner == t && m->recursion < MUTEX_MAX_RECURSION);
	}
	}
	return false;
}

static void owned_add(struct apc__thread *t, struct apc__mutex *m)
{
	apc__lock_take(&t->owned_lock);
	m->owned_prev = NULL;
	m->owned_next = t->owned;
	if (t->owned)
		t->owned->owned_prev = m;
	t->owned = m;
	apc__lock_give(&t->owned_lock);
}

static void owned_remove(struct apc__thread *t, struct apc__mutex *m)
{
	apc__lock_take(&t->owned_lock);
	if (m->owned_prev)
		m->owned_prev->owned_next = m->owned_next;
	else
		t->owned = m->owned_next;
	if (m->owned_next)
		m->owned_next->owned_prev = m->owned_prev;
	m->owned_prev = m->owned_next = NULL;
	apc__lock_give(&t->owned_lock);
}

uint32_t apc__object_acquire(struct apc__object *obj, struct apc__thread *t,
			     bool *abandoned)
{
	switch (obj->type) {
	case APC__TYPE_EVENT: {
		struct apc__event *e = (struct apc__event *)obj;

		if (!e->manual)
			e->signalled = false;
		break;
	}
	case APC__TYPE_SEMAPHORE:
		((struct apc__semaphore *)obj)->count--;
		break;
	case APC__TYPE_TIMER:
		apc__timer_acquire(obj);
		break;
	case APC__TYPE_MUTEX: {
		struct apc__mutex *m = (struct apc__mutex *)obj;

		if (m->owner == t) {
			if (m->recursion == MUTEX_MAX_RECURSION)
				return APC_ERROR_MUTANT_LIMIT_EXCEEDED;
			m->recursion++;
			break;
		}
		/* The owner's list holds a reference on the mutex: closing
		 * every handle to an owned mutex must not free it under the
		 * list.  (The owner needs none: it is disowned at its exit.) */
		apc__object_ref(&m->hdr);
		m->owner = t;
		m->recursion = 1;
		owned_add(t, m);
		if (m->abandoned) {
			m->abandoned = false; /* reported once (C41) */
			*abandoned = true;
		}
		break;
	}
	default:
		break;
	}
	return 0;
}

/* ---- waking ------------------------------------------------------------ */

/*
 * Try to satisfy wait-all w, holding apc__wait_all_lock and the lock of
 * `held` (one of w's objects): lock the others, and if every object is
 * signalled for w's thread, claim w and acquire them all.
 */
static void try_wake_all(struct apc__wait *w, struct apc__object *held)
{
	bool all = true, abandoned = false;
	int32_t none = APC__CLAIM_NONE;
	uint32_t i;

	for (i = 0; i < w->count; i++)
		if (w->objs[i] != held)
			apc__lock_take(&w->objs[i]->lock);
	for (i = 0; i < w->count && all; i++)
		all = apc__object_signalled(w->objs[i], w->thread);
	if (all &&
	    atomic_load_explicit(&w->claim, memory_order_relaxed) ==
		    APC__CLAIM_NONE &&
	    atomic_compare_exchange_strong_explicit(&w->claim, &none, 0,
						    memory_order_acq_rel,
						    memory_order_relaxed)) {
		for (i = 0; i < w->count; i++)
			apc__object_acquire(w->objs[i], w->thread, &abandoned);
		w->abandoned = abandoned;
		apc__doorbell_ring(w->thread, false);
	}
	for (i = 0; i < w->count; i++)
		if (w->objs[i] != held)
			apc__lock_give(&w->objs[i]->lock);
}

void apc__object_wake(struct apc__object *obj)
{
	struct apc__wait_block *b;

	for (b = obj->waiters; b; b = b->next) {
		struct apc__wait *w = b->wait;
		int32_t none = APC__CLAIM_NONE;

		if (atomic_load_explicit(&w->claim, memory_order_relaxed) !=
		    APC__CLAIM_NONE)
			continue;
		if (w->all) {
			try_wake_all(w, obj);
			continue;
		}
		if (!apc__object_signalled(obj, w->thread))
			continue;
		if (!atomic_compare_exchange_strong_explicit(
			    &w->claim, &none, (int32_t)b->index,
			    memory_order_acq_rel, memory_order_relaxed))
			continue;
		apc__object_acquire(obj, w->thread, &w->abandoned);
		apc__doorbell_ring(w->thread, false);
	}
}

/* ---- handles to objects ----------------------------------------------- */

static void object_free(struct apc__object *obj)
{
	free(obj);
}

static uint32_t object_publish(struct apc__object *obj, apc_handle *out)
{
	uint32_t st = apc__handle_new(obj, out);

	apc__object_unref(obj); /* the handle holds it now, or nothing */
	return st;
}

static void *object_new(size_t size, uint32_t type)
{
	struct apc__object *obj = calloc(1, size);

	if (obj)
		apc__object_init(obj, type, object_free);
	return obj;
}

/* ---- events ------------------------------------------------------------ */

uint32_t apc_event_create(bool manual_reset, bool initial_state,
			  apc_handle *out)
{
	struct apc__event *e;

	if (!out)
		return APC_ERROR_INVALID_PARAMETER;
	*out = NULL;
	e = object_new(sizeof(*e), APC__TYPE_EVENT);
	if (!e)
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	e->manual = manual_reset;
	e->signalled = initial_state;
	return object_publish(&e->hdr, out);
}

void apc__event_state(struct apc__object *obj, bool on)
{
	struct apc__event *e = (struct apc__event *)obj;

	e->signalled = on;
	if (on)
		apc__object_wake(obj);
}

enum event_op { EVENT_SET, EVENT_RESET, EVENT_PULSE };

static uint32_t event_op(apc_handle h, enum event_op op)
{
	struct apc__pin pin;
	struct apc__event *e =
		(struct apc__event *)apc__handle_pin(h, APC__TYPE_EVENT, &pin);
	bool all;

	if (!e)
		return APC_ERROR_INVALID_HANDLE;
	all = apc__object_lock(&e->hdr);
	if (op == EVENT_RESET) {
		e->signalled = false;
	} else {
		e->signalled = true;
		apc__object_wake(&e->hdr);
		/* A pulse releases only who could go at this instant. */
		if (op == EVENT_PULSE)
			e->signalled = false;
	}
	apc__object_unlock(&e->hdr, all);
	apc__handle_unpin(&pin);
	return 0;
}

uint32_t apc_event_set(apc_handle event)
{
	return event_op(event, EVENT_SET);
}

uint32_t apc_event_reset(apc_handle event)
{
	return event_op(event, EVENT_RESET);
}

uint32_t apc_event_pulse(apc_handle event)
{
	return event_op(event, EVENT_PULSE);
}

/* ---- semaphores -------------------------------------------------------- */

uint32_t apc_semaphore_create(int32_t initial, int32_t maximum, apc_handle *out)
{
	struct apc__semaphore *s;

	if (!out)
		return APC_ERROR_INVALID_PARAMETER;
	*out = NULL;
	if (maximum <= 0 || initial < 0 || initial > maximum)
		return APC_ERROR_INVALID_PARAMETER;
	s = object_new(sizeof(*s), APC__TYPE_SEMAPHORE);
	if (!s)
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	s->count = initial;
	s->max = maximum;
	return object_publish(&s->hdr, out);
}

/* Under the lock: add n, or fail without change (ntsync's shape). */
static uint32_t semaphore_release_state(struct apc__semaphore *s, int32_t n,
					int32_t *prev)
{
	if (n > s->max - s->count)
		return APC_ERROR_TOO_MANY_POSTS;
	*prev = s->count;
	s->count += n;
	return 0;
}

uint32_t apc_semaphore_release(apc_handle semaphore, int32_t count,
			       int32_t *previous)
{
	struct apc__semaphore *s;
	struct apc__pin pin;
	int32_t prev;
	uint32_t st;
	bool all;

	s = (struct apc__semaphore *)apc__handle_pin(semaphore,
						     APC__TYPE_SEMAPHORE, &pin);
	if (!s)
		return APC_ERROR_INVALID_HANDLE;
	if (count <= 0) {
		apc__handle_unpin(&pin);
		return APC_ERROR_INVALID_PARAMETER;
	}
	all = apc__object_lock(&s->hdr);
	st = semaphore_release_state(s, count, &prev);
	if (!st)
		apc__object_wake(&s->hdr);
	apc__object_unlock(&s->hdr, all);
	apc__handle_unpin(&pin);
	if (!st && previous)
		*previous = prev;
	return st;
}

/* ---- mutexes ----------------------------------------------------------- */

uint32_t apc_mutex_create(bool initial_owner, apc_handle *out)
{
	struct apc__thread *t = NULL;
	struct apc__mutex *m;

	if (!out)
		return APC_ERROR_INVALID_PARAMETER;
	*out = NULL;
	if (initial_owner) {
		t = apc__thread_current();
		if (!t)
			return APC_ERROR_NOT_ENOUGH_MEMORY;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	apc__object_init(&m->hdr, APC__TYPE_MUTEX, object_free);
	if (t) {
		bool abandoned = false;

		apc__object_acquire(&m->hdr, t, &abandoned);
	}
	return object_publish(&m->hdr, out);
}

/* Under the lock: the owner gives up all its recursions. */
static void mutex_disown(struct apc__mutex *m)
{
	struct apc__thread *t = m->owner;

	owned_remove(t, m);
	m->owner = NULL;
	m->recursion = 0;
	/* The caller holds its own reference: this is never the last. */
	apc__object_unref(&m->hdr);
}

uint32_t apc_mutex_release(apc_handle mutex)
{
	struct apc__thread *t = apc__thread_current_noadopt();
	struct apc__mutex *m;
	struct apc__pin pin;
	uint32_t st = 0;
	bool all;

	m = (struct apc__mutex *)apc__handle_pin(mutex, APC__TYPE_MUTEX, &pin);
	if (!m)
		return APC_ERROR_INVALID_HANDLE;
	all = apc__object_lock(&m->hdr);
	if (!t || m->owner != t) {
		st = APC_ERROR_NOT_OWNER;
	} else if (--m->recursion == 0) {
		mutex_disown(m);
		apc__object_wake(&m->hdr);
	}
	apc__object_unlock(&m->hdr, all);
	apc__handle_unpin(&pin);
	return st;
}

uint32_t apc__mutex_test_set_recursion(apc_handle mutex, uint32_t count)
{
	struct apc__thread *t = apc__thread_current_noadopt();
	struct apc__mutex *m;
	struct apc__pin pin;
	uint32_t st = 0;
	bool all;

	m = (struct apc__mutex *)apc__handle_pin(mutex, APC__TYPE_MUTEX, &pin);
	if (!m)
		return APC_ERROR_INVALID_HANDLE;
	all = apc__object_lock(&m->hdr);
	if (!t || m->owner != t || count == 0)
		st = APC_ERROR_NOT_OWNER;
	else
		m->recursion = count;
	apc__object_unlock(&m->hdr, all);
	apc__handle_unpin(&pin);
	return st;
}

void apc__mutexes_abandon(struct apc__thread *t)
{
	for (;;) {
		struct apc__mutex *m;
		bool all;

		apc__lock_take(&t->owned_lock);
		m = t->owned;
		if (m)
			apc__object_ref(&m->hdr);
		apc__lock_give(&t->owned_lock);
		if (!m)
			return;
		all = apc__object_lock(&m->hdr);
		if (m->owner == t) {
			mutex_disown(m);
			m->abandoned = true;
			apc__object_wake(&m->hdr);
		}
		apc__object_unlock(&m->hdr, all);
		apc__object_unref(&m->hdr);
	}
}

/* ---- signal and wait --------------------------------------------------- */

/* The signal step of apc_signal_and_wait (C48, C50). */
static uint32_t signal_object(apc_handle h)
{
	struct apc__object *obj = apc__handle_get(h, 0);
	uint32_t type;

	if (!obj)
		return APC_ERROR_INVALID_HANDLE;
	type = obj->type;
	apc__object_unref(obj);
	switch (type) {
	case APC__TYPE_EVENT:
		return apc_event_set(h);
	case APC__TYPE_SEMAPHORE:
		return apc_semaphore_release(h, 1, NULL);
	case APC__TYPE_MUTEX:
		return apc_mutex_release(h);
	}
	return APC_ERROR_INVALID_HANDLE;
}

uint32_t apc_signal_and_wait(apc_handle signal, apc_handle wait, uint32_t ms,
			     bool alertable, uint32_t *error)
{
	uint32_t st;

	/* Check the wait handle first: a bad one must not cost the signal. */
	if (wait != APC_CURRENT_THREAD) {
		struct apc__object *obj = apc__handle_get(wait, 0);

		if (!obj) {
			if (error)
				*error = APC_ERROR_INVALID_HANDLE;
			return APC_WAIT_FAILED;
		}
		apc__object_unref(obj);
	}
	st = signal_object(signal);
	if (st) {
		if (error)
			*error = st;
		return APC_WAIT_FAILED;
	}
	return apc_wait(wait, ms, alertable, error);
}
