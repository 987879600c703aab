/*
 * Thread objects.
 *
 * Every thread that uses apcrt has one struct apc__thread: threads made
 * by apc_thread_create get it before they start, any other pthread is
 * adopted the first time it needs one (it queues to itself, waits
 * alertably, asks for its own handle).  The thread holds one reference on
 * its own object; handles hold the others.
 *
 * Exit processing runs in the destructor of a pthread key, which covers a
 * start routine returning, apc_thread_exit (pthread_exit) and a foreign
 * pthread ending.  It closes the APC queue (later producers get
 * ERROR_GEN_FAILURE) and frees what the queue held unrun (G1), then
 * publishes the exit code, marks the object signalled and wakes the
 * threads waiting on it (C45, C47), and finally drops the thread's own
 * reference: the object lives on, signalled and queryable, while handles
 * to it are open (G10).
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

_Thread_local struct apc__tls apc__tls
	__attribute__((tls_model("initial-exec")));

static void thread_destroy(struct apc__object *obj)
{
	struct apc__thread *t = (struct apc__thread *)obj;

	if (t->sync_efd >= 0)
		close(t->sync_efd);
	apc__uring_thread_free(t);
	free(obj);
}

static void thread_exit_processing(void *arg);

static void make_exit_key(void)
{
	if (pthread_key_create(&exit_key, thread_exit_processing) != 0)
		abort(); /* only at EAGAIN for keys: nothing can work then */
}

static uint32_t current_tid(void)
{
	if (!apc__tls.tid)
		apc__tls.tid = (uint32_t)syscall(SYS_gettid);
	return apc__tls.tid;
}

static struct apc__thread *thread_new(void)
{
	struct apc__thread *t =
		aligned_alloc(APC__CACHELINE, sizeof(struct apc__thread));

	if (!t)
		return NULL;
	memset(t, 0, sizeof(*t));
	apc__object_init(&t->hdr, APC__TYPE_THREAD, thread_destroy);
	atomic_init(&t->head, NULL);
	atomic_init(&t->doorbell, APC__DB_RUNNING);
	atomic_init(&t->pending, 0);
	atomic_init(&t->suspended, 0);
	atomic_init(&t->exited, 0);
	atomic_init(&t->owned_lock.v, 0);
	t->owned = NULL;
	t->sync_efd = -1;
	return t;
}

/* Bind t to the calling pthread: TLS pointer and exit destructor. */
static void bind_self(struct apc__thread *t)
{
	pthread_once(&exit_key_once, make_exit_key);
	__atomic_store_n(&t->tid, current_tid(), __ATOMIC_RELEASE);
	apc__tls.self = t;
	pthread_setspecific(exit_key, t);
}

struct apc__thread *apc__thread_adopt(void)
{
	struct apc__thread *t = thread_new();

	if (t)
		bind_self(t);
	return t;
}

struct apc__thread *apc__thread_get(apc_handle h)
{
	struct apc__thread *t;

	if (h == APC_CURRENT_THREAD) {
		t = apc__thread_current();
		if (t)
			apc__object_ref(&t->hdr);
		return t;
	}
	return (struct apc__thread *)apc__handle_get(h, APC__TYPE_THREAD);
}

/*
 * Exit processing, in the order the contract needs (C47, G8): abandon the
 * mutexes the thread owns, discard its APCs, and only then make the
 * thread object signalled, so that a thread woken by it sees all of that.
 */
static void thread_exit_processing(void *arg)
{
	struct apc__thread *t = arg;
	bool all;

	apc__port_thread_exit(); /* G9: leave the completion port */
	apc__io_thread_exit(t);	 /* G6: end its I/O */
	apc__mutexes_abandon(t);
	apc__queue_close(t);
	apc__apc_cache_drain();
	apc__io_cache_drain();

	all = apc__object_lock(&t->hdr);
	atomic_store_explicit(&t->exited, 1, memory_order_release);
	apc__object_wake(&t->hdr);
	apc__object_unlock(&t->hdr, all);

	apc__tls.self = NULL;
	apc__object_unref(&t->hdr);
}

static void *trampoline(void *arg)
{
	struct apc__thread *t = arg;

	bind_self(t);
	/* Created suspended: run nothing until apc_thread_resume (M6). */
	while (atomic_load_explicit(&t->suspended, memory_order_acquire))
		syscall(SYS_futex, &t->suspended,
			FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 1, NULL, NULL, 0);
	/* APCs queued before the start run before the routine (A12). */
	apc__queue_run(t);
	t->exit_code = t->start_fn(t->start_arg);
	return NULL;
}

