/*
 * I/O completion ports (contract section F).
 *
 * A port is a dispatcher object (so apc_wait works on its handle) with
 * three things of its own, all under the object's lock:
 *
 *  - a FIFO list of packets (F9).  A packet is 32 bytes from per-thread
 *    magazines (see "packets" below), so a post to a port nobody waits on
 *    costs no system call and, in the steady state, no malloc;
 *  - a LIFO list of the threads blocked in apc_port_get(_many), the
 *    "getters" (F10): a new getter goes to the head, and packets are
 *    handed to the head;
 *  - the concurrency accounting (F23): `running` counts the threads
 *    associated with the port that apcrt sees running, and a getter is
 *    handed a packet only while running < concurrency.
 *
 * Hand-off.  A packet posted while a getter may take it goes straight to
 * that getter: the dispatcher (whoever posts, or frees a concurrency
 * slot) unlinks the getter, detaches up to its count of packets from the
 * head of the queue, counts the getter as running on its behalf (as
 * KeInsertQueue does), publishes `state` and rings its doorbell.  Such a
 * packet never makes the port signalled, so a thread waiting on the port
 * handle is not woken for it (F25, Windows 10 1607 and later).  The
 * getter copies the packets out and frees them itself, after taking the
 * port lock once: the dispatcher rings under that lock, so the getter
 * (and its thread object) cannot go away under the ring.
 *
 * Association (F22).  Each thread has, in thread-local storage, the port
 * it is associated with (holding a reference on it) and whether it is
 * counted in that port's `running`.  A call to get on a port associates
 * the thread with it and uncounts it; every return from get counts it
 * again (the dispatcher already did for a hand-off); the thread is
 * uncounted while it is parked in an apcrt wait (wait.c calls
 * apc__port_thread_block / _unblock around the park, and around a
 * non-alertable apc_sleep) and for good when it ends (thread.c calls
 * apc__port_thread_exit, G9).  Freeing a slot hands queued packets to
 * the most recent getter, as KiActivateWaiterQueue does.  apcrt cannot see
 * a thread block anywhere else (F24).
 *
 * Closing (F14, F25, F26).  When the last handle to the port is closed,
 * the port is marked closed: its queued packets are freed, every getter
 * is released with ERROR_ABANDONED_WAIT_0, the handle becomes signalled
 * for good (releasing threads that wait on it), and packets queued later
 * by the I/O engine (apc__port_queue, for handles still bound to the
 * port) are discarded.  The object itself lives on while bound handles,
 * associated threads or waiters hold references.
 *
 * Lock order: a port's lock (with apc__wait_all_lock first when the port
 * has wait-all waiters, apc__object_lock), then the packet pool's lock
 * (mag.c).
 * No path holds two port locks.
 */
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

/* ---- packets ------------------------------------------------------------ */

struct packet {
	struct packet *next;
	uintptr_t key;
	apc_overlapped *ov;
	uint32_t status; /* NT status */
	uint32_t bytes;
};

/* Packets are posted on one thread and freed on another (the getter):
 * they are recycled through magazines as APC nodes are (mag.c). */
static struct apc__mag_pool packet_pool = APC__MAG_POOL(struct packet);

/* ---- per-thread state --------------------------------------------------- */

struct apc__port;

struct port_tls {
	struct apc__port *port;	       /* associated port, with a reference */
	bool counted;		       /* counted in port->running */
	bool parked;		       /* uncounted by apc__port_thread_block */
	struct apc__mag_cache packets; /* packet magazines (mag.c) */
};

static _Thread_local struct port_tls port_tls
	__attribute__((tls_model("initial-exec")));

static struct packet *packet_alloc(void)
{
	return apc__mag_alloc(&packet_pool, &port_tls.packets);
}

static void packet_free(struct packet *n)
{
	apc__mag_free(&packet_pool, &port_tls.packets, n);
}

