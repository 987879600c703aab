/*
 * Overlapped I/O: I/O handles, requests, completion delivery, the API.
 * See io-internal.h for a request's life; the engines are io-uring.c and
 * io-fallback.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io-internal.h"

/* ---- the engine -------------------------------------------------------- */

static apc__lock engine_lock = APC__LOCK_INIT;
static atomic_bool engine_decided;
static const struct apc__io_engine *engine; /* NULL: none can run */

/*
 * A write to a pipe or socket whose reader is gone raises SIGPIPE in the
 * writing thread (io_uring's inline writes included); Win32 code expects
 * an error instead (N2).  Unless the application installed its own
 * handler, apcrt ignores the signal.
 */
static void ignore_sigpipe(void)
{
	struct sigaction sa;

	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
		sa.sa_handler = SIG_IGN;
		sigaction(SIGPIPE, &sa, NULL);
	}
}

/*
 * The engine, decided by the first call that needs one: APC_ENGINE, else
 * io_uring where it can be set up, else the fallback.  NULL when none can
 * run, with *err: APC_ERROR_NOT_SUPPORTED for good (APC_ENGINE names an
 * engine that cannot run here, or none), or a transient error when the
 * probe itself found no descriptor or memory (nothing is decided then;
 * the next call probes again).
 */
static const struct apc__io_engine *engine_get(uint32_t *err)
{
	const char *want;
	int p = 1;

	*err = APC_ERROR_NOT_SUPPORTED;
	if (atomic_load_explicit(&engine_decided, memory_order_acquire))
		return engine;
	apc__lock_take(&engine_lock);
	if (atomic_load_explicit(&engine_decided, memory_order_relaxed))
		goto out;
	ignore_sigpipe();
	want = getenv("APC_ENGINE");
	if (!want || !*want) {
		p = apc__io_uring_probe();
		engine = p == 1 ? &apc__io_uring : &apc__io_fallback;
	} else if (!strcmp(want, "uring")) {
		p = apc__io_uring_probe();
		engine = p == 1 ? &apc__io_uring : NULL;
	} else {
		engine = !strcmp(want, "fallback") ? &apc__io_fallback : NULL;
	}
	if (p < -1) {
		engine = NULL;
		*err = apc__errno_to_error(-p);
		apc__lock_give(&engine_lock);
		return NULL;
	}
	atomic_store_explicit(&engine_decided, true, memory_order_release);
out:
	apc__lock_give(&engine_lock);
	return engine;
}

const char *apc_io_engine(void)
{
	uint32_t err;
	const struct apc__io_engine *e = engine_get(&err);

	return e ? e->name : NULL;
}

uint32_t apc__errno_to_error(int e)
{
	switch (e) {
	case 0:
		return 0;
	case ENOENT:
	case ENOTDIR:
		return APC_ERROR_FILE_NOT_FOUND;
	case EACCES:
	case EPERM:
	case EISDIR:
	case EROFS:
		return APC_ERROR_ACCESS_DENIED;
	case EBADF:
		return APC_ERROR_INVALID_HANDLE;
	case ENOMEM:
	case ENOBUFS:
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	case EMFILE:
	case ENFILE:
		return APC_ERROR_TOO_MANY_OPEN_FILES;
	case EEXIST:
		return APC_ERROR_FILE_EXISTS;
	case EPIPE:
		return APC_ERROR_NO_DATA;
	case ECONNRESET:
		return APC_ERROR_BROKEN_PIPE;
	case ENOTCONN: /* a named pipe's server disconnected (npipe.c) */
		return APC_ERROR_PIPE_NOT_CONNECTED;
	case ENOSPC:
	case EDQUOT:
		return APC_ERROR_DISK_FULL;
	case ECANCELED:
		return APC_ERROR_OPERATION_ABORTED;
	case EFAULT:
		return APC_ERROR_NOACCESS;
	case ENAMETOOLONG:
		return APC_ERROR_INVALID_NAME;
	default:
		return APC_ERROR_GEN_FAILURE;
	}
}

/* ---- I/O handles ------------------------------------------------------- */

bool apc__file_signalled(struct apc__object *obj)
{
	return ((struct apc__file *)obj)->signalled;
}

static void file_destroy(struct apc__object *obj)
{
	struct apc__file *f = (struct apc__file *)obj;

	if (f->fd >= 0)
		close(f->fd);
	if (f->port)
		apc__object_unref(f->port);
	if (f->np)
		apc__npipe_free(f);
	free(f);
}

static void cancel_matching(struct apc__file *f, struct apc__thread *t,
			    apc_overlapped *ov, bool unbound, unsigned *found);

/* The last handle is closing: end every operation in flight (E46). */
static void file_last_handle(struct apc__object *obj)
{
	struct apc__file *f = (struct apc__file *)obj;
	unsigned found = 0;

	if (f->np)
		apc__npipe_last_handle(f);
	cancel_matching(f, NULL, NULL, false, &found);
	if (engine)
		engine->forget(f);
	if (f->kind == APC__IO_NPIPE && engine != &apc__io_fallback)
		apc__io_fallback.forget(f); /* its writes that waited there */
	/* The descriptor goes now, so that the peer of a pipe or socket sees
	 * the close at once; requests still finishing hold the object, not
	 * the descriptor (io_uring keeps its own file reference). */
	apc__lock_take(&f->io_lock);
	f->closed = true;
	close(f->fd);
	f->fd = -1;
	apc__lock_give(&f->io_lock);
}