uint32_t apc_thread_create(apc_thread_fn fn, void *arg, size_t stack_size,
			   uint32_t flags, apc_handle *out, uint32_t *tid)
{
	struct apc__thread *t;
	pthread_attr_t attr;
	pthread_t pt;
	uint32_t st;
	int rc;

	if (out)
		*out = NULL;
	if (!fn || !out || (flags & ~APC_THREAD_SUSPENDED))
		return APC_ERROR_INVALID_PARAMETER;
	t = thread_new();
	if (!t)
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	t->start_fn = fn;
	t->start_arg = arg;
	atomic_store_explicit(&t->suspended,
			      (flags & APC_THREAD_SUSPENDED) ? 1 : 0,
			      memory_order_relaxed);
	st = apc__handle_new(&t->hdr, out);
	if (st) {
		apc__object_unref(&t->hdr);
		return st;
	}

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (stack_size) {
		if (stack_size < (size_t)PTHREAD_STACK_MIN)
			stack_size = (size_t)PTHREAD_STACK_MIN;
		pthread_attr_setstacksize(&attr, stack_size);
	}
	/*
	 * The new thread owns the reference made by thread_new; the handle
	 * owns its own.  The tid is known only once the thread runs, so it
	 * is read back from the thread below.
	 */
	rc = pthread_create(&pt, &attr, trampoline, t);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		apc__handle_close(*out);
		*out = NULL;
		apc__object_unref(&t->hdr);
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	}
	if (tid)
		*tid = apc_thread_id(*out);
	return 0;
}

uint32_t apc_thread_resume(apc_handle thread, uint32_t *prev_count)
{
	struct apc__thread *t = apc__thread_get(thread);
	unsigned one = 1;

	if (!t)
		return APC_ERROR_INVALID_HANDLE;
	if (atomic_compare_exchange_strong_explicit(&t->suspended, &one, 0,
						    memory_order_release,
						    memory_order_relaxed)) {
		syscall(SYS_futex, &t->suspended,
			FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, NULL, NULL, 0);
		if (prev_count)
			*prev_count = 1;
	} else if (prev_count) {
		*prev_count = 0;
	}
	apc__object_unref(&t->hdr);
	return 0;
}

uint32_t apc_thread_self(apc_handle *out)
{
	struct apc__thread *t;

	if (!out)
		return APC_ERROR_INVALID_PARAMETER;
	*out = NULL;
	t = apc__thread_current();
	if (!t)
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	return apc__handle_new(&t->hdr, out);
}

void apc_thread_exit(uint32_t code)
{
	struct apc__thread *t = apc__thread_current();

	if (t)
		t->exit_code = code;
	pthread_exit(NULL);
}

uint32_t apc_thread_exit_code(apc_handle thread, uint32_t *code)
{
	struct apc__thread *t;

	if (!code)
		return APC_ERROR_INVALID_PARAMETER;
	t = apc__thread_get(thread);
	if (!t)
		return APC_ERROR_INVALID_HANDLE;
	if (atomic_load_explicit(&t->exited, memory_order_acquire))
		*code = t->exit_code;
	else
		*code = APC_STILL_ACTIVE;
	apc__object_unref(&t->hdr);
	return 0;
}

uint32_t apc_thread_id(apc_handle thread)
{
	struct apc__thread *t;
	uint32_t id;

	if (thread == APC_CURRENT_THREAD)
		return current_tid();
	t = apc__thread_get(thread);
	if (!t)
		return 0;
	/* Wait for a just-created thread to publish its tid. */
	while ((id = __atomic_load_n(&t->tid, __ATOMIC_ACQUIRE)) == 0)
		sched_yield();
	apc__object_unref(&t->hdr);
	return id;
}

uint32_t apc_close(apc_handle handle)
{
	if (handle == APC_CURRENT_THREAD || handle == APC_CURRENT_PROCESS)
		return 0;
	return apc__handle_close(handle);
}