static void packet_free_chain(struct packet *n)
{
	while (n) {
		struct packet *next = n->next;

		packet_free(n);
		n = next;
	}
}

/* ---- NT status and Win32 error ----------------------------------------- */

/* STATUS_BUFFER_OVERFLOW (a warning: more data in a message-mode pipe),
 * STATUS_NO_MEMORY and STATUS_PIPE_DISCONNECTED, which io.h does not
 * name. */
#define STATUS_BUFFER_OVERFLOW 0x80000005u
#define STATUS_NO_MEMORY 0xC0000017u
#define STATUS_PIPE_DISCONNECTED 0xC00000B0u

static const struct {
	uint32_t status, error;
} status_map[] = {
	{APC_STATUS_PENDING, APC_ERROR_IO_PENDING},
	{APC_STATUS_INVALID_HANDLE, APC_ERROR_INVALID_HANDLE},
	{APC_STATUS_INVALID_PARAMETER, APC_ERROR_INVALID_PARAMETER},
	{APC_STATUS_END_OF_FILE, APC_ERROR_HANDLE_EOF},
	{APC_STATUS_ACCESS_DENIED, APC_ERROR_ACCESS_DENIED},
	{APC_STATUS_CANCELLED, APC_ERROR_OPERATION_ABORTED},
	{APC_STATUS_PIPE_BROKEN, APC_ERROR_BROKEN_PIPE},
	{STATUS_BUFFER_OVERFLOW, APC_ERROR_MORE_DATA},
	{STATUS_NO_MEMORY, APC_ERROR_NOT_ENOUGH_MEMORY},
	{STATUS_PIPE_DISCONNECTED, APC_ERROR_PIPE_NOT_CONNECTED},
};

#define STATUS_MAP_LEN (sizeof(status_map) / sizeof(status_map[0]))

uint32_t apc__ntstatus_to_error(uint32_t status)
{
	if (status == APC_STATUS_SUCCESS)
		return 0;
	for (size_t i = 0; i < STATUS_MAP_LEN; i++)
		if (status_map[i].status == status)
			return status_map[i].error;
	if ((status & 0xFFFF0000u) == 0xC0070000u && (status & 0xFFFFu))
		return status & 0xFFFFu;
	/* Other success and informational values (NT_SUCCESS) succeed; an
	 * unknown error must not read as success. */
	return (status & 0x80000000u) ? APC_ERROR_GEN_FAILURE : 0;
}

uint32_t apc__error_to_ntstatus(uint32_t error)
{
	if (error == 0)
		return APC_STATUS_SUCCESS;
	for (size_t i = 0; i < STATUS_MAP_LEN; i++)
		if (status_map[i].error == error)
			return status_map[i].status;
	return APC_NTSTATUS_FROM_WIN32(error);
}

/* ---- the port object ----------------------------------------------------- */

enum { GETTER_WAITING, GETTER_SERVED, GETTER_CLOSED };

/* A thread blocked in apc_port_get(_many), on its stack. */
struct getter {
	struct getter *prev, *next; /* in port->getters; under the lock */
	struct apc__thread *thread;
	uint32_t max;		/* packets it takes at most */
	uint32_t got;		/* written by the dispatcher before state */
	struct packet *chain;	/* the packets handed to it, oldest first */
	_Atomic uint32_t state; /* GETTER_*; seq_cst against the doorbell */
};

struct apc__port {
	struct apc__object hdr;

	/* Under hdr.lock. */
	struct packet *head, *tail;
	struct getter *getters; /* most recent first (F10) */
	uint32_t concurrency;
	uint32_t running; /* associated threads counted as running */
	bool closed;	  /* the last handle was closed */
};

bool apc__port_signalled(struct apc__object *obj)
{
	struct apc__port *p = (struct apc__port *)obj;

	return p->head || p->closed;
}

static void getter_push(struct apc__port *p, struct getter *g)
{
	g->prev = NULL;
	g->next = p->getters;
	if (p->getters)
		p->getters->prev = g;
	p->getters = g;
}