uint32_t apc__file_make(int fd, uint8_t kind, bool overlapped, bool readable,
			bool writable, struct apc__file **fout, apc_handle *out)
{
	struct apc__file *f;
	uint32_t r;

	if (!engine_get(&r)) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		if (fd >= 0)
			close(fd);
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	}
	apc__object_init(&f->hdr, APC__TYPE_FILE, file_destroy);
	f->hdr.last_handle = file_last_handle;
	f->fd = fd;
	f->kind = kind;
	f->overlapped = overlapped;
	f->readable = readable;
	f->writable = writable;
	r = apc__handle_new(&f->hdr, out);
	if (fout)
		*fout = r ? NULL : f;
	apc__object_unref(&f->hdr);
	return r;
}

static uint32_t file_new(int fd, bool overlapped, apc_handle *out)
{
	struct apc__file *f;
	struct stat st;
	int fl;
	uint32_t r;

	if (!engine_get(&r)) {
		close(fd);
		return r;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fstat(fd, &st) < 0) {
		r = apc__errno_to_error(errno);
		close(fd);
		return r;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		close(fd);
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	}
	apc__object_init(&f->hdr, APC__TYPE_FILE, file_destroy);
	f->hdr.last_handle = file_last_handle;
	f->fd = fd;
	f->overlapped = overlapped;
	f->readable = (fl & O_ACCMODE) != O_WRONLY && !(fl & O_PATH);
	f->writable = (fl & O_ACCMODE) != O_RDONLY;
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
		f->kind = APC__IO_FILE;
	else if (S_ISFIFO(st.st_mode))
		f->kind = APC__IO_PIPE;
	else if (S_ISSOCK(st.st_mode))
		f->kind = APC__IO_SOCKET;
	else
		f->kind = APC__IO_OTHER;
	/* Streams are non-blocking: operations are tried, then waited for
	 * by the engine; synchronous calls poll (sync_io). */
	if (f->kind != APC__IO_FILE && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	r = apc__handle_new(&f->hdr, out);
	apc__object_unref(&f->hdr);
	return r;
}

uint32_t apc_handle_from_fd(int fd, uint32_t flags, apc_handle *out)
{
	if (!out) {
		if (fd >= 0)
			close(fd);
		return APC_ERROR_INVALID_PARAMETER;
	}
	*out = NULL;
	if (fd < 0)
		return APC_ERROR_INVALID_HANDLE;
	return file_new(fd, flags & APC_FILE_FLAG_OVERLAPPED, out);
}

uint32_t apc_file_open(const char *path, uint32_t access, uint32_t disposition,
		       uint32_t flags, apc_handle *out)
{
	int oflags = O_CLOEXEC, fd;
	bool rd = access & APC_GENERIC_READ, wr = access & APC_GENERIC_WRITE;

	if (!out)
		return APC_ERROR_INVALID_PARAMETER;
	*out = NULL;
	if (!path || (access & ~(APC_GENERIC_READ | APC_GENERIC_WRITE)))
		return APC_ERROR_INVALID_PARAMETER;
	oflags |= rd && wr ? O_RDWR : wr ? O_WRONLY : O_RDONLY;
	switch (disposition) {
	case APC_CREATE_NEW:
		oflags |= O_CREAT | O_EXCL;
		break;
	case APC_CREATE_ALWAYS:
		oflags |= O_CREAT | O_TRUNC;
		break;
	case APC_OPEN_EXISTING:
		break;
	case APC_OPEN_ALWAYS:
		oflags |= O_CREAT;
		break;
	case APC_TRUNCATE_EXISTING:
		if (!wr)
			return APC_ERROR_INVALID_PARAMETER;
		oflags |= O_TRUNC;
		break;
	default:
		return APC_ERROR_INVALID_PARAMETER;
	}
	fd = open(path, oflags, 0666);
	if (fd < 0)
		return apc__errno_to_error(errno);
	if (!rd && !wr) {
		/* No access asked: the handle takes no reads or writes. */
		uint32_t r =
			file_new(fd, flags & APC_FILE_FLAG_OVERLAPPED, out);
		struct apc__file *f;

		if (r)
			return r;
		f = (struct apc__file *)apc__handle_get(*out, APC__TYPE_FILE);
		f->readable = false;
		apc__object_unref(&f->hdr);
		return 0;
	}
	return file_new(fd, flags & APC_FILE_FLAG_OVERLAPPED, out);
}

uint32_t apc_pipe_create(apc_handle *rd, apc_handle *wr, uint32_t size)
{
	int fds[2];
	uint32_t r;

	if (!rd || !wr)
		return APC_ERROR_INVALID_PARAMETER;
	*rd = *wr = NULL;
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return apc__errno_to_error(errno);
	if (size)
		fcntl(fds[1], F_SETPIPE_SZ, (int)size); /* a hint */
	/* N1: on POSIX both ends also take overlapped operations. */
	r = file_new(fds[0], true, rd);
	if (r) {
		close(fds[1]);
		return r;
	}
	r = file_new(fds[1], true, wr);
	if (r) {
		apc_close(*rd);
		*rd = NULL;
	}
	return r;
}

/* ---- requests ---------------------------------------------------------- */

/*
 * Every request in flight, by OVERLAPPED address, so that a second
 * submission with an OVERLAPPED still in use is refused (E13) whatever
 * handle it names.  Striped: a submission takes one bucket lock.
 */
#define REG_SIZE 256u
static struct {
	apc__lock lock;
	struct apc__io *head;
} reg[REG_SIZE];

static unsigned reg_bucket(const apc_overlapped *ov)
{
	uintptr_t a = (uintptr_t)ov;

	return (unsigned)((a >> 5) ^ (a >> 13)) & (REG_SIZE - 1);
}

/* Enter req; false if its OVERLAPPED is already in flight. */
static bool reg_enter(struct apc__io *req)
{
	unsigned b = reg_bucket(req->ov);
	struct apc__io *q;

	apc__lock_take(&reg[b].lock);
	for (q = reg[b].head; q; q = q->hnext) {
		if (q->ov == req->ov) {
			apc__lock_give(&reg[b].lock);
			return false;
		}
	}
	req->hnext = reg[b].head;
	reg[b].head = req;
	apc__lock_give(&reg[b].lock);
	return true;
}

/* Is an operation with this OVERLAPPED in flight? */
static bool reg_busy(const apc_overlapped *ov)
{
	unsigned b = reg_bucket(ov);
	struct apc__io *q;

	apc__lock_take(&reg[b].lock);
	for (q = reg[b].head; q && q->ov != ov; q = q->hnext)
		;
	apc__lock_give(&reg[b].lock);
	return q != NULL;
}

static void reg_leave(struct apc__io *req)
{
	unsigned b = reg_bucket(req->ov);
	struct apc__io **p;

	apc__lock_take(&reg[b].lock);
	for (p = &reg[b].head; *p && *p != req; p = &(*p)->hnext)
		;
	if (*p)
		*p = req->hnext;
	apc__lock_give(&reg[b].lock);
}

static void thread_link(struct apc__io *req)
{
	struct apc__thread *t = req->thread;

	apc__lock_take(&t->io_lock);
	req->tprev = NULL;
	req->tnext = t->io_reqs;
	if (t->io_reqs)
		t->io_reqs->tprev = req;
	t->io_reqs = req;
	apc__lock_give(&t->io_lock);
}

static void thread_unlink(struct apc__io *req)
{
	struct apc__thread *t = req->thread;

	apc__lock_take(&t->io_lock);
	if (req->tprev)
		req->tprev->tnext = req->tnext;
	else
		t->io_reqs = req->tnext;
	if (req->tnext)
		req->tnext->tprev = req->tprev;
	apc__lock_give(&t->io_lock);
}

/*
 * Request records are recycled through a small per-thread cache (a
 * malloc and a free per operation were a tenth of a cached 4 KiB read).
 * The cache is emptied at the thread's exit (apc__io_thread_exit).
 */
#define REQ_CACHE 64u
static _Thread_local struct apc__io *req_cache
	__attribute__((tls_model("initial-exec")));
static _Thread_local uint32_t req_cached
	__attribute__((tls_model("initial-exec")));
/* Set once the thread has drained its cache at exit: frees go to free(). */
static _Thread_local bool req_cache_closed
	__attribute__((tls_model("initial-exec")));

/* Test hook (tests/test-io-faults.c): the next n allocations fail. */
static atomic_uint req_fail;

void apc__io_test_fail_alloc(unsigned n)
{
	atomic_store(&req_fail, n);
}

static struct apc__io *req_alloc(void)
{
	struct apc__io *req = req_cache;
	unsigned fail = atomic_load_explicit(&req_fail, memory_order_relaxed);

	while (fail &&
	       !atomic_compare_exchange_weak(&req_fail, &fail, fail - 1))
		;
	if (fail)
		return NULL;
	if (!req)
		return calloc(1, sizeof(*req));
	req_cache = req->qnext;
	req_cached--;
	memset(req, 0, sizeof(*req));
	return req;
}

static void req_free(struct apc__io *req)
{
	apc__object_unref(&req->file->hdr);
	if (req->event)
		apc__object_unref(req->event);
	if (req->linked)
		apc__object_unref(&req->thread->hdr);
	if (req_cached < REQ_CACHE && !req_cache_closed) {
		req->qnext = req_cache;
		req_cache = req;
		req_cached++;
		return;
	}
	free(req);
}

void apc__io_cache_drain(void)
{
	struct apc__io *req;

	req_cache_closed = true;
	while ((req = req_cache)) {
		req_cache = req->qnext;
		free(req);
	}
	req_cached = 0;
}

/* Under io_lock. */
static void req_unlink(struct apc__io *req)
{
	struct apc__file *f = req->file;

	if (req->prev)
		req->prev->next = req->next;
	else
		f->reqs = req->next;
	if (req->next)
		req->next->prev = req->prev;
	req->prev = req->next = NULL;
}

/* A completion routine, run as an APC on the issuing thread. */
static bool routine_apc(uintptr_t data, bool run)
{
	struct apc__io *req = (struct apc__io *)data;
	apc_io_fn fn = req->fn;
	apc_overlapped *ov = req->ov;
	uint32_t err = req->err, bytes = req->bytes;

	/* Everything is read and released before the routine is entered:
	 * it may free or reuse ov and its buffer (E17). */
	req_free(req);
	if (run) {
		/* In a routine, operations it starts may join a batch
		 * (apc__uring_batching). */
		apc__tls.apc_depth++;
		fn(err, bytes, ov);
		apc__tls.apc_depth--;
	}
	return run;
}

static void event_signal(struct apc__object *obj, bool on)
{
	bool all = apc__object_lock(obj);

	apc__event_state(obj, on);
	apc__object_unlock(obj, all);
}

static void file_signal(struct apc__file *f, bool on)
{
	bool all = apc__object_lock(&f->hdr);

	f->signalled = on;
	if (on)
		apc__object_wake(&f->hdr);
	apc__object_unlock(&f->hdr, all);
}

/*
 * A read that moved nothing: the end of a file (E26) or of a pipe whose
 * writers are gone (E27, N2), unless it asked for nothing; a named pipe
 * says itself when 0 bytes are a success (an empty message, a zero-byte
 * read that waited for data); a socket's end of stream is a success.
 */
static bool read_at_end(const struct apc__io *req, int32_t n)
{
	if (req->op != APC__IO_READ || n != 0)
		return false;
	if (req->file->kind == APC__IO_NPIPE)
		return !req->msg0;
	return req->len && req->file->kind != APC__IO_SOCKET;
}

void apc__io_done(struct apc__io *req, int32_t res, bool on_owner)
{
	struct apc__file *f = req->file;
	struct apc__thread *t = req->thread;
	struct apc__object *port;
	uint32_t status = APC_STATUS_SUCCESS, bytes = 0, err = 0;
	uintptr_t key;

	/* A stream write cancelled after it moved part reports a success
	 * with what it moved: those bytes are on their way, and a caller
	 * told "0 bytes, aborted" would send them twice (E43 allows the
	 * success).  A peer gone mid-write is an error, with 0 bytes (E16):
	 * nothing more will arrive. */
	if (res == -ECANCELED && req->op == APC__IO_WRITE && req->done)
		res = (int32_t)req->done;
	if (res >= 0) {
		bytes = (uint32_t)res;
		if (read_at_end(req, res))
			status = f->kind == APC__IO_FILE
					 ? APC_STATUS_END_OF_FILE
					 : APC_STATUS_PIPE_BROKEN;
	} else if (res == -ECANCELED &&
		   __atomic_load_n(&f->broken_on_cancel, __ATOMIC_RELAXED)) {
		status = APC_STATUS_PIPE_BROKEN; /* a named pipe closed (E46) */
	} else {
		err = apc__errno_to_error(-res);
		status = apc__error_to_ntstatus(err);
	}
	if (status == APC_STATUS_SUCCESS && req->more) {
		/* A message read in part: a warning with its bytes; the routine
		 * gets error 0, GetOverlappedResult ERROR_MORE_DATA (E29). */
		status = 0x80000005u; /* STATUS_BUFFER_OVERFLOW */
	} else if (status != APC_STATUS_SUCCESS) {
		err = apc__ntstatus_to_error(status);
		bytes = 0;
	}

	/* Out of the registry before Internal is final, so that a caller
	 * who sees it final can start the OVERLAPPED again (E13). */
	if (req->linked) {
		reg_leave(req);
		apc__lock_take(&f->io_lock);
		req_unlink(req);
		apc__lock_give(&f->io_lock);
	}
	/* The file holds its port for good (F26), and we hold the file; key
	 * is written before port is published. */
	port = req->no_port || req->mode == APC__IO_ROUTINE
		       ? NULL
		       : __atomic_load_n(&f->port, __ATOMIC_ACQUIRE);
	key = port ? f->key : 0;

	/* Published before any notification (E3); Offset is never
	 * written (E4). */
	req->ov->InternalHigh = bytes;
	atomic_store_explicit((_Atomic uintptr_t *)&req->ov->Internal, status,
			      memory_order_release);

	if (req->mode == APC__IO_ROUTINE) {
		uint32_t st;

		req->err = err;
		req->bytes = bytes;
		/* Off the thread's list only now: an ending thread waits for
		 * its list to empty, and its handle must find Internal final
		 * (G8).  Before the routine is queued: the owner may run it,
		 * and free req, at once. */
		if (req->linked)
			thread_unlink(req);
		/* A routine, no packet (F8). */
		if (on_owner) {
			st = apc__queue_internal_self(t, routine_apc,
						      (uintptr_t)req);
		} else {
			/* The reference req holds may go with the routine
			 * before the push has rung the doorbell. */
			apc__object_ref(&t->hdr);
			st = apc__queue_internal(t, routine_apc,
						 (uintptr_t)req);
			apc__object_unref(&t->hdr);
		}
		if (st)
			req_free(req); /* the thread has ended (G1, G6) */
		return;
	}
	if (req->event)
		event_signal(req->event, true);
	else if (!(__atomic_load_n(&f->modes, __ATOMIC_RELAXED) &
		   APC_FILE_SKIP_SET_EVENT_ON_HANDLE))
		file_signal(f, true);
	if (port)
		apc__port_queue(port, key, req->ov, status, bytes);
	if (req->linked)
		thread_unlink(req); /* after the notifications (G8) */
	req_free(req);
}

int32_t apc__io_try(struct apc__io *req)
{
	int fd = req->file->fd;
	char *buf = req->buf + req->done;
	size_t len = req->len - req->done;
	ssize_t n;

	if (req->file->kind == APC__IO_NPIPE)
		return apc__npipe_try(req);
	do {
		if (req->file->kind == APC__IO_FILE) {
			struct iovec iov = {buf, len};
			off_t off = req->append || req->at_pos
					    ? -1
					    : (off_t)(req->off + req->done);

			/* The io_uring engine never blocks a caller on the
			 * disk: a page-cache miss is left to the ring.  That
			 * takes preadv2's RWF_NOWAIT, about a tenth slower
			 * than pread, which the fallback uses. */
			if (req->op == APC__IO_READ && engine == &apc__io_uring)
				n = preadv2(fd, &iov, 1, off, RWF_NOWAIT);
			else if (req->op == APC__IO_READ)
				n = off < 0 ? read(fd, buf, len)
					    : pread(fd, buf, len, off);
			else if (req->append)
				n = pwritev2(fd, &iov, 1, -1, RWF_APPEND);
			else
				n = off < 0 ? write(fd, buf, len)
					    : pwrite(fd, buf, len, off);
		} else if (req->file->kind == APC__IO_SOCKET) {
			n = req->op == APC__IO_READ
				    ? recv(fd, buf, len, MSG_DONTWAIT)
				    : send(fd, buf, len,
					   MSG_DONTWAIT | MSG_NOSIGNAL);
		} else {
			n = req->op == APC__IO_READ ? read(fd, buf, len)
						    : write(fd, buf, len);
		}
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return (int32_t)n;
}

/*
 * Wait until req's stream is ready, or the thread is cancelled (E45): it
 * polls the descriptor and its own eventfd, and apc_cancel_synchronous_io
 * moves sync_state from 1 (blocked) to 2 and writes that eventfd.
 * Returns false when cancelled.
 */
static bool sync_wait(struct apc__io *req)
{
	struct apc__thread *t = apc__thread_current();
	struct pollfd pfd[2] = {
		{req->file->fd, req->op == APC__IO_READ ? POLLIN : POLLOUT, 0},
		{-1, POLLIN, 0}};
	unsigned was;

	if (t && t->sync_efd < 0)
		t->sync_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!t || t->sync_efd < 0) {
		poll(pfd, 1, -1); /* no way to be cancelled: just wait */
		return true;
	}
	pfd[1].fd = t->sync_efd;
	atomic_store_explicit(&t->sync_state, 1, memory_order_seq_cst);
	poll(pfd, 2, -1);
	was = atomic_exchange_explicit(&t->sync_state, 0, memory_order_seq_cst);
	if (was == 2) {
		uint64_t v;

		(void)!read(t->sync_efd, &v, sizeof(v));
		return false;
	}
	return true;
}

uint32_t apc_cancel_synchronous_io(apc_handle thread)
{
	struct apc__thread *t = apc__thread_get(thread);
	unsigned blocked = 1;
	uint64_t one = 1;
	uint32_t st = APC_ERROR_NOT_FOUND;

	if (!t)
		return APC_ERROR_INVALID_HANDLE;
	if (atomic_compare_exchange_strong_explicit(&t->sync_state, &blocked, 2,
						    memory_order_seq_cst,
						    memory_order_seq_cst)) {
		/* The eventfd exists: it was made before state became 1,
		 * and lives as long as the thread object we hold. */
		(void)!write(t->sync_efd, &one, sizeof(one));
		st = 0;
	}
	apc__object_unref(&t->hdr);
	return st;
}

/* ov NULL: a synchronous operation, waiting in poll() for a stream. */
static uint32_t sync_io(struct apc__io *req, uint32_t *bytes)
{
	int32_t n;

	/* A write to a stream goes on until every byte is written. */
	while ((n = apc__io_try(req)) == -EAGAIN ||
	       (n > 0 && req->op == APC__IO_WRITE &&
		req->done + (uint32_t)n < req->len)) {
		if (n > 0)
			req->done += (uint32_t)n;
		else if (!sync_wait(req))
			return APC_ERROR_OPERATION_ABORTED;
	}
	if (n < 0)
		return apc__errno_to_error(-n);
	n += (int32_t)req->done;
	if (bytes)
		*bytes = (uint32_t)n;
	if (read_at_end(req, n) && req->file->kind != APC__IO_FILE)
		return APC_ERROR_BROKEN_PIPE;
	return req->more ? APC_ERROR_MORE_DATA : 0;
}

#define UINT32_ALL 0xFFFFFFFFu

/* The event of ov, if any (a reference); its low bit asks for no port
 * packet (E28). */
static uint32_t req_event(struct apc__io *req, apc_overlapped *ov)
{
	uintptr_t ev = (uintptr_t)ov->hEvent;

	if (!ev)
		return 0;
	req->no_port = ev & 1;
	req->event = apc__handle_get((apc_handle)(ev & ~(uintptr_t)1),
				     APC__TYPE_EVENT);
	return req->event ? 0 : APC_ERROR_INVALID_HANDLE;
}

static uint32_t start(apc_handle h, void *buf, uint32_t len, apc_overlapped *ov,
		      apc_io_fn fn, uint8_t op, uint32_t *bytes)
{
	uint32_t st = 0;
	const struct apc__io_engine *eng = engine_get(&st);
	uint8_t mode = fn ? APC__IO_ROUTINE : APC__IO_NOTIFY;
	struct apc__io *req;
	struct apc__file *f;
	int32_t n;

	if (bytes)
		*bytes = 0;
	if (!eng)
		return st;
	st = 0;
	f = (struct apc__file *)apc__handle_get(h, APC__TYPE_FILE);
	if (!f)
		return APC_ERROR_INVALID_HANDLE;
	req = req_alloc();
	if (!req) {
		apc__object_unref(&f->hdr);
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	}
	req->file = f; /* the reference from apc__handle_get */
	req->ov = ov;
	req->buf = buf;
	req->len = len;
	req->op = op;
	req->mode = mode;
	req->fn = fn;

	if (!(op == APC__IO_READ ? f->readable : f->writable)) {
		st = APC_ERROR_ACCESS_DENIED; /* E7, E11 */
		goto fail;
	}
	if (!buf && len) {
		st = APC_ERROR_NOACCESS;
		goto fail;
	}
	if (f->kind == APC__IO_NPIPE && f->fd < 0) {
		/* A server instance without a client (N4). */
		st = apc__npipe_no_client(f);
		goto fail;
	}
	if (f->kind == APC__IO_NPIPE && len > APC__NPIPE_FRAME_MAX) {
		st = APC_ERROR_INVALID_PARAMETER; /* README: limits */
		goto fail;
	}
	if (!ov) {
		if (mode == APC__IO_ROUTINE) {
			st = APC_ERROR_INVALID_PARAMETER; /* E19 */
			goto fail;
		}
		req->at_pos = true;
		st = sync_io(req, bytes);
		goto fail; /* not an error: nothing to keep */
	}
	if (mode == APC__IO_ROUTINE && !f->overlapped) {
		st = APC_ERROR_INVALID_PARAMETER; /* E21 */
		goto fail;
	}
	if (f->kind == APC__IO_FILE) {
		req->append = op == APC__IO_WRITE && ov->Offset == UINT32_ALL &&
			      ov->OffsetHigh == UINT32_ALL; /* E22 */
		req->off = (uint64_t)ov->OffsetHigh << 32 | ov->Offset;
	}
	if (mode == APC__IO_NOTIFY && (st = req_event(req, ov)))
		goto fail;
	/* The issuing thread; a reference only once the operation is in
	 * flight (a routine queued to oneself needs none). */
	req->thread = apc__thread_current();
	if (!req->thread) {
		st = APC_ERROR_NOT_ENOUGH_MEMORY;
		goto fail;
	}

	if (!f->overlapped) {
		/* An OVERLAPPED on a synchronous handle: the operation runs
		 * now, at Offset, and still reports through ov and the
		 * event (as Windows does). */
		uint32_t done = 0;

		ov->Internal = APC_STATUS_PENDING;
		ov->InternalHigh = 0;
		st = sync_io(req, &done);
		if (bytes)
			*bytes = done;
		ov->InternalHigh = st ? 0 : done;
		atomic_store_explicit((_Atomic uintptr_t *)&ov->Internal,
				      st ? apc__error_to_ntstatus(st) : 0,
				      memory_order_release);
		if (req->event)
			event_signal(req->event, true);
		goto fail;
	}

	/* E20: a routine on a port-bound handle.  (Bound once, for good.) */
	if (mode == APC__IO_ROUTINE &&
	    __atomic_load_n(&f->port, __ATOMIC_ACQUIRE)) {
		st = APC_ERROR_INVALID_PARAMETER;
		goto fail;
	}
	/* E13: an OVERLAPPED still in flight cannot start another. */
	if (ov->Internal == APC_STATUS_PENDING && reg_busy(ov)) {
		st = APC_ERROR_INVALID_PARAMETER;
		goto fail;
	}
	ov->Internal = APC_STATUS_PENDING; /* E2 */
	ov->InternalHigh = 0;
	if (mode == APC__IO_NOTIFY) {
		if (req->event)
			event_signal(req->event, false); /* E8 */
		else
			file_signal(f, false); /* E9 */
	}

	/*
	 * Try it at once, without blocking (a regular file on the io_uring
	 * engine reads only from the page cache here): as fast as a plain
	 * pread when the data is there, and what the rest of the engine
	 * needs to know otherwise.  A result that is an error, or a read of
	 * nothing from a file or a pipe, fails the call with no notification
	 * (E11, E26); anything else finishes at once and still notifies
	 * (E10, E14: a routine is queued, to run in an alertable wait).  An
	 * operation that finishes here is never entered in the lists of
	 * operations in flight (nothing could cancel it in between).
	 *
	 * Except inside a run of completion routines on the io_uring engine
	 * while more of them wait to run (a chain at a queue depth above
	 * one): those operations go on the thread's ring and are submitted
	 * together when the run ends, one io_uring_enter for the lot.
	 */
	n = mode == APC__IO_ROUTINE && eng == &apc__io_uring &&
			    apc__uring_batching(req->thread)
		    ? -EAGAIN
		    : apc__io_try(req);
	/* A stream write that moved part: the engine does the rest. */
	if (n > 0 && op == APC__IO_WRITE && (uint32_t)n < len &&
	    f->kind != APC__IO_FILE) {
		req->done = (uint32_t)n;
		n = -EAGAIN;
	}
	if (n != -EAGAIN) {
		if (n < 0)
			st = apc__errno_to_error(-n);
		else if (read_at_end(req, n))
			st = f->kind == APC__IO_FILE ? APC_ERROR_HANDLE_EOF
						     : APC_ERROR_BROKEN_PIPE;
		if (st)
			goto failed;
		if (bytes)
			*bytes = (uint32_t)n;
		if (__atomic_load_n(&f->modes, __ATOMIC_RELAXED) &
			    APC_FILE_SKIP_COMPLETION_PORT_ON_SUCCESS &&
		    !req->more)
			req->no_port = true; /* F7 */
		/* A message read in part finished too, with a warning:
		 * notified, and the call says ERROR_MORE_DATA (N6). */
		st = req->more && mode == APC__IO_NOTIFY ? APC_ERROR_MORE_DATA
							 : 0;
		apc__io_done(req, n, true);
		return st;
	}

	/* In flight: entered where cancellation and thread exit find it. */
	if (!reg_enter(req)) {
		st = APC_ERROR_INVALID_PARAMETER; /* E13, a racing reuse */
		goto failed;
	}
	apc__object_ref(&req->thread->hdr);
	req->linked = true;
	thread_link(req);
	apc__lock_take(&f->io_lock);
	if (f->closed) {
		apc__lock_give(&f->io_lock);
		st = APC_ERROR_INVALID_HANDLE;
		goto unlink;
	}
	req->next = f->reqs;
	if (f->reqs)
		f->reqs->prev = req;
	f->reqs = req;
	apc__lock_give(&f->io_lock);
	/* A named pipe is a framed stream (npipe.c) that an io_uring read
	 * or write would not respect: on the io_uring engine a read waits
	 * in a poll on the ring and then takes its part (io-uring.c); a
	 * write that did not go at once (a full socket) waits in the
	 * fallback engine's epoll, which keeps a handle's writes in order. */
	req->via_fallback = f->kind == APC__IO_NPIPE && op == APC__IO_WRITE &&
			    eng == &apc__io_uring;
	st = req->via_fallback ? apc__io_fallback.submit(req)
			       : eng->submit(req);
	if (st)
		goto unlink;
	return mode == APC__IO_NOTIFY ? APC_ERROR_IO_PENDING : 0;

unlink:
	reg_leave(req);
	thread_unlink(req);
	apc__lock_take(&f->io_lock);
	req_unlink(req);
	apc__lock_give(&f->io_lock);
failed:
	atomic_store_explicit((_Atomic uintptr_t *)&ov->Internal,
			      apc__error_to_ntstatus(st), memory_order_release);
fail:
	req_free(req);
	return st;
}

uint32_t apc__io_pending(struct apc__file *f, apc_overlapped *ov, uint8_t op,
			 struct apc__io **out)
{
	struct apc__io *req = req_alloc();
	uint32_t st = 0;

	if (!req)
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	apc__object_ref(&f->hdr);
	req->file = f;
	req->ov = ov;
	req->op = op;
	req->mode = APC__IO_NOTIFY;
	req->thread = apc__thread_current();
	if (!req->thread) {
		st = APC_ERROR_NOT_ENOUGH_MEMORY;
		goto fail;
	}
	if ((st = req_event(req, ov)))
		goto fail;
	if (!reg_enter(req)) {
		st = APC_ERROR_INVALID_PARAMETER; /* E13 */
		goto fail;
	}
	ov->Internal = APC_STATUS_PENDING;
	ov->InternalHigh = 0;
	if (req->event)
		event_signal(req->event, false);
	else
		file_signal(f, false);
	apc__object_ref(&req->thread->hdr);
	req->linked = true;
	thread_link(req);
	apc__lock_take(&f->io_lock);
	req->next = f->reqs;
	if (f->reqs)
		f->reqs->prev = req;
	f->reqs = req;
	apc__lock_give(&f->io_lock);
	*out = req;
	return 0;
fail:
	req_free(req);
	return st;
}

uint32_t apc_read(apc_handle h, void *buf, uint32_t len, uint32_t *bytes,
		  apc_overlapped *ov)
{
	return start(h, buf, len, ov, NULL, APC__IO_READ, bytes);
}

uint32_t apc_write(apc_handle h, const void *buf, uint32_t len, uint32_t *bytes,
		   apc_overlapped *ov)
{
	return start(h, (void *)buf, len, ov, NULL, APC__IO_WRITE, bytes);
}

uint32_t apc_read_ex(apc_handle h, void *buf, uint32_t len, apc_overlapped *ov,
		     apc_io_fn fn)
{
	if (!ov || !fn)
		return APC_ERROR_INVALID_PARAMETER; /* E19 */
	return start(h, buf, len, ov, fn, APC__IO_READ, NULL);
}

uint32_t apc_write_ex(apc_handle h, const void *buf, uint32_t len,
		      apc_overlapped *ov, apc_io_fn fn)
{
	if (!ov || !fn)
		return APC_ERROR_INVALID_PARAMETER;
	return start(h, (void *)buf, len, ov, fn, APC__IO_WRITE, NULL);
}

uint32_t apc_overlapped_result(apc_handle h, apc_overlapped *ov,
			       uint32_t *bytes, uint32_t ms, bool alertable)
{
	uintptr_t st;

	if (!ov)
		return APC_ERROR_INVALID_PARAMETER;
	for (;;) {
		apc_handle w;
		uint32_t r, err = 0;

		st = atomic_load_explicit((_Atomic uintptr_t *)&ov->Internal,
					  memory_order_acquire);
		if (st != APC_STATUS_PENDING)
			break;
		if (ms == 0)
			return APC_ERROR_IO_INCOMPLETE; /* E31, E33 */
		/* E32: the event, or the handle itself. */
		w = ov->hEvent ? (apc_handle)((uintptr_t)ov->hEvent &
					      ~(uintptr_t)1)
			       : h;
		r = apc_wait(w, ms, alertable, &err);
		if (r == APC_WAIT_FAILED)
			return err;
		if (r == APC_WAIT_TIMEOUT || r == APC_WAIT_IO_COMPLETION)
			return r; /* E34, E35 */
	}
	if (bytes)
		*bytes = (uint32_t)ov->InternalHigh;
	return apc__ntstatus_to_error((uint32_t)st); /* E30 */
}

/* ---- cancellation ------------------------------------------------------ */

/*
 * Ask the engine to end the matching requests on f: those of thread t
 * (NULL: any), with overlapped ov (NULL: any).  The engine may hand a
 * request back to end at once (the fallback's queued ones); those are
 * completed here, after the lock.
 */
static void cancel_matching(struct apc__file *f, struct apc__thread *t,
			    apc_overlapped *ov, bool unbound, unsigned *found)
{
	struct apc__io *req, *now = NULL;

	apc__lock_take(&f->io_lock);
	for (req = f->reqs; req; req = req->next) {
		if ((t && req->thread != t) || (ov && req->ov != ov))
			continue;
		/* At thread exit, I/O on a port-bound handle goes on (G7),
		 * unless it lives on the thread's own ring. */
		if (unbound && f->port && !req->ring)
			continue;
		(*found)++;
		if (req->cancelled)
			continue;
		/* A named-pipe write that sent part of its frame finishes
		 * (E43): a message cut short would garble the stream; unless
		 * the stream ends anyway. */
		if (req->op == APC__IO_WRITE && req->sent &&
		    !__atomic_load_n(&f->ending, __ATOMIC_RELAXED))
			continue;
		/* Read unlocked by the engines (io-uring.c). */
		__atomic_store_n(&req->cancelled, true, __ATOMIC_RELAXED);
		if (req->op == APC__IO_CONNECT ? apc__npipe_cancel(req)
		    : req->via_fallback	       ? apc__io_fallback.cancel(req)
					       : engine->cancel(req)) {
			req->qnext = now;
			now = req;
		}
	}
	apc__lock_give(&f->io_lock);
	while ((req = now)) {
		now = req->qnext;
		apc__io_done(req, -ECANCELED, false);
	}
}

uint32_t apc_cancel_io(apc_handle h)
{
	struct apc__thread *t = apc__thread_current_noadopt();
	struct apc__file *f;
	unsigned found = 0;

	f = (struct apc__file *)apc__handle_get(h, APC__TYPE_FILE);
	if (!f)
		return APC_ERROR_INVALID_HANDLE;
	if (t && engine)
		cancel_matching(f, t, NULL, false, &found); /* E36 */
	apc__object_unref(&f->hdr);
	return 0;
}

uint32_t apc_cancel_io_ex(apc_handle h, apc_overlapped *ov)
{
	struct apc__file *f;
	unsigned found = 0;

	f = (struct apc__file *)apc__handle_get(h, APC__TYPE_FILE);
	if (!f)
		return APC_ERROR_INVALID_HANDLE;
	if (engine)
		cancel_matching(f, NULL, ov, false, &found); /* E39, E40 */
	apc__object_unref(&f->hdr);
	return found ? 0 : APC_ERROR_NOT_FOUND; /* E41 */
}

uint32_t apc_set_completion_modes(apc_handle h, uint32_t modes)
{
	struct apc__file *f;

	if (modes & ~(APC_FILE_SKIP_COMPLETION_PORT_ON_SUCCESS |
		      APC_FILE_SKIP_SET_EVENT_ON_HANDLE))
		return APC_ERROR_INVALID_PARAMETER;
	f = (struct apc__file *)apc__handle_get(h, APC__TYPE_FILE);
	if (!f)
		return APC_ERROR_INVALID_HANDLE;
	__atomic_fetch_or(&f->modes, modes, __ATOMIC_RELAXED);
	apc__object_unref(&f->hdr);
	return 0;
}

/* ---- completion ports: binding ----------------------------------------- */

uint32_t apc_port_bind(apc_handle port, apc_handle h, uintptr_t key)
{
	struct apc__object *p;
	struct apc__file *f;
	uint32_t st = 0;

	p = apc__handle_get(port, APC__TYPE_PORT);
	if (!p)
		return APC_ERROR_INVALID_HANDLE;
	f = (struct apc__file *)apc__handle_get(h, APC__TYPE_FILE);
	if (!f) {
		apc__object_unref(p);
		return APC_ERROR_INVALID_HANDLE;
	}
	apc__lock_take(&f->io_lock);
	if (!f->overlapped || f->port) {
		st = APC_ERROR_INVALID_PARAMETER; /* F4, F5 */
	} else {
		/* Keeps the port alive (F26); read unlocked by start(). */
		__atomic_store_n(&f->port, p, __ATOMIC_RELEASE);
		f->key = key;
		p = NULL;
	}
	apc__lock_give(&f->io_lock);
	if (p)
		apc__object_unref(p);
	apc__object_unref(&f->hdr);
	return st;
}

/* ---- thread exit --------------------------------------------------------- */

/* True if t still has requests that its exit must end. */
static bool exit_pending(struct apc__thread *t, struct apc__file **f)
{
	struct apc__io *req;

	*f = NULL;
	apc__lock_take(&t->io_lock);
	for (req = t->io_reqs; req; req = req->tnext) {
		if (req->file->port && !req->ring)
			continue; /* G7 */
		if (!req->cancelled && !*f) {
			*f = req->file;
			apc__object_ref(&(*f)->hdr);
		}
		break;
	}
	apc__lock_give(&t->io_lock);
	return req != NULL;
}

void apc__io_thread_exit(struct apc__thread *t)
{
	struct apc__file *f;
	unsigned found = 0;
	bool any;

	apc__lock_take(&t->io_lock);
	any = t->io_reqs || t->ring;
	apc__lock_give(&t->io_lock);
	if (!any)
		return;
	/*
	 * G6: cancel them, handle by handle, then wait until every one has
	 * ended (G8: the thread object signals after that).  Routines that
	 * this queues are discarded with the queue (G1).
	 */
	while (exit_pending(t, &f)) {
		if (f) {
			cancel_matching(f, t, NULL, true, &found);
			apc__object_unref(&f->hdr);
			continue;
		}
		if (!apc__uring_reap(t) && !apc__uring_wait_some(t)) {
			struct timespec ms = {0, 1000000};

			nanosleep(&ms, NULL);
		}
	}
	apc__uring_thread_exit(t);
}
