/*
 * The io_uring I/O engine.
 *
 * io.c first tries every operation without blocking (a regular file's
 * read from the page cache, a pipe with data or room): that finishes at
 * the cost of a pread.  What would block comes here.
 *
 * Completion routines (apc_read_ex / apc_write_ex) run on the issuing
 * thread, so their operations go on that thread's own ring and that
 * thread reaps them: no other thread is involved between the kernel and
 * the routine (DESIGN.md).  The ring is made on the thread's first such
 * operation.  Its alertable waits reap it (apc__uring_reap, which turns
 * each completion into a routine call on the APC queue), and when it has
 * operations in flight they sleep in io_uring_enter instead of the futex
 * (apc__uring_park).  Another thread that must wake it (an APC, an object
 * signal) writes to an eventfd that a multishot poll on the ring watches
 * (apc__uring_wake): one write(), as a futex wake is one system call.
 * The other way, IORING_OP_MSG_RING from a process-wide sender ring that
 * posts a completion straight into the sleeper's ring, is also built
 * (APC_URING_WAKE=msgring) and measured by bench-pingpong-io; the
 * eventfd is the default because it measured as fast or faster (README),
 * needs no lock among wakers, and works on kernels before 5.18.
 *
 * Submissions.  Outside APCs an operation is submitted at once (one
 * io_uring_enter), so a peer never waits on an operation the caller
 * believes started.  Operations started by routines and APCs are batched
 * and submitted when the thread's APC run ends or it sleeps: a chain of
 * routines that each start the next read costs one system call per batch,
 * as a hand-written liburing loop does.  A routine that blocks outside
 * apcrt after starting an operation delays that operation's start until
 * it returns (README).
 *
 * Event, port and polling completions (apc_read / apc_write with an
 * OVERLAPPED) must finish even if the issuing thread never waits again,
 * or ends (G7), so they go on one process-wide ring reaped by an engine
 * thread.  The engine thread also submits them: the kernel cancels a
 * task's io_uring requests when the task exits, so a request submitted
 * by the issuing thread would die with it.  Issuers queue requests on
 * eng_q and ring the engine's eventfd when the queue was empty.
 *
 * Cancellation submits IORING_OP_ASYNC_CANCEL on the request's ring, from
 * any thread (rings are not single-issuer; submissions take sq_lock).
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "io-internal.h"

#define TAG_DOORBELL 1u
#define TAG_CANCEL 2u
#define TAG_MSG 3u

/* Per-thread ring: SQ entries, and CQ entries (the in-flight limit). */
#define THREAD_SQ 256u
#define THREAD_CQ 4096u
#define ENGINE_SQ 1024u

struct apc__uring {
	struct io_uring ring;
	apc__lock sq_lock; /* the SQ: owner and cancellers */
	int efd;	   /* the doorbell, polled on the ring */
	atomic_uint sleeping;
	bool poll_armed;   /* owner only */
	bool queued;	   /* owner: SQEs prepared, not yet submitted */
	bool live;	   /* ring set up, not yet torn down */
	uint32_t inflight; /* owner only: operations on the ring */
};

/* How sleepers in a ring are woken: false, the eventfd; true, MSG_RING
 * from the sender ring (under its sq_lock). */
static bool wake_msg;
static struct apc__uring sender;

static struct apc__uring eng;
static apc__lock eng_start_lock = APC__LOCK_INIT;
static atomic_bool eng_ok;

/* Requests for the engine thread to submit. */
static apc__lock eng_q_lock = APC__LOCK_INIT;
static struct apc__io *eng_q, *eng_q_tail;

/* ---- the probe --------------------------------------------------------- */

static apc__lock probe_lock = APC__LOCK_INIT;
static atomic_int probed; /* 0 not yet, 1 usable, -1 not usable */

static int ring_init(struct io_uring *ring, unsigned sq, unsigned cq)
{
	struct io_uring_params p;

	/*
	 * No IORING_SETUP_COOP_TASKRUN: with it, finishing a request (and
	 * dropping its file) waits until the issuing thread next enters the
	 * kernel, so a pipe whose handle was closed stayed open, seen from
	 * its peer, for as long as that thread slept in a futex.
	 */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = cq;
	return io_uring_queue_init_params(sq, ring, &p);
}

/* Out of descriptors or memory: says nothing about io_uring. */
static bool transient(int r)
{
	return r == -EMFILE || r == -ENFILE || r == -ENOMEM || r == -EAGAIN;
}

