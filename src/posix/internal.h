/*
 * apcrt POSIX engine: private declarations.  Nothing here is API; every
 * non-static symbol is named apc__* and hidden from the shared library.
 *
 * The pieces:
 *   handle.c    the process-wide handle table and object references
 *   apcq.c      the per-thread APC queue (multi-producer, one consumer)
 *   doorbell.c  the per-thread wake word: arm, park, ring
 *   thread.c    thread objects, adoption of foreign pthreads, exit
 *   wait.c      apc_sleep, apc_wait, apc_test_alert
 */
#ifndef APC_POSIX_INTERNAL_H
#define APC_POSIX_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <apc/apc.h>

#if UINTPTR_MAX != UINT64_MAX
#error "the POSIX engine encodes handles in 64 bits; LP64 only"
#endif

#define APC__CACHELINE 64

/* A spin-wait hint to the processor. */
static inline void apc__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* ---- locks (doorbell.c) ------------------------------------------------ */

/*
 * A small futex lock for the engine's short critical sections (object
 * state, waiter lists, owner lists): 0 free, 1 held, 2 held with sleepers.
 * Taking a free lock is one compare-and-swap and releasing it one
 * exchange, inline; glibc's pthread_mutex cost twice that in the
 * uncontended event and mutex paths (measured: a quarter of the time).
 * A contended lock spins briefly, then sleeps in FUTEX_WAIT.
 */
typedef struct {
	atomic_uint v;
} apc__lock;

#define APC__LOCK_INIT                                                         \
	{                                                                      \
		0                                                              \
	}

void apc__lock_slow(apc__lock *l);
void apc__lock_wake(apc__lock *l);

static inline void apc__lock_take(apc__lock *l)
{
	unsigned c = 0;

	if (!atomic_compare_exchange_strong_explicit(
		    &l->v, &c, 1, memory_order_acquire, memory_order_relaxed))
		apc__lock_slow(l);
}

static inline void apc__lock_give(apc__lock *l)
{
	if (atomic_exchange_explicit(&l->v, 0, memory_order_release) == 2)
		apc__lock_wake(l);
}

/* ---- recycled records (mag.c) ------------------------------------------ */

/*
 * A pool of fixed-size records (APC nodes, completion packets) recycled
 * through per-thread magazines; see mag.c.  A record's first two words
 * are the pool's while it is free.
 */
#define APC__MAG 64

struct apc__mag_node {
	struct apc__mag_node *next;  /* the free list */
	struct apc__mag_node *chain; /* the depot's list of magazines */
};

struct apc__mag_pool {
	size_t size; /* of a record */
	apc__lock lock;
	struct apc__mag_node *depot;
	void *slabs;
	bool key_made;
	pthread_key_t key;
};

#define APC__MAG_POOL(type)                                                    \
	{                                                                      \
		.size = sizeof(type), .lock = APC__LOCK_INIT                   \
	}

/* A thread's cache of one pool (in thread-local storage); pool is set
 * once it has taken or given a magazine. */
struct apc__mag_cache {
	struct apc__mag_pool *pool;
	struct apc__mag_node *alloc, *free;
	uint32_t free_len;
	bool key_set;
};

void *apc__mag_refill(struct apc__mag_pool *p, struct apc__mag_cache *c);
void apc__mag_flush(struct apc__mag_pool *p, struct apc__mag_cache *c);
void apc__mag_drain(struct apc__mag_cache *c);

/* A record of pool p, or NULL when memory is exhausted. */
static inline void *apc__mag_alloc(struct apc__mag_pool *p,
				   struct apc__mag_cache *c)
{
	struct apc__mag_node *n = c->alloc;

	if (!n)
		return apc__mag_refill(p, c);
	c->alloc = n->next;
	return n;
}

static inline void apc__mag_free(struct apc__mag_pool *p,
				 struct apc__mag_cache *c, void *record)
{
	struct apc__mag_node *n = record;

	n->next = c->free;
	c->free = n;
	if (++c->free_len >= APC__MAG)
		apc__mag_flush(p, c);
}

/* ---- objects and the handle table (handle.c) -------------------------- */

enum apc__type {
	APC__TYPE_THREAD = 1,
	APC__TYPE_EVENT,
	APC__TYPE_SEMAPHORE,
	APC__TYPE_MUTEX,
	APC__TYPE_TIMER,
	APC__TYPE_PORT,
	APC__TYPE_FILE,
};

struct apc__object;
struct apc__wait;
struct apc__io;
struct apc__uring;
struct apc__wait_block;

