/*
 * The fallback I/O engine, for systems without io_uring (old kernels,
 * kernel.io_uring_disabled, seccomp profiles that refuse it).
 *
 * Regular files: io.c runs the operation in the calling thread (a
 * blocking pread/pwrite), so it always finishes at once and still
 * notifies through its route (E10); nothing reaches this file.  On the
 * page cache that is the fastest possible way; an uncached read blocks
 * the caller for the disk, which the README states.
 *
 * Streams (pipes, sockets, other descriptors): io.c tries the operation
 * without blocking first; what would block is queued here, reads and
 * writes each in order on their handle, and one engine thread waits in
 * epoll_wait for the descriptors that have queued work.  When one is
 * ready it moves as much as it can, under the handle's io_lock, and
 * completes the requests that finished (apc__io_done) after the lock.
 * A cancel takes a request that is still queued off its queue, and io.c
 * completes it with ERROR_OPERATION_ABORTED.
 *
 * Lifetime: a handle in the epoll set holds a reference.  Only the engine
 * thread removes a handle from the set and drops that reference (after
 * the batch of events that may still name it), when io.c forgets the
 * handle at its last close.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "io-internal.h"

static apc__lock start_lock = APC__LOCK_INIT;
static int epfd = -1, wakefd = -1;
static atomic_bool ok;

/* Handles to drop from the epoll set (under forget_lock). */
static apc__lock forget_lock = APC__LOCK_INIT;
static struct forget {
	struct forget *next;
	struct apc__file *f;
} * forgotten;

static char wake_marker;

/* Under f->io_lock: watch f for what its queues need. */
static void interest(struct apc__file *f)
{
	uint32_t ev = (f->rq ? EPOLLIN : 0u) | (f->wq ? EPOLLOUT : 0u);
	struct epoll_event e = {.events = ev, .data.ptr = f};

	if ((ev == f->ep_events && f->ep_added) || f->closed)
		return;
	if (!f->ep_added) {
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, f->fd, &e) == 0) {
			f->ep_added = true;
			apc__object_ref(&f->hdr);
		}
	} else {
		epoll_ctl(epfd, EPOLL_CTL_MOD, f->fd, &e);
	}
	f->ep_events = ev;
}

/* Under f->io_lock: move what can move; finished requests go on *done,
 * each with its result in ->bytes (as an int32_t). */
static void run_queue(struct apc__io **head, struct apc__io **tail,
		      struct apc__io **done)
{
	struct apc__io *req;

	while ((req = *head)) {
		int32_t n = apc__io_try(req);

		if (n == -EAGAIN)
			return;
		if (n > 0 && req->op == APC__IO_WRITE) {
			req->done += (uint32_t)n;
			if (req->done < req->len)
				continue; /* the rest when there is room */
			n = (int32_t)req->done;
		}
		*head = req->qnext;
		if (!*head)
			*tail = NULL;
		req->bytes = (uint32_t)n;
		req->qnext = *done;
		*done = req;
	}
}

static void forget_pending(void)
{
	struct forget *list, *n;

	apc__lock_take(&forget_lock);
	list = forgotten;
	forgotten = NULL;
	apc__lock_give(&forget_lock);
	while ((n = list)) {
		struct apc__file *f = n->f;

		list = n->next;
		apc__object_unref(&f->hdr);
		free(n);
	}
}

static void *engine_thread(void *arg)
{
	struct epoll_event ev[64];

	(void)arg;
	for (;;) {
		int n = epoll_wait(epfd, ev, 64, -1);
		bool forget = false;

		for (int i = 0; i < n; i++) {
			struct apc__file *f = ev[i].data.ptr;
			struct apc__io *done = NULL, *req;

			if ((void *)f == &wake_marker) {
				uint64_t v;

				(void)!read(wakefd, &v, sizeof(v));
				forget = true;
				continue;
			}
			apc__lock_take(&f->io_lock);
			run_queue(&f->rq, &f->rq_tail, &done);
			run_queue(&f->wq, &f->wq_tail, &done);
			if (f->ep_added)
				interest(f);
			apc__lock_give(&f->io_lock);
			while ((req = done)) {
				done = req->qnext;
				apc__io_done(req, (int32_t)req->bytes, false);
			}
		}
		if (forget)
			forget_pending();
	}
	return NULL;
}