static int probe(void)
{
	static const int ops[] = {IORING_OP_READ, IORING_OP_WRITE,
				  IORING_OP_POLL_ADD, IORING_OP_ASYNC_CANCEL};
	struct io_uring_probe *pr;
	struct io_uring ring;
	bool ok;
	int r;

	r = ring_init(&ring, 4, 8);
	if (r < 0) /* ENOSYS, EPERM (sysctl, seccomp): no io_uring */
		return transient(r) ? r : -1;
	/* Multishot polls and timeouts in io_uring_enter (5.13, 5.11), and
	 * completions never dropped. */
	pr = io_uring_get_probe_ring(&ring);
	ok = pr && (ring.features & IORING_FEAT_NODROP) &&
	     (ring.features & IORING_FEAT_EXT_ARG);
	for (unsigned i = 0; ok && i < sizeof(ops) / sizeof(ops[0]); i++)
		ok = io_uring_opcode_supported(pr, ops[i]);
	if (ok && io_uring_opcode_supported(pr, IORING_OP_MSG_RING)) {
		const char *w = getenv("APC_URING_WAKE");

		wake_msg = w && !strcmp(w, "msgring") &&
			   ring_init(&sender.ring, 64, 128) == 0;
	}
	if (pr)
		io_uring_free_probe(pr);
	io_uring_queue_exit(&ring);
	return ok ? 1 : -1;
}

int apc__io_uring_probe(void)
{
	int p = atomic_load_explicit(&probed, memory_order_acquire);

	if (p)
		return p;
	apc__lock_take(&probe_lock);
	p = atomic_load_explicit(&probed, memory_order_relaxed);
	if (!p) {
		p = probe();
		/* A transient failure is not remembered: the next call
		 * probes again. */
		if (p == 1 || p == -1)
			atomic_store_explicit(&probed, p, memory_order_release);
	}
	apc__lock_give(&probe_lock);
	return p;
}

/* ---- submissions ------------------------------------------------------- */

/* Under r->sq_lock: an SQE, submitting what is queued if the SQ is full. */
static struct io_uring_sqe *sqe_get(struct apc__uring *r)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(&r->ring)))
		io_uring_submit(&r->ring);
	return sqe;
}

static void prep(struct io_uring_sqe *sqe, struct apc__io *req)
{
	struct apc__file *f = req->file;
	uint64_t off = f->kind == APC__IO_FILE && !req->append
			       ? req->off + req->done
			       : (uint64_t)-1;

	if (f->kind == APC__IO_NPIPE)
		/* A framed stream (npipe.c): wait for data, then npipe.c
		 * takes its part (cqe_req). */
		io_uring_prep_poll_add(sqe, f->fd, POLLIN);
	else if (req->op == APC__IO_READ)
		io_uring_prep_read(sqe, f->fd, req->buf + req->done,
				   req->len - req->done, off);
	else
		io_uring_prep_write(sqe, f->fd, req->buf + req->done,
				    req->len - req->done, off);
	if (req->append)
		sqe->rw_flags = RWF_APPEND;
	io_uring_sqe_set_data(sqe, req);
}

/* Owner: submit what routines and APCs queued. */
void apc__uring_flush(struct apc__thread *t)
{
	struct apc__uring *r = t->ring;

	if (!r || !r->queued)
		return;
	r->queued = false;
	apc__lock_take(&r->sq_lock);
	io_uring_submit(&r->ring);
	apc__lock_give(&r->sq_lock);
}

bool apc__uring_batching(struct apc__thread *t)
{
	struct apc__uring *r = t->ring;

	/* In a completion routine, with more APCs after this one, or a
	 * batch begun. */
	return apc__tls.apc_depth && (!r || r->live) &&
	       (t->local_head || (r && r->queued));
}

/* The calling thread's ring, made on first need: 0, or the error (its
 * ring torn down at exit, or no descriptors or memory to make one). */
static uint32_t thread_ring(struct apc__thread *t, struct apc__uring **out)
{
	struct apc__uring *r = t->ring;
	int e;

	*out = r;
	if (r)
		return r->live ? 0 : APC_ERROR_GEN_FAILURE;
	r = calloc(1, sizeof(*r));
	if (!r)
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->efd < 0) {
		e = errno;
		free(r);
		return apc__errno_to_error(e);
	}
	e = ring_init(&r->ring, THREAD_SQ, THREAD_CQ);
	if (e < 0) {
		close(r->efd);
		free(r);
		return apc__errno_to_error(-e);
	}
	r->live = true;
	atomic_store_explicit((_Atomic(struct apc__uring *) *)&t->ring, r,
			      memory_order_release);
	apc__tls.has_ring = true; /* t is the calling thread */
	*out = r;
	return 0;
}