/*
 * The header of every object.  refs counts handle slots, waiters and
 * in-flight lookups; the object is destroyed when it drops to zero.
 *
 * lock guards the object's state (in the type's own struct), waiters (the
 * wait blocks of the threads blocked on it, in the order they came) and
 * all_waiters (how many of those are wait-all blocks).
 *
 * Lock order (the ntsync driver's): apc__wait_all_lock, then object locks.
 * Whoever holds more than one object lock holds apc__wait_all_lock, so
 * object locks need no order among themselves.  An operation on one
 * object that may have wait-all waiters takes apc__wait_all_lock first
 * (apc__object_lock decides, re-checking all_waiters under the lock).
 */
struct apc__object {
	atomic_uint refs;
	uint32_t type;
	void (*destroy)(struct apc__object *obj);
	apc__lock lock;
	struct apc__wait_block *waiters, *waiters_tail;
	atomic_uint all_waiters;
	/* Open handles to the object, and what to do when the last one is
	 * closed (a timer cancels itself, D23); NULL for nothing. */
	atomic_uint handles;
	void (*last_handle)(struct apc__object *obj);
};

extern apc__lock apc__wait_all_lock;

/*
 * One waiting thread on one object, inside the waiter's struct apc__wait
 * (on its stack); linked on the object's waiters list under its lock.
 */
struct apc__wait_block {
	struct apc__wait_block *prev, *next;
	struct apc__wait *wait;
	uint32_t index;
};

/* claim values of a wait that is not (yet) satisfied by an object */
#define APC__CLAIM_NONE (-1)
#define APC__CLAIM_CANCEL (-2) /* the waiter left: APCs, timeout */

/*
 * A thread's wait on up to APC_MAXIMUM_WAIT_OBJECTS objects.  claim is
 * the single point where the waiter and the signallers agree on how the
 * wait ends: a signaller that can satisfy it moves claim from NONE to the
 * object's index (0 for wait-all) and acquires on the waiter's behalf; a
 * waiter that leaves for APCs or its timeout moves it from NONE to
 * CANCEL.  Exactly one compare-and-swap succeeds (contract B14, L2).
 * abandoned is written by the claimer under the object locks, before the
 * waiter can unlink and read it.
 */
struct apc__wait {
	struct apc__thread *thread;
	uint32_t count;
	bool all;
	bool abandoned;
	_Atomic int32_t claim;
	struct apc__object *objs[64];
	struct apc__wait_block blocks[64];
};

void apc__object_init(struct apc__object *obj, uint32_t type,
		      void (*destroy)(struct apc__object *));
void apc__object_ref(struct apc__object *obj);
void apc__object_unref(struct apc__object *obj);

/*
 * Allocate a handle naming obj; takes a new reference on success.
 * Returns 0 or APC_ERROR_NOT_ENOUGH_MEMORY.
 */
uint32_t apc__handle_new(struct apc__object *obj, apc_handle *out);

/*
 * Resolve a handle to its object with a reference taken (drop it with
 * apc__object_unref), or NULL if the handle is invalid, stale, a
 * pseudo-handle, or names an object whose type is not `type` (0 = any).
 */
struct apc__object *apc__handle_get(apc_handle h, uint32_t type);

/*
 * Pin a handle's slot: the object cannot be freed, nor the handle closed
 * (apc_close waits), until apc__handle_unpin.  Cheaper than a reference
 * (no write to the object), for operations that never block or call user
 * code while pinned.  Same NULL cases as apc__handle_get.
 */
struct apc__pin {
	_Atomic uint64_t *word;
};
struct apc__object *apc__handle_pin(apc_handle h, uint32_t type,
				    struct apc__pin *pin);
void apc__handle_unpin(struct apc__pin *pin);

/* Free a handle slot.  Returns 0 or APC_ERROR_INVALID_HANDLE. */
uint32_t apc__handle_close(apc_handle h);

/* ---- the APC queue (apcq.c) ------------------------------------------- */

/*
 * An engine-internal APC (a timer's routine call): called with run true
 * in an alertable wait, where it returns whether it ran user code (a call
 * that was cancelled meanwhile does not make the wait return
 * WAIT_IO_COMPLETION); called with run false when the queue is discarded
 * at thread exit, to release what data holds.
 */
typedef bool (*apc__internal_fn)(uintptr_t data, bool run);

struct apc__apc {
	struct apc__apc *next;
	apc_fn fn;
	apc__internal_fn ifn; /* instead of fn, when not NULL */
	uintptr_t data;
	uint32_t counted; /* counted in thread->pending (queue limit) */
};