/*
 * Start the engine thread, once; a start that fails (no descriptors, no
 * memory, no thread) is tried again by the next caller.  Returns 0 or the
 * error.
 */
static uint32_t start(void)
{
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = &wake_marker};
	pthread_attr_t attr;
	pthread_t pt;
	uint32_t st = 0;

	if (atomic_load_explicit(&ok, memory_order_acquire))
		return 0;
	apc__lock_take(&start_lock);
	if (atomic_load_explicit(&ok, memory_order_relaxed))
		goto out;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (epfd < 0 || wakefd < 0 ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, wakefd, &e) < 0) {
		st = apc__errno_to_error(errno);
		goto fail;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&pt, &attr, engine_thread, NULL) == 0) {
		pthread_attr_destroy(&attr);
		atomic_store_explicit(&ok, true, memory_order_release);
		goto out;
	}
	pthread_attr_destroy(&attr);
	st = APC_ERROR_NOT_ENOUGH_MEMORY;
fail:
	if (epfd >= 0)
		close(epfd);
	if (wakefd >= 0)
		close(wakefd);
	epfd = wakefd = -1;
out:
	apc__lock_give(&start_lock);
	return st;
}

static uint32_t fb_submit(struct apc__io *req)
{
	struct apc__file *f = req->file;
	uint32_t st = start();

	if (st)
		return st;
	apc__lock_take(&f->io_lock);
	req->qnext = NULL;
	if (req->op == APC__IO_READ) {
		if (f->rq_tail)
			f->rq_tail->qnext = req;
		else
			f->rq = req;
		f->rq_tail = req;
	} else {
		if (f->wq_tail)
			f->wq_tail->qnext = req;
		else
			f->wq = req;
		f->wq_tail = req;
	}
	interest(f);
	apc__lock_give(&f->io_lock);
	return 0;
}

/* Under io_lock: take req off its queue if it is still there. */
static bool unqueue(struct apc__io **head, struct apc__io **tail,
		    struct apc__io *req)
{
	struct apc__io **p, *prev = NULL;

	for (p = head; *p; prev = *p, p = &(*p)->qnext) {
		if (*p != req)
			continue;
		*p = req->qnext;
		if (*tail == req)
			*tail = prev;
		return true;
	}
	return false;
}

static bool fb_cancel(struct apc__io *req)
{
	struct apc__file *f = req->file;
	bool found = req->op == APC__IO_READ
			     ? unqueue(&f->rq, &f->rq_tail, req)
			     : unqueue(&f->wq, &f->wq_tail, req);

	if (found && f->ep_added)
		interest(f);
	return found;
}

static void fb_forget(struct apc__file *f)
{
	struct forget *n;
	uint64_t one = 1;

	if (!atomic_load_explicit(&ok, memory_order_acquire))
		return;
	apc__lock_take(&f->io_lock);
	if (!f->ep_added || !(n = malloc(sizeof(*n)))) {
		apc__lock_give(&f->io_lock);
		return;
	}
	/* Out of the set now; the set's reference is dropped by the engine
	 * thread, after any batch of events that may still name f. */
	epoll_ctl(epfd, EPOLL_CTL_DEL, f->fd, NULL);
	f->ep_added = false;
	f->ep_events = 0;
	apc__lock_give(&f->io_lock);
	n->f = f;
	apc__lock_take(&forget_lock);
	n->next = forgotten;
	forgotten = n;
	apc__lock_give(&forget_lock);
	(void)!write(wakefd, &one, sizeof(one));
}

const struct apc__io_engine apc__io_fallback = {
	.name = "fallback",
	.submit = fb_submit,
	.cancel = fb_cancel,
	.forget = fb_forget,
};