static void eng_reap_batch(void);

/* Engine thread: arm the doorbell poll (again). */
static void eng_arm(void)
{
	struct io_uring_sqe *sqe;

	apc__lock_take(&eng.sq_lock);
	sqe = sqe_get(&eng);
	io_uring_prep_poll_multishot(sqe, eng.efd, POLLIN);
	io_uring_sqe_set_data64(sqe, TAG_DOORBELL);
	io_uring_submit(&eng.ring);
	apc__lock_give(&eng.sq_lock);
	eng.poll_armed = true;
}

/* Engine thread: submit what issuers queued. */
static void eng_take(void)
{
	struct apc__io *req;
	uint64_t v;

	(void)!read(eng.efd, &v, sizeof(v));
	apc__lock_take(&eng_q_lock);
	req = eng_q;
	eng_q = eng_q_tail = NULL;
	apc__lock_give(&eng_q_lock);
	while (req) {
		struct apc__io *next = req->qnext;
		struct apc__file *f = req->file;
		bool cancelled;

		/*
		 * Under the file's io_lock, as a cancel is: either the cancel
		 * came first and the request ends here, or it is in the ring
		 * before the cancel's ASYNC_CANCEL is submitted.
		 */
		apc__lock_take(&f->io_lock);
		cancelled = __atomic_load_n(&req->cancelled, __ATOMIC_RELAXED);
		if (!cancelled) {
			apc__lock_take(&eng.sq_lock);
			prep(sqe_get(&eng), req);
			io_uring_submit(&eng.ring);
			apc__lock_give(&eng.sq_lock);
		}
		apc__lock_give(&f->io_lock);
		if (cancelled)
			apc__io_done(req, -ECANCELED, false);
		req = next;
	}
}

static void *eng_thread(void *arg)
{
	(void)arg;
	for (;;) {
		struct io_uring_cqe *cqe;

		if (!eng.poll_armed)
			eng_arm();
		if (io_uring_wait_cqe(&eng.ring, &cqe) == 0)
			eng_reap_batch();
	}
	return NULL;
}

/*
 * Start the engine thread and its ring, once; a start that fails (no
 * descriptors, no memory, no thread) is tried again by the next caller.
 * Returns 0 or the error.
 */
static uint32_t eng_start(void)
{
	pthread_attr_t attr;
	pthread_t pt;
	uint32_t st = 0;
	int r;

	if (atomic_load_explicit(&eng_ok, memory_order_acquire))
		return 0;
	apc__lock_take(&eng_start_lock);
	if (atomic_load_explicit(&eng_ok, memory_order_relaxed))
		goto out;
	eng.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (eng.efd < 0) {
		st = apc__errno_to_error(errno);
		goto out;
	}
	r = ring_init(&eng.ring, ENGINE_SQ, 8 * ENGINE_SQ);
	if (r < 0) {
		st = apc__errno_to_error(-r);
		close(eng.efd);
		goto out;
	}
	eng.live = true;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&pt, &attr, eng_thread, NULL);
	pthread_attr_destroy(&attr);
	if (r) {
		eng.live = false;
		io_uring_queue_exit(&eng.ring);
		close(eng.efd);
		st = APC_ERROR_NOT_ENOUGH_MEMORY;
		goto out;
	}
	atomic_store_explicit(&eng_ok, true, memory_order_release);
out:
	apc__lock_give(&eng_start_lock);
	return st;
}