static void getter_unlink(struct apc__port *p, struct getter *g)
{
	if (g->prev)
		g->prev->next = g->next;
	else
		p->getters = g->next;
	if (g->next)
		g->next->prev = g->prev;
}

/* Under the lock: detach up to max packets from the head (FIFO). */
static struct packet *take(struct apc__port *p, uint32_t max, uint32_t *got)
{
	struct packet *first = p->head, *last = first;
	uint32_t k = 1;

	while (k < max && last->next) {
		last = last->next;
		k++;
	}
	p->head = last->next;
	if (!p->head)
		p->tail = NULL;
	last->next = NULL;
	*got = k;
	return first;
}

/*
 * Served getters to wake once the port lock is released: a wake-up is a
 * system call when the getter sleeps, and making it under the lock kept
 * every other poster and getter waiting that long.  Each entry holds a
 * reference, so the thread object outlives the ring even if the getter
 * has already seen its packets and gone; a ring that finds the thread
 * running, or in a later wait, costs at most a spurious wake-up, which
 * every wait tolerates.
 */
#define WAKES_MAX 8
struct wakes {
	unsigned int n;
	struct apc__thread *t[WAKES_MAX];
};

static void wakes_run(struct wakes *w)
{
	for (unsigned int i = 0; i < w->n; i++) {
		apc__doorbell_ring(w->t[i], false);
		apc__object_unref(&w->t[i]->hdr);
	}
	w->n = 0;
}

/*
 * Under the lock: hand queued packets to the most recent getters while
 * the concurrency value allows (F10, F23); their wake-ups go in w (or
 * are made here when w is full).
 */
static void dispatch(struct apc__port *p, struct wakes *w)
{
	while (p->head && p->getters && p->running < p->concurrency) {
		struct getter *g = p->getters;
		struct apc__thread *t = g->thread;

		getter_unlink(p, g);
		g->chain = take(p, g->max, &g->got);
		p->running++; /* on the getter's behalf */
		atomic_store_explicit(&g->state, GETTER_SERVED,
				      memory_order_seq_cst);
		if (w->n < WAKES_MAX) {
			apc__object_ref(&t->hdr);
			w->t[w->n++] = t;
		} else {
			apc__doorbell_ring(t, false);
		}
	}
}

/* Under the lock: count / uncount the calling thread (associated with p). */
static void count_self(struct apc__port *p)
{
	if (port_tls.port == p && !port_tls.counted) {
		p->running++;
		port_tls.counted = true;
	}
}

static void uncount_self(struct apc__port *p)
{
	if (port_tls.port == p && port_tls.counted) {
		p->running--;
		port_tls.counted = false;
	}
}

/* End the calling thread's association, freeing its slot (G9, F22). */
static void dissociate(void)
{
	struct apc__port *p = port_tls.port;
	struct wakes w = {0};
	bool all;

	if (!p)
		return;
	all = apc__object_lock(&p->hdr);
	if (port_tls.counted) {
		p->running--;
		dispatch(p, &w);
	}
	apc__object_unlock(&p->hdr, all);
	wakes_run(&w);
	port_tls.port = NULL;
	port_tls.counted = false;
	port_tls.parked = false;
	apc__object_unref(&p->hdr);
}

static void associate(struct apc__port *p)
{
	dissociate();
	apc__object_ref(&p->hdr);
	port_tls.port = p;
}

void apc__port_thread_block(void)
{
	struct apc__port *p = port_tls.port;
	struct wakes w = {0};
	bool all;

	if (!p || !port_tls.counted)
		return;
	all = apc__object_lock(&p->hdr);
	p->running--;
	port_tls.counted = false;
	port_tls.parked = true;
	dispatch(p, &w);
	apc__object_unlock(&p->hdr, all);
	wakes_run(&w);
}