/*
 * Queue an internal APC to t (not subject to the queue limit).  Returns 0,
 * APC_ERROR_NOT_ENOUGH_MEMORY or APC_ERROR_GEN_FAILURE (t has ended).
 */
uint32_t apc__queue_internal(struct apc__thread *t, apc__internal_fn ifn,
			     uintptr_t data);

/* The same, by t itself (no atomic operation, no doorbell). */
uint32_t apc__queue_internal_self(struct apc__thread *t, apc__internal_fn ifn,
				  uintptr_t data);

/* ---- threads (thread.c) ----------------------------------------------- */

/*
 * Doorbell states.  Only the owner moves RUNNING <-> WAIT*; a ringer moves
 * WAIT* -> RUNG with a compare-and-swap, so exactly one ringer per sleep
 * makes the wake system call.  See doorbell.c for the protocol.
 */
enum {
	APC__DB_RUNNING = 0,
	APC__DB_WAIT = 1,	    /* non-alertable: object signals ring */
	APC__DB_WAIT_ALERTABLE = 2, /* APCs and object signals ring */
	APC__DB_RUNG = 3,
};

/* The head of a closed queue: producers see it and fail (G2). */
#define APC__QUEUE_CLOSED ((struct apc__apc *)(uintptr_t)1)

struct apc__thread {
	struct apc__object hdr;

	/*
	 * Written by producers and the owner.  head is a LIFO stack of APCs
	 * not yet taken by the owner (NULL when empty, APC__QUEUE_CLOSED
	 * after exit); doorbell is the wake word; pending counts queued
	 * APCs that are subject to the queue limit.
	 */
	_Alignas(APC__CACHELINE) _Atomic(struct apc__apc *) head;
	atomic_uint doorbell;
	atomic_uint pending;

	/*
	 * Owner only.  APCs taken from head, in FIFO order, not yet run.
	 * Nested alertable waits inside an APC continue from here.
	 */
	_Alignas(APC__CACHELINE) struct apc__apc *local_head;
	struct apc__apc *local_tail;
	/* The thread's io_uring state (io-uring.c), or NULL; read on every
	 * APC run, so on this line.  Written once, by the owner. */
	struct apc__uring *ring;

	/* Identity and life cycle; set once, then read-only. */
	uint32_t tid;
	apc_thread_fn start_fn;
	void *start_arg;

	/* 1 while created suspended and not yet resumed (a futex word). */
	atomic_uint suspended;
	/* Set (under hdr.lock) once exit processing is done; then exit_code
	 * holds.  The thread object is signalled from then on. */
	atomic_uint exited;

	/* Overlapped operations this thread started and that are still in
	 * flight (io.c), cancelled at its exit (G6). */
	apc__lock io_lock;
	struct apc__io *io_reqs;
	/* A synchronous stream operation blocked in poll() (io.c, E45):
	 * 0 none, 1 blocked, 2 cancelled; and the eventfd that wakes it
	 * (made on first need, -1 before). */
	atomic_uint sync_state;
	int sync_efd;

	/* Mutexes this thread owns, abandoned at its exit (owned_lock). */
	apc__lock owned_lock;
	struct apc__mutex *owned;
	uint32_t exit_code;
};

/* Adopt the calling pthread: give it a thread object.  NULL: no memory. */
struct apc__thread *apc__thread_adopt(void);

/* Resolve a thread handle (pseudo-handle included) with a reference. */
struct apc__thread *apc__thread_get(apc_handle h);

/* ---- per-thread storage ------------------------------------------------ */

/*
 * Everything apcrt keeps per pthread, in one block.  The initial-exec TLS
 * model makes each access one instruction off the thread pointer instead
 * of a call to __tls_get_addr (measured: a quarter of a self-APC's cost
 * with the default model in the shared library).
 */
struct apc__tls {
	struct apc__thread *self; /* this thread's object, or NULL */
	uint32_t tid;		  /* cached kernel tid, or 0 */
	uint32_t last_error;	  /* for the compat layer */
	/* APC node magazines (apcq.c, mag.c). */
	struct apc__mag_cache apc_cache;
	bool has_ring;	    /* self->ring is set (io-uring.c) */
	uint32_t apc_depth; /* nesting of completion routines (io.c, io-uring.c)
			     */
};

extern _Thread_local struct apc__tls apc__tls
	__attribute__((tls_model("initial-exec")));

/* The calling thread's object, adopting the thread if needed; NULL only
 * when memory is exhausted.  Inline: it is on every call's path. */