static uint32_t uring_submit(struct apc__io *req)
{
	struct apc__uring *r;
	uint32_t st;

	if (req->mode == APC__IO_ROUTINE) {
		struct apc__thread *t = req->thread;

		st = thread_ring(t, &r);
		if (st)
			return st;
		if (r->inflight >= THREAD_CQ)
			return APC_ERROR_NOT_ENOUGH_MEMORY; /* E24 */
		req->ring = r;
		r->inflight++;
		apc__lock_take(&r->sq_lock);
		prep(sqe_get(r), req);
		/* Inside an APC run: batch (see the top of the file). */
		if (apc__tls.apc_depth)
			r->queued = true;
		else
			io_uring_submit(&r->ring);
		apc__lock_give(&r->sq_lock);
		return 0;
	}
	st = eng_start();
	if (st)
		return st;
	apc__lock_take(&eng_q_lock);
	req->qnext = NULL;
	if (eng_q_tail) {
		eng_q_tail->qnext = req;
		eng_q_tail = req;
		req = NULL; /* the engine is already told */
	} else {
		eng_q = eng_q_tail = req;
	}
	apc__lock_give(&eng_q_lock);
	if (req) {
		uint64_t one = 1;

		(void)!write(eng.efd, &one, sizeof(one));
	}
	return 0;
}

static bool uring_cancel(struct apc__io *req)
{
	struct apc__uring *r = req->mode == APC__IO_ROUTINE ? req->ring : &eng;
	struct io_uring_sqe *sqe;

	apc__lock_take(&r->sq_lock);
	sqe = sqe_get(r);
	io_uring_prep_cancel(sqe, req, 0);
	io_uring_sqe_set_data64(sqe, TAG_CANCEL);
	io_uring_submit(&r->ring);
	apc__lock_give(&r->sq_lock);
	return false; /* the CQE ends it: cancelled, or done first (E43) */
}

static void uring_forget(struct apc__file *f)
{
	(void)f; /* the rings hold their own file references */
}

/* ---- completions ------------------------------------------------------- */

/*
 * One CQE of request req.  A stream write that moved part goes on with
 * the rest (Windows finishes a pipe write whole).  Returns whether the
 * request ended.
 */
static bool cqe_req(struct apc__uring *r, struct apc__io *req, int32_t res,
		    bool owner)
{
	if (req->file->kind == APC__IO_NPIPE && res >= 0) {
		/* A named-pipe read's poll: take the data, or wait again.
		 * The cancelled flag is read under sq_lock, which a cancel
		 * takes after setting it: a poll armed again is found. */
		res = apc__io_try(req);
		if (res == -EAGAIN) {
			apc__lock_take(&r->sq_lock);
			if (!__atomic_load_n(&req->cancelled,
					     __ATOMIC_RELAXED)) {
				prep(sqe_get(r), req);
				io_uring_submit(&r->ring);
				apc__lock_give(&r->sq_lock);
				return false;
			}
			apc__lock_give(&r->sq_lock);
			res = -ECANCELED;
		}
		apc__io_done(req, res, owner);
		return true;
	}
	if (res > 0 && req->op == APC__IO_WRITE &&
	    req->done + (uint32_t)res < req->len &&
	    !__atomic_load_n(&req->cancelled, __ATOMIC_RELAXED)) {
		req->done += (uint32_t)res;
		apc__lock_take(&r->sq_lock);
		prep(sqe_get(r), req);
		io_uring_submit(&r->ring);
		apc__lock_give(&r->sq_lock);
		return false;
	}
	if (res >= 0)
		res += (int32_t)req->done;
	apc__io_done(req, res, owner);
	return true;
}

static void eng_reap_batch(void)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	bool take = false;

	io_uring_for_each_cqe(&eng.ring, head, cqe)
	{
		uint64_t tag = io_uring_cqe_get_data64(cqe);

		n++;
		if (tag == TAG_DOORBELL) {
			take = true;
			if (!(cqe->flags & IORING_CQE_F_MORE))
				eng.poll_armed = false;
		} else if (tag > TAG_MSG) {
			cqe_req(&eng, (struct apc__io *)(uintptr_t)tag,
				cqe->res, false);
		}
	}
	io_uring_cq_advance(&eng.ring, n);
	if (take)
		eng_take();
}

bool apc__uring_reap(struct apc__thread *t)
{
	struct apc__uring *r = t->ring;
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	bool any = false;

	if (!r || !r->live)
		return false;
	apc__uring_flush(t);
	io_uring_for_each_cqe(&r->ring, head, cqe)
	{
		uint64_t tag = io_uring_cqe_get_data64(cqe);

		n++;
		if (tag == TAG_DOORBELL) {
			if (!(cqe->flags & IORING_CQE_F_MORE))
				r->poll_armed = false;
		} else if (tag > TAG_MSG) {
			if (cqe_req(r, (struct apc__io *)(uintptr_t)tag,
				    cqe->res, true)) {
				r->inflight--;
				any = true;
			}
		}
	}
	io_uring_cq_advance(&r->ring, n);
	return any;
}