void apc__port_thread_unblock(void)
{
	struct apc__port *p = port_tls.port;
	bool all;

	if (!port_tls.parked)
		return;
	port_tls.parked = false;
	all = apc__object_lock(&p->hdr);
	count_self(p);
	apc__object_unlock(&p->hdr, all);
}

void apc__port_thread_exit(void)
{
	dissociate();
}

/* The last handle is gone: release everyone, discard everything. */
static void port_last_handle(struct apc__object *obj)
{
	struct apc__port *p = (struct apc__port *)obj;
	struct packet *chain;
	struct getter *g;
	bool all;

	all = apc__object_lock(&p->hdr);
	p->closed = true;
	chain = p->head;
	p->head = p->tail = NULL;
	while ((g = p->getters)) {
		struct apc__thread *t = g->thread;

		getter_unlink(p, g);
		g->chain = NULL;
		g->got = 0;
		atomic_store_explicit(&g->state, GETTER_CLOSED,
				      memory_order_seq_cst);
		apc__doorbell_ring(t, false);
	}
	/* Signalled for good: threads waiting on the handle go (F25). */
	if (p->hdr.waiters)
		apc__object_wake(&p->hdr);
	apc__object_unlock(&p->hdr, all);
	packet_free_chain(chain);
}

static void port_destroy(struct apc__object *obj)
{
	struct apc__port *p = (struct apc__port *)obj;

	packet_free_chain(p->head);
	free(p);
}