static inline struct apc__thread *apc__thread_current(void)
{
	struct apc__thread *t = apc__tls.self;

	return t ? t : apc__thread_adopt();
}

/* The calling thread's object if it has one, without adopting. */
static inline struct apc__thread *apc__thread_current_noadopt(void)
{
	return apc__tls.self;
}

/* ---- the queue operations (apcq.c) ------------------------------------ */

struct apc__apc *apc__apc_alloc(void);
void apc__apc_free(struct apc__apc *node);
void apc__apc_cache_drain(void);

/*
 * Owner: append node to its own queue without an atomic read-modify-write.
 * Takes what other producers pushed first, so the order of the queue stays
 * the order in which the queue operations took effect.
 */
void apc__queue_push_self(struct apc__thread *t, struct apc__apc *node);

/* Push node to t's queue; false if the queue is closed. */
bool apc__queue_push(struct apc__thread *t, struct apc__apc *node);

/* Owner: is anything queued?  (seq_cst: pairs with the doorbell.) */
bool apc__queue_nonempty(struct apc__thread *t);

/* Owner: run every queued APC, including those queued meanwhile.
 * Returns true if at least one ran. */
bool apc__queue_run(struct apc__thread *t);

bool apc__uring_reap(struct apc__thread *t);

/* Owner, in an alertable wait: is anything queued, after moving the
 * routines of finished ring operations onto the queue? */
static inline bool apc__apcs_ready(struct apc__thread *t)
{
	if (t->ring)
		apc__uring_reap(t);
	return apc__queue_nonempty(t);
}

/* Owner, at exit: close the queue and free what it holds, unrun. */
void apc__queue_close(struct apc__thread *t);

extern _Atomic uint32_t apc__queue_limit;

/* ---- dispatcher objects (sync.c) -------------------------------------- */

struct apc__mutex {
	struct apc__object hdr;
	struct apc__thread *owner; /* NULL when unowned */
	uint32_t recursion;
	bool abandoned;
	struct apc__mutex *owned_prev, *owned_next; /* owner's owned list */
};

/* Lock one object; returns whether apc__wait_all_lock was taken too. */
bool apc__object_lock(struct apc__object *obj);
void apc__object_unlock(struct apc__object *obj, bool all_locked);

/* Under the object's lock: is it signalled for thread t? */
bool apc__object_signalled(struct apc__object *obj, struct apc__thread *t);

/*
 * Under the object's lock, for a signalled object: acquire it for t (take
 * a count, reset an auto event, own a mutex).  Returns 0, or
 * APC_ERROR_MUTANT_LIMIT_EXCEEDED; sets *abandoned for an abandoned mutex.
 */
uint32_t apc__object_acquire(struct apc__object *obj, struct apc__thread *t,
			     bool *abandoned);

/*
 * Under the object's lock (and apc__wait_all_lock if it has wait-all
 * waiters): satisfy whichever waiters its state now allows, in FIFO order.
 */
void apc__object_wake(struct apc__object *obj);

/* Events (sync.c): under the lock, set (waking waiters) or reset. */
void apc__event_state(struct apc__object *obj, bool on);

/* I/O handles (io.c): under the lock, signalled by a completion (E9). */
bool apc__file_signalled(struct apc__object *obj);

/*
 * At thread exit, before the queue closes (G6, G8): cancel the thread's
 * operations on handles not bound to a port and wait until they ended;
 * then release the thread's ring.  At the thread object's destruction:
 * free what is left (io-uring.c).
 */
void apc__io_thread_exit(struct apc__thread *t);

/* At thread exit, after the APC queue is closed (its discarded routines
 * free requests): free the thread's cache of request records (io.c). */
void apc__io_cache_drain(void);
void apc__uring_thread_free(struct apc__thread *t);

/*
 * The io_uring engine's part of a wait (io-uring.c).  Owner: move
 * finished operations' routines onto its APC queue (true if any), and
 * sleep in its ring (false: no ring to sleep in, use the futex).  Anyone:
 * wake an owner that sleeps in its ring (false: it does not).
 */
bool apc__uring_reap(struct apc__thread *t);
bool apc__uring_park(struct apc__thread *t, const struct timespec *deadline);
bool apc__uring_wake(struct apc__thread *t);

/* Owner: submit operations batched during an APC run; at exit, wait a
 * little for a completion (false: nothing in flight on the ring); tear
 * the ring down once nothing is in flight. */