bool apc__uring_park(struct apc__thread *t, const struct timespec *deadline)
{
	struct apc__uring *r = t->ring;
	struct __kernel_timespec ts, *tsp = NULL;
	struct io_uring_cqe *cqe;

	if (!r || !r->live || !r->inflight)
		return false;
	if (!r->poll_armed && !wake_msg) {
		struct io_uring_sqe *sqe;

		apc__lock_take(&r->sq_lock);
		sqe = sqe_get(r);
		io_uring_prep_poll_multishot(sqe, r->efd, POLLIN);
		io_uring_sqe_set_data64(sqe, TAG_DOORBELL);
		apc__lock_give(&r->sq_lock);
		r->poll_armed = true;
	}
	/* Pairs with apc__doorbell_ring: either it sees sleeping, or we
	 * see RUNG (both sequentially consistent). */
	atomic_store_explicit(&r->sleeping, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&t->doorbell, memory_order_seq_cst) !=
	    APC__DB_RUNG) {
		if (deadline) {
			struct timespec now;
			int64_t ns;

			clock_gettime(CLOCK_MONOTONIC, &now);
			ns = (int64_t)(deadline->tv_sec - now.tv_sec) *
				     1000000000 +
			     (deadline->tv_nsec - now.tv_nsec);
			if (ns < 0)
				ns = 0;
			ts.tv_sec = ns / 1000000000;
			ts.tv_nsec = ns % 1000000000;
			tsp = &ts;
		}
		r->queued = false;
		apc__lock_take(&r->sq_lock);
		if (io_uring_sq_ready(&r->ring))
			io_uring_submit(&r->ring);
		apc__lock_give(&r->sq_lock);
		/* Wait (unlocked: cancellers may submit meanwhile). */
		io_uring_wait_cqes(&r->ring, &cqe, 1, tsp, NULL);
	}
	atomic_store_explicit(&r->sleeping, 0, memory_order_relaxed);
	return true;
}

bool apc__uring_wake(struct apc__thread *t)
{
	struct apc__uring *r = atomic_load_explicit(
		(_Atomic(struct apc__uring *) *)&t->ring, memory_order_acquire);
	uint64_t one = 1;

	if (!r || !atomic_load_explicit(&r->sleeping, memory_order_seq_cst))
		return false;
	if (wake_msg) {
		struct io_uring_sqe *sqe;

		/* A stale ring descriptor (the sleeper ended meanwhile)
		 * fails the message; a reused one gets a wake-up it
		 * ignores. */
		apc__lock_take(&sender.sq_lock);
		sqe = sqe_get(&sender);
		io_uring_prep_msg_ring(sqe, r->ring.ring_fd, 0, TAG_MSG, 0);
		io_uring_sqe_set_data64(sqe, TAG_CANCEL);
		io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS);
		io_uring_submit(&sender.ring);
		/* Failures still post completions: drop them. */
		io_uring_cq_advance(&sender.ring,
				    io_uring_cq_ready(&sender.ring));
		apc__lock_give(&sender.sq_lock);
		return true;
	}
	(void)!write(r->efd, &one, sizeof(one));
	return true;
}

/* At exit, once its operations have ended: the ring goes; the eventfd
 * stays until the thread object goes (a late ringer may write to it). */
void apc__uring_thread_exit(struct apc__thread *t)
{
	struct apc__uring *r = t->ring;

	if (!r || !r->live)
		return;
	r->live = false;
	io_uring_queue_exit(&r->ring);
}

/* Owner at exit: wait a little for one completion on the ring. */
bool apc__uring_wait_some(struct apc__thread *t)
{
	struct apc__uring *r = t->ring;
	struct __kernel_timespec ts = {0, 10000000};
	struct io_uring_cqe *cqe;

	if (!r || !r->live || !r->inflight)
		return false;
	apc__uring_flush(t);
	io_uring_wait_cqe_timeout(&r->ring, &cqe, &ts);
	return true;
}

void apc__uring_thread_free(struct apc__thread *t)
{
	struct apc__uring *r = t->ring;

	if (!r)
		return;
	if (r->live)
		io_uring_queue_exit(&r->ring);
	close(r->efd);
	free(r);
}

const struct apc__io_engine apc__io_uring = {
	.name = "uring",
	.submit = uring_submit,
	.cancel = uring_cancel,
	.forget = uring_forget,
};