uint32_t apc_handle_duplicate(apc_handle src, uint32_t options, apc_handle *out)
{
	struct apc__object *obj;
	uint32_t st;

	if (out)
		*out = NULL;
	if (options &
	    ~(APC_DUPLICATE_CLOSE_SOURCE | APC_DUPLICATE_SAME_ACCESS)) {
		st = APC_ERROR_INVALID_PARAMETER;
		goto close_source;
	}
	if (src == APC_CURRENT_THREAD) {
		struct apc__thread *t = apc__thread_get(src);

		obj = t ? &t->hdr : NULL;
	} else {
		obj = apc__handle_get(src, 0);
	}
	if (!obj)
		return APC_ERROR_INVALID_HANDLE;
	st = out ? apc__handle_new(obj, out) : APC_ERROR_INVALID_PARAMETER;
	apc__object_unref(obj);
close_source:
	/* DUPLICATE_CLOSE_SOURCE closes the source even on failure (M5). */
	if (options & APC_DUPLICATE_CLOSE_SOURCE)
		(void)apc_close(src);
	return st;
}

/*
 * Reserve a place under the queue limit (A23).  Returns false when the
 * limit is reached; otherwise marks the node as counted if a limit is set.
 */
static bool reserve_place(struct apc__thread *t, struct apc__apc *n)
{
	uint32_t limit =
		atomic_load_explicit(&apc__queue_limit, memory_order_relaxed);

	n->counted = 0;
	if (!limit)
		return true;
	if (atomic_fetch_add_explicit(&t->pending, 1, memory_order_relaxed) >=
	    limit) {
		atomic_fetch_sub_explicit(&t->pending, 1, memory_order_relaxed);
		return false;
	}
	n->counted = 1;
	return true;
}

static inline uint32_t queue_to(struct apc__thread *t, apc_fn fn,
				uintptr_t data, bool to_self)
{
	struct apc__apc *n = apc__apc_alloc();

	if (!n)
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	n->fn = fn;
	n->ifn = NULL;
	n->data = data;
	if (!reserve_place(t, n)) {
		apc__apc_free(n);
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	}
	if (to_self) {
		/* The caller is t, running: no atomics, nobody to wake. */
		apc__queue_push_self(t, n);
		return 0;
	}
	if (!apc__queue_push(t, n)) {
		if (n->counted)
			atomic_fetch_sub_explicit(&t->pending, 1,
						  memory_order_relaxed);
		apc__apc_free(n);
		return APC_ERROR_GEN_FAILURE;
	}
	apc__doorbell_ring(t, true);
	return 0;
}

static struct apc__apc *internal_node(apc__internal_fn ifn, uintptr_t data)
{
	struct apc__apc *n = apc__apc_alloc();

	if (n) {
		n->fn = NULL;
		n->ifn = ifn;
		n->data = data;
		n->counted = 0;
	}
	return n;
}

uint32_t apc__queue_internal(struct apc__thread *t, apc__internal_fn ifn,
			     uintptr_t data)
{
	struct apc__apc *n = internal_node(ifn, data);

	if (!n)
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	if (!apc__queue_push(t, n)) {
		apc__apc_free(n);
		return APC_ERROR_GEN_FAILURE;
	}
	apc__doorbell_ring(t, true);
	return 0;
}

uint32_t apc__queue_internal_self(struct apc__thread *t, apc__internal_fn ifn,
				  uintptr_t data)
{
	struct apc__apc *n = internal_node(ifn, data);

	if (!n)
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	apc__queue_push_self(t, n);
	return 0;
}

uint32_t apc_queue(apc_handle thread, apc_fn fn, uintptr_t data)
{
	struct apc__thread *t;
	uint32_t st;

	if (!fn)
		return APC_ERROR_INVALID_PARAMETER;
	if (thread == APC_CURRENT_THREAD) {
		/* No reference needed: the caller is the thread. */
		t = apc__thread_current();
		return t ? queue_to(t, fn, data, true)
			 : APC_ERROR_NOT_ENOUGH_MEMORY;
	}
	t = (struct apc__thread *)apc__handle_get(thread, APC__TYPE_THREAD);
	if (!t)
		return APC_ERROR_INVALID_HANDLE;
	st = queue_to(t, fn, data, t == apc__tls.self);
	apc__object_unref(&t->hdr);
	return st;
}

void apc_set_queue_limit(uint32_t max_pending)
{
	atomic_store_explicit(&apc__queue_limit, max_pending,
			      memory_order_relaxed);
}

uint32_t apc_last_error(void)
{
	return apc__tls.last_error;
}

void apc_set_last_error(uint32_t error)
{
	apc__tls.last_error = error;
}