uint32_t apc_port_create(uint32_t concurrency, apc_handle *out)
{
	struct apc__port *p;
	uint32_t st;

	if (!out)
		return APC_ERROR_INVALID_PARAMETER;
	*out = NULL;
	if (concurrency == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		concurrency = n > 0 ? (uint32_t)n : 1;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	apc__object_init(&p->hdr, APC__TYPE_PORT, port_destroy);
	p->hdr.last_handle = port_last_handle;
	p->concurrency = concurrency;
	st = apc__handle_new(&p->hdr, out);
	apc__object_unref(&p->hdr); /* the handle holds it now, or nothing */
	return st;
}

/* ---- queuing ------------------------------------------------------------- */

uint32_t apc__port_queue(struct apc__object *port, uintptr_t key,
			 apc_overlapped *ov, uint32_t ntstatus, uint32_t bytes)
{
	struct apc__port *p = (struct apc__port *)port;
	struct packet *n = packet_alloc();
	struct wakes w = {0};
	bool all;

	if (!n)
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	n->next = NULL;
	n->key = key;
	n->ov = ov;
	n->status = ntstatus;
	n->bytes = bytes;

	all = apc__object_lock(&p->hdr);
	if (p->closed) {
		/* Nobody can dequeue it any more (F26). */
		apc__object_unlock(&p->hdr, all);
		packet_free(n);
		return 0;
	}
	if (p->tail)
		p->tail->next = n;
	else
		p->head = n;
	p->tail = n;
	dispatch(p, &w);
	/* Still queued: the port is signalled (F25).  Threads waiting on
	 * the handle are all released (waiting removes nothing). */
	if (p->head && p->hdr.waiters)
		apc__object_wake(&p->hdr);
	apc__object_unlock(&p->hdr, all);
	wakes_run(&w);
	return 0;
}

uint32_t apc_port_post(apc_handle port, uint32_t bytes, uintptr_t key,
		       apc_overlapped *ov)
{
	struct apc__pin pin;
	struct apc__object *obj = apc__handle_pin(port, APC__TYPE_PORT, &pin);
	uint32_t st;

	if (!obj)
		return APC_ERROR_INVALID_HANDLE; /* F21 */
	st = apc__port_queue(obj, key, ov, APC_STATUS_SUCCESS, bytes);
	apc__handle_unpin(&pin);
	return st;
}

/* ---- dequeuing ----------------------------------------------------------- */

/*
 * Spinning before parking, as wait.c does and for the same reason (waking
 * a parked thread costs tens of microseconds on a VM): a getter polls its
 * state for up to spin_ns first.  It is already linked as a getter while
 * it spins, so a post hands it the packet and finds its doorbell running:
 * no system call on either side.  APC_SPIN_NS sets it as for wait.c.
 */
static bool getter_ready(struct apc__thread *t, struct getter *g,
			 bool alertable)
{
	return atomic_load_explicit(&g->state, memory_order_seq_cst) !=
		       GETTER_WAITING ||
	       (alertable && apc__apcs_ready(t));
}

struct getter_ctx {
	struct apc__thread *t;
	struct getter *g;
	bool alertable;
};

static bool getter_ready_cb(void *arg)
{
	struct getter_ctx *c = arg;

	return getter_ready(c->t, c->g, c->alertable);
}

/* Copy a chain of packets to the caller's entries and free them. */
static void deliver(apc_overlapped_entry *out, struct packet *n)
{
	for (; n; out++) {
		struct packet *next = n->next;

		out->lpCompletionKey = n->key;
		out->lpOverlapped = n->ov;
		out->Internal = n->status;
		out->dwNumberOfBytesTransferred = n->bytes;
		packet_free(n);
		n = next;
	}
}

/* How a blocked get ended. */
enum { GOT_PACKETS, GOT_CLOSED, GOT_APCS, GOT_TIMEOUT };

/*
 * Block as a getter until served, closed, APCs (alertable) or the
 * deadline.  The caller linked g and holds a reference on p.
 */
static int getter_wait(struct apc__thread *t, struct apc__port *p,
		       struct getter *g, bool alertable,
		       const struct timespec *dl)
{
	bool spun = apc__spin_ns == 0, all;
	int why;

	for (;;) {
		if (atomic_load_explicit(&g->state, memory_order_seq_cst) !=
		    GETTER_WAITING)
			break;
		why = -1;
		if (alertable && apc__apcs_ready(t))
			why = GOT_APCS;
		else if (dl && apc__deadline_passed(dl))
			why = GOT_TIMEOUT;
		if (why >= 0) {
			/* Leave, unless a dispatcher served us first. */
			all = apc__object_lock(&p->hdr);
			if (atomic_load_explicit(&g->state,
						 memory_order_relaxed) ==
			    GETTER_WAITING) {
				getter_unlink(p, g);
				count_self(p);
				apc__object_unlock(&p->hdr, all);
				return why;
			}
			apc__object_unlock(&p->hdr, all);
			break;
		}
		if (!spun) {
			spun = true;
			struct getter_ctx c = {t, g, alertable};

			if (apc__spin(getter_ready_cb, &c, dl))
				continue;
		}
		apc__doorbell_arm(t, alertable);
		if (!getter_ready(t, g, alertable))
			apc__doorbell_park(t, dl);
		apc__doorbell_disarm(t);
	}
	/* The dispatcher wrote g under the lock: wait for it to let go. */
	all = apc__object_lock(&p->hdr);
	apc__object_unlock(&p->hdr, all);
	if (atomic_load_explicit(&g->state, memory_order_acquire) ==
	    GETTER_CLOSED)
		return GOT_CLOSED;
	/* The dispatcher counted us as running. */
	if (port_tls.port == p)
		port_tls.counted = true;
	return GOT_PACKETS;
}

/*
 * The one dequeue: up to n packets into out.  Returns 0 with *removed
 * set, APC_WAIT_TIMEOUT, APC_WAIT_IO_COMPLETION, APC_ERROR_ABANDONED_WAIT_0
 * or APC_ERROR_INVALID_HANDLE.
 */
static uint32_t port_get(apc_handle h, apc_overlapped_entry *out, uint32_t n,
			 uint32_t *removed, uint32_t ms, bool alertable)
{
	struct timespec deadline, *dl = NULL;
	struct apc__thread *t = apc__thread_current();
	struct packet *chain;
	struct apc__port *p;
	struct apc__pin pin;
	struct getter g;
	bool all;
	int why;

	*removed = 0;
	if (!t)
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	if (ms != APC_INFINITE && ms != 0) {
		apc__deadline_after_ms(&deadline, ms);
		dl = &deadline;
	}
restart:
	p = (struct apc__port *)apc__handle_pin(h, APC__TYPE_PORT, &pin);
	if (!p)
		return APC_ERROR_INVALID_HANDLE;
	/*
	 * F18: a thread not associated with this port runs its APCs before
	 * it looks at the packets, and that call does not associate it.
	 */
	if (alertable && port_tls.port != p && apc__apcs_ready(t)) {
		apc__handle_unpin(&pin);
		if (apc__queue_run(t))
			return APC_WAIT_IO_COMPLETION;
		goto restart;
	}
	if (port_tls.port != p)
		associate(p);

	all = apc__object_lock(&p->hdr);
	uncount_self(p);
	if (p->head && p->running < p->concurrency) {
		/* A thread that calls again takes a queued packet at once,
		 * without blocking (F23). */
		chain = take(p, n, removed);
		count_self(p);
		apc__object_unlock(&p->hdr, all);
		apc__handle_unpin(&pin);
		deliver(out, chain);
		return 0;
	}
	why = -1;
	if (alertable && apc__apcs_ready(t))
		why = GOT_APCS;
	else if (ms == 0 || (dl && apc__deadline_passed(dl)))
		why = GOT_TIMEOUT;
	if (why < 0) {
		g.thread = t;
		g.max = n;
		g.got = 0;
		g.chain = NULL;
		atomic_init(&g.state, GETTER_WAITING);
		getter_push(p, &g);
		/* Blocking: trade the pin (apc_close waits for pins) for a
		 * reference. */
		apc__object_ref(&p->hdr);
	} else {
		count_self(p);
	}
	apc__object_unlock(&p->hdr, all);
	apc__handle_unpin(&pin);

	if (why < 0) {
		why = getter_wait(t, p, &g, alertable, dl);
		if (why == GOT_PACKETS) {
			*removed = g.got;
			deliver(out, g.chain);
		} else if (why == GOT_CLOSED && port_tls.port == p) {
			dissociate(); /* F22: the port is gone */
		}
		apc__object_unref(&p->hdr);
	}
	switch (why) {
	case GOT_PACKETS:
		return 0;
	case GOT_CLOSED:
		return APC_ERROR_ABANDONED_WAIT_0; /* F14, F16 */
	case GOT_TIMEOUT:
		return APC_WAIT_TIMEOUT; /* F13 */
	default:
		/* F17: nothing is held while APCs run.  A queue that held
		 * only voided internal calls sends us back. */
		if (apc__queue_run(t))
			return APC_WAIT_IO_COMPLETION;
		goto restart;
	}
}

uint32_t apc_port_get(apc_handle port, uint32_t *bytes, uintptr_t *key,
		      apc_overlapped **ov, uint32_t ms)
{
	apc_overlapped_entry e;
	uint32_t removed, st;

	/* NULL outputs are skipped, as the win32 backend does. */
	st = port_get(port, &e, 1, &removed, ms, false);
	if (st) {
		if (ov)
			*ov = NULL; /* F13, F14 */
		return st;
	}
	if (bytes)
		*bytes = e.dwNumberOfBytesTransferred;
	if (key)
		*key = e.lpCompletionKey;
	if (ov)
		*ov = e.lpOverlapped;
	return apc__ntstatus_to_error((uint32_t)e.Internal); /* F11, F12 */
}

uint32_t apc_port_get_many(apc_handle port, apc_overlapped_entry *entries,
			   uint32_t n, uint32_t *removed, uint32_t ms,
			   bool alertable)
{
	uint32_t dummy;

	if (!removed)
		removed = &dummy;
	if (!entries || n == 0) {
		*removed = 0;
		return APC_ERROR_INVALID_PARAMETER;
	}
	return port_get(port, entries, n, removed, ms, alertable);
}