void apc__uring_flush(struct apc__thread *t);
bool apc__uring_wait_some(struct apc__thread *t);
void apc__uring_thread_exit(struct apc__thread *t);

/* Timers (timer.c): under the lock, a timer's state. */
bool apc__timer_signalled(struct apc__object *obj);
void apc__timer_acquire(struct apc__object *obj);

/*
 * Test hooks (tests/test-hooks.c).  apc__clock_test_shift moves apcrt's
 * wall clock by delta (100 ns units) as if the system time had been set
 * (D18).  apc__mutex_test_set_recursion sets the recursion count of a
 * mutex the calling thread owns (C44); returns 0 or the error.
 */
void apc__clock_test_shift(int64_t delta);
uint32_t apc__mutex_test_set_recursion(apc_handle mutex, uint32_t count);

/* At thread exit: abandon every mutex t owns (contract C40). */
void apc__mutexes_abandon(struct apc__thread *t);

/*
 * The one wait: on count (0..64) objects.  The caller holds them pinned
 * (pins, *pinned true), and the wait trades the pins for references before
 * it blocks or runs APCs (clearing *pinned); or pins is NULL and the
 * caller holds references.  Returns a WAIT_* value; on WAIT_FAILED stores
 * the error.
 */
struct apc__pin;
uint32_t apc__wait_objects(struct apc__thread *t, struct apc__object **objs,
			   uint32_t count, bool all, uint32_t ms,
			   bool alertable, uint32_t *error,
			   struct apc__pin *pins, bool *pinned);

/* ---- completion ports (port.c) --------------------------------------- */

/*
 * Queue a completion packet on a port object (any state); returns 0 or
 * APC_ERROR_NOT_ENOUGH_MEMORY.  A port whose last handle is closed
 * discards it and returns 0.
 */
uint32_t apc__port_queue(struct apc__object *port, uintptr_t key,
			 apc_overlapped *ov, uint32_t ntstatus, uint32_t bytes);

/*
 * NT status (apc_overlapped.Internal, APC_STATUS_*) to Win32 error and
 * back: 0 for success (and other NT_SUCCESS values), the named statuses of
 * io.h, APC_NTSTATUS_FROM_WIN32(e) <-> e for the rest.
 */
uint32_t apc__ntstatus_to_error(uint32_t status);
uint32_t apc__error_to_ntstatus(uint32_t error);

/* Under the object's lock: a port is signalled while packets are queued
 * or once its last handle is closed (F25). */
bool apc__port_signalled(struct apc__object *obj);

/*
 * Concurrency accounting (F23, G9), for the calling thread: it is about
 * to park in an apcrt wait / is back from the park / is ending.  Cheap
 * (a thread-local load) for a thread not associated with a port.
 */
void apc__port_thread_block(void);
void apc__port_thread_unblock(void);
void apc__port_thread_exit(void);

/* ---- the doorbell (doorbell.c) ---------------------------------------- */

/* Owner: publish that it is about to sleep. */
void apc__doorbell_arm(struct apc__thread *t, bool alertable);

/*
 * Owner: sleep until rung or until the absolute CLOCK_MONOTONIC deadline
 * (NULL = none).  Returns at once if already rung.  May return early
 * (spurious wake-up, signal): callers re-check their conditions.
 */
void apc__doorbell_park(struct apc__thread *t, const struct timespec *deadline);

/* Owner: back to running. */
void apc__doorbell_disarm(struct apc__thread *t);

/*
 * Anyone: wake t if it sleeps in a wait that `for_apc` concerns: APCs
 * wake only alertable waits; object signals (for_apc false) wake any.
 */
void apc__doorbell_ring(struct apc__thread *t, bool for_apc);

/* Engine-internal statistics, for tests: system calls made. */
uint64_t apc__stat_futex_wakes(void);
uint64_t apc__stat_futex_waits(void);

/* ---- clocks and spinning (wait.c) -------------------------------------- */

/* CLOCK_MONOTONIC in ns. */
uint64_t apc__mono_ns(void);

/*
 * Before parking, a waiter polls ready(arg) for up to apc__spin_ns
 * (default 5 us on more than one CPU, APC_SPIN_NS overrides, 0 disables,
 * at most 1 ms) or until the deadline; true when ready.
 */
extern uint64_t apc__spin_ns;
bool apc__spin(bool (*ready)(void *), void *arg, const struct timespec *dl);

void apc__deadline_after_ms(struct timespec *ts, uint32_t ms);
bool apc__deadline_passed(const struct timespec *deadline);

#endif /* APC_POSIX_INTERNAL_H */
