/*
 * Overlapped I/O when things go wrong (suite posix, Linux only): peers
 * that go away, descriptor and memory exhaustion, threads and processes
 * that end with I/O in flight, handles closed under their operations,
 * and cancellation racing with completion.  Every case runs on the engine
 * APC_ENGINE selects (meson test, and meson test --setup=fallback).
 *
 *   E27  a pipe's writer closing mid-read ends the reads with 109; a
 *        stream socket at end of stream finishes with success, 0 bytes;
 *        a socket peer that goes mid-transfer ends a pending write
 *   E24  (apcrt) a request that cannot be allocated fails the call with
 *        ERROR_NOT_ENOUGH_MEMORY and nothing else: no notification, the
 *        handle and the other operations untouched (apc__io_test_fail_alloc
 *        makes the next allocations fail)
 *   EMFILE  RLIMIT_NOFILE lowered in this process: apc_pipe_create and
 *        apc_file_open fail with ERROR_TOO_MANY_OPEN_FILES, nothing leaks,
 *        and once the limit is raised everything works again, also an
 *        engine, or a thread's ring, that could not be made under it
 *   G6/G8  a thread ends with 64 reads in flight
 *   E46  closing a handle with routine, event and port-bound operations in
 *        flight: each ends once with 995, and the peer sees the close at
 *        once
 *   G11  10,000 threads that each did I/O: descriptors back to baseline,
 *        LeakSanitizer clean (in the ASan build)
 *   G12  a process that exits with I/O in flight and APCs queued ends at
 *        once and runs no routine
 *   E43  10,000 rounds of write-then-cancel: the bytes read back are
 *        exactly those of the writes that reported success
 *
 * Each test runs in a process of its own (Criterion, or the shim under
 * the sanitizers), so a lowered limit or an engine that failed to start
 * never reaches another test.  Every wait is bounded.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apc/apc.h>

#include "posix/io-internal.h"

#include "helpers.h"

TestSuite(io_faults, .timeout = 300);

#if defined(__SANITIZE_THREAD__)
#define T_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define T_TSAN 1
#endif
#endif

#if defined(T_TSAN)
/*
 * liburing maps and unmaps its rings with raw system calls, which
 * ThreadSanitizer does not see: the ring of a thread that starts after
 * another one ended can be mapped where the old ring was and inherit its
 * access history, and the first SQE written there is reported as a race
 * with the ended thread (G11 makes thousands of rings).  So this program
 * does not report races inside liburing's inline helpers.
 */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "race:liburing.h\n";
}
#endif

/* How long ThreadSanitizer's exit waits when other threads still run
 * (its atexit_sleep_ms, 1000 by default); 0 without it. */
static double exit_sleep_ms(void)
{
#if defined(T_TSAN)
	const char *o = getenv("TSAN_OPTIONS");
	const char *p = o ? strstr(o, "atexit_sleep_ms=") : NULL;

	return p ? atof(p + strlen("atexit_sleep_ms=")) : 1000.0;
#else
	return 0.0;
#endif
}

/* Bound of every wait that must end (ms). */
#define WAIT_BOUND ((uint32_t)(T_WAIT_MS * t_slack()))

/* ---- helpers ------------------------------------------------------------- */

static void close_h(apc_handle h)
{
	uint32_t st = apc_close(h);

	cr_assert_eq(st, 0, "apc_close: %u", st);
}

static void pipe_new(apc_handle *r, apc_handle *w, uint32_t size)
{
	uint32_t st;

	*r = *w = T_POISON_HANDLE;
	st = apc_pipe_create(r, w, size);
	cr_assert_eq(st, 0, "apc_pipe_create: %u", st);
	cr_assert_not_null(*r);
	cr_assert_not_null(*w);
}

/* A synchronous write of all of data. */
static void put(apc_handle w, const void *data, uint32_t len)
{
	uint32_t n = T_POISON;
	uint32_t st = apc_write(w, data, len, &n, NULL);

	cr_assert_eq(st, 0, "write: %u", st);
	cr_assert_eq(n, len);
}

/* An event read that must stay pending. */
static void read_pending(apc_handle r, apc_overlapped *ov, void *buf,
			 uint32_t len)
{
	uint32_t st = apc_read(r, buf, len, NULL, ov);

	cr_assert_eq(st, APC_ERROR_IO_PENDING, "apc_read: %u", st);
}

/* Wait (bounded, not alertable) for an operation's result. */
static uint32_t finish(apc_handle h, apc_overlapped *ov, uint32_t *n)
{
	uint32_t st = apc_overlapped_result(h, ov, n, WAIT_BOUND, false);

	cr_assert_neq(st, APC_WAIT_TIMEOUT, "the operation never finished");
	return st;
}

/* The event is signalled now (a manual-reset event stays so). */
static bool signalled(apc_handle e)
{
	return apc_wait(e, 0, false, NULL) == APC_WAIT_OBJECT_0;
}

/* Internal, read as apc_overlapped_done reads it (an acquire load): the
 * operation may end on another thread meanwhile. */
static uintptr_t status_of(apc_overlapped *ov)
{
	return __atomic_load_n(&ov->Internal, __ATOMIC_ACQUIRE);
}

/* One operation with a completion routine; ov first. */
struct op {
	apc_overlapped ov;
	char buf[64];
	atomic_uint calls;
	_Atomic uint32_t error;
	_Atomic uint32_t bytes;
	_Atomic uint32_t tid;
};

static void op_init(struct op *o)
{
	memset(o, 0, sizeof(*o));
	memset(o->buf, 0x5A, sizeof(o->buf));
	atomic_store(&o->error, T_POISON);
	atomic_store(&o->bytes, T_POISON);
}

static void op_routine(uint32_t error, uint32_t bytes, apc_overlapped *ov)
{
	struct op *o = (struct op *)ov;

	atomic_store(&o->error, error);
	atomic_store(&o->bytes, bytes);
	atomic_store(&o->tid, apc_thread_id(APC_CURRENT_THREAD));
	atomic_fetch_add(&o->calls, 1);
}

/* Alertable waits, bounded in all, until *calls reaches want. */
static void wait_calls(atomic_uint *calls, unsigned int want)
{
	t_wait_calls(calls, want, 20);
}

/* Alertable waits for ms: any routine that is due runs meanwhile (the
 * caller then checks that no unexpected one did). */
static void settle(uint32_t ms)
{
	uint64_t end = t_now_ms() + ms;

	while (t_now_ms() < end)
		(void)apc_sleep(10, true);
}

/* Does buf begin with the bytes of s? */
static bool holds(const char *buf, const char *s)
{
	return memcmp(buf, s, strlen(s)) == 0;
}

/* ---- helpers: descriptors ------------------------------------------------ */

/* Open descriptors of this process (not counting the listing's own). */
static unsigned int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned int n = 0;

	cr_assert_not_null(d, "opendir(/proc/self/fd): %d", errno);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/* "fd:target ..." of every descriptor, for a failure message. */
#define FD_LIST 4096
static void fd_list(char *out)
{
	size_t used = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	out[0] = '\0';
	if (!d)
		return;
	while ((e = readdir(d)) && used + 300 < FD_LIST) {
		char path[300], target[256];
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = '\0';
		used += (size_t)snprintf(out + used, FD_LIST - used, "%s:%s ",
					 e->d_name, target);
	}
	closedir(d);
}

/* The descriptors open at some point, to compare with later. */
struct fd_base {
	unsigned int n;
	char list[FD_LIST];
};

/* A count that holds for 20 ms (a thread that just ended may still be
 * dropping its object, see below). */
static void fd_base_take(struct fd_base *b)
{
	unsigned int n = fd_count();

	for (int i = 0; i < 100; i++) {
		(void)apc_sleep(20, false);
		b->n = fd_count();
		if (b->n == n)
			break;
		n = b->n;
	}
	fd_list(b->list);
}

/*
 * A thread drops its own reference to its object (and with it, the
 * object's descriptors) just after its handle signals, so the count may
 * take a moment to come back: up to 2 s.
 */
static void fd_base_check(const struct fd_base *b, const char *when)
{
	static char now[FD_LIST];
	uint64_t end = t_now_ms() + 2000u * t_slack();
	unsigned int n;

	while ((n = fd_count()) != b->n && t_now_ms() < end)
		(void)apc_sleep(1, false);
	if (n == b->n)
		return;
	fd_list(now);
	cr_assert_fail("%s: %u descriptors open, %u before; now: %s; before: "
		       "%s",
		       when, n, b->n, now, b->list);
}

/* The highest open descriptor. */
static int fd_highest(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int top = -1;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) > top)
			top = atoi(e->d_name);
	closedir(d);
	return top;
}

/*
 * RLIMIT_NOFILE lowered to just above the highest descriptor, and every
 * free descriptor below it taken (duplicates of /dev/null), but spare:
 * the next descriptor the process asks for fails with EMFILE (spare 0).
 */
#define NOFILE_FILL 2048
struct nofile {
	struct rlimit saved;
	int fill[NOFILE_FILL];
	unsigned int n;
};

static void nofile_exhaust(struct nofile *l, unsigned int spare)
{
	int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int top = fd_highest();
	struct rlimit lim;

	cr_assert_geq(nul, 0);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &l->saved), 0);
	lim = l->saved;
	lim.rlim_cur = (rlim_t)top + 8;
	cr_assert_leq(lim.rlim_cur, l->saved.rlim_cur);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &lim), 0);
	l->n = 0;
	l->fill[l->n++] = nul;
	for (;;) {
		int fd = fcntl(nul, F_DUPFD_CLOEXEC, 0);

		if (fd < 0) {
			cr_assert_eq(errno, EMFILE, "dup: %d", errno);
			break;
		}
		cr_assert_lt(l->n, NOFILE_FILL);
		l->fill[l->n++] = fd;
	}
	while (spare--)
		close(l->fill[--l->n]);
}

static void nofile_restore(struct nofile *l)
{
	while (l->n)
		close(l->fill[--l->n]);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &l->saved), 0);
}

/* A path in a directory of the test's own; the caller removes both. */
static void tmp_path(char *dir, size_t dsize, char *path, size_t psize,
		     const char *name)
{
	const char *base = getenv("TMPDIR");

	if (!base || !base[0])
		base = "/tmp";
	snprintf(dir, dsize, "%s/apcrt-faults-XXXXXX", base);
	cr_assert_not_null(mkdtemp(dir), "mkdtemp(%s)", dir);
	snprintf(path, psize, "%s/%s", dir, name);
}

/* One event read started, finished by a write: the engine runs (its
 * process-wide thread and descriptors exist from then on). */
static void engine_warm_up(void)
{
	apc_handle r, w;
	apc_overlapped ov = {0};
	uint32_t n = T_POISON;
	char buf[4];

	cr_assert_not_null(apc_io_engine());
	pipe_new(&r, &w, 0);
	ov.hEvent = t_event_new(true, false);
	read_pending(r, &ov, buf, sizeof(buf));
	put(w, "warm", 4);
	cr_assert_eq(finish(r, &ov, &n), 0);
	cr_assert_eq(n, 4);
	close_h(ov.hEvent);
	close_h(r);
	close_h(w);
}

/* ---- E27: peers that go away --------------------------------------------- */

Test(io_faults, E27_pipe_writer_closing_mid_read_ends_reads_with_109)
{
	apc_handle r, w, e = t_event_new(true, false);
	apc_overlapped ov = {0};
	struct op x, y;
	uint32_t n = T_POISON;
	char buf[16];

	pipe_new(&r, &w, 0);
	/* Mid-transfer: the first read takes what is there. */
	op_init(&x);
	put(w, "abc", 3);
	cr_assert_eq(apc_read_ex(r, x.buf, sizeof(x.buf), &x.ov, op_routine),
		     0);
	wait_calls(&x.calls, 1);
	cr_assert_eq(atomic_load(&x.error), 0);
	cr_assert_eq(atomic_load(&x.bytes), 3);
	cr_assert(holds(x.buf, "abc"));

	/* Then a routine read and an event read wait, and the writer goes. */
	op_init(&y);
	cr_assert_eq(apc_read_ex(r, y.buf, sizeof(y.buf), &y.ov, op_routine),
		     0);
	ov.hEvent = e;
	read_pending(r, &ov, buf, sizeof(buf));
	cr_assert_eq(status_of(&ov), APC_STATUS_PENDING);
	settle(20);
	cr_assert_eq(atomic_load(&y.calls), 0, "a read ended with the writer");
	close_h(w);

	wait_calls(&y.calls, 1);
	cr_assert_eq(atomic_load(&y.error), APC_ERROR_BROKEN_PIPE);
	cr_assert_eq(atomic_load(&y.bytes), 0);
	cr_assert_eq(status_of(&y.ov), APC_STATUS_PIPE_BROKEN);
	cr_assert_eq(y.ov.InternalHigh, 0);
	cr_assert_eq(apc_wait(e, WAIT_BOUND, false, NULL), APC_WAIT_OBJECT_0);
	cr_assert_eq(finish(r, &ov, &n), APC_ERROR_BROKEN_PIPE);
	cr_assert_eq(n, 0);
	cr_assert_eq(status_of(&ov), APC_STATUS_PIPE_BROKEN);
	cr_assert_eq(ov.InternalHigh, 0);
	/* Once each. */
	settle(50);
	cr_assert_eq(atomic_load(&x.calls), 1);
	cr_assert_eq(atomic_load(&y.calls), 1);

	/* From now on reads fail at once, without notification (E11). */
	cr_assert_eq(apc_event_reset(e), 0);
	cr_assert_eq(apc_read(r, buf, sizeof(buf), &n, &ov),
		     APC_ERROR_BROKEN_PIPE);
	cr_assert_not(signalled(e));
	op_init(&y);
	cr_assert_eq(apc_read_ex(r, y.buf, sizeof(y.buf), &y.ov, op_routine),
		     APC_ERROR_BROKEN_PIPE);
	settle(20);
	cr_assert_eq(atomic_load(&y.calls), 0);
	close_h(r);
	close_h(e);
}

/* A stream socket pair: *h wraps one end (overlapped), *peer is the other
 * end's raw descriptor. */
static void socket_pair(apc_handle *h, int *peer)
{
	int sv[2];
	uint32_t st;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	st = apc_handle_from_fd(sv[0], APC_FILE_FLAG_OVERLAPPED, h);
	cr_assert_eq(st, 0, "apc_handle_from_fd: %u", st);
	*peer = sv[1];
}

Test(io_faults, E27_socket_end_of_stream_is_success_with_0_bytes)
{
	apc_handle s, e = t_event_new(true, false);
	apc_overlapped ov = {0};
	struct op x, y;
	uint32_t n = T_POISON;
	char buf[16];
	int peer;

	socket_pair(&s, &peer);
	/* Mid-transfer: data, then the peer shuts its sending side down. */
	op_init(&x);
	cr_assert_eq(apc_read_ex(s, x.buf, sizeof(x.buf), &x.ov, op_routine),
		     0);
	cr_assert_eq(write(peer, "hello", 5), 5);
	wait_calls(&x.calls, 1);
	cr_assert_eq(atomic_load(&x.error), 0);
	cr_assert_eq(atomic_load(&x.bytes), 5);
	cr_assert(holds(x.buf, "hello"));

	op_init(&y);
	cr_assert_eq(apc_read_ex(s, y.buf, sizeof(y.buf), &y.ov, op_routine),
		     0);
	ov.hEvent = e;
	read_pending(s, &ov, buf, sizeof(buf));
	settle(20);
	cr_assert_eq(atomic_load(&y.calls), 0);
	cr_assert_eq(shutdown(peer, SHUT_WR), 0);

	/* Both pending reads: success, 0 bytes. */
	wait_calls(&y.calls, 1);
	cr_assert_eq(atomic_load(&y.error), 0);
	cr_assert_eq(atomic_load(&y.bytes), 0);
	cr_assert_eq(status_of(&y.ov), APC_STATUS_SUCCESS);
	cr_assert_eq(finish(s, &ov, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(status_of(&ov), APC_STATUS_SUCCESS);

	/* A read at end of stream finishes at once, and still notifies. */
	cr_assert_eq(apc_event_reset(e), 0);
	n = T_POISON;
	cr_assert_eq(apc_read(s, buf, sizeof(buf), &n, &ov), 0);
	cr_assert_eq(n, 0);
	cr_assert(signalled(e));
	op_init(&y);
	cr_assert_eq(apc_read_ex(s, y.buf, sizeof(y.buf), &y.ov, op_routine),
		     0);
	wait_calls(&y.calls, 1);
	cr_assert_eq(atomic_load(&y.error), 0);
	cr_assert_eq(atomic_load(&y.bytes), 0);
	/* The other direction still works after a half close. */
	put(s, "back", 4);
	cr_assert_eq(read(peer, buf, sizeof(buf)), 4);
	cr_assert(holds(buf, "back"));
	/* And once the peer is gone entirely, still end of stream. */
	cr_assert_eq(close(peer), 0);
	cr_assert_eq(apc_read(s, buf, sizeof(buf), &n, &ov), 0);
	cr_assert_eq(n, 0);
	settle(20);
	cr_assert_eq(atomic_load(&x.calls), 1);
	cr_assert_eq(atomic_load(&y.calls), 1);
	close_h(s);
	close_h(e);
}

/* A write larger than the socket buffers is left pending. */
#define BIG_WRITE (4u << 20)

Test(io_faults, E27_socket_peer_gone_mid_transfer_ends_the_pending_writes)
{
	char *big = malloc(BIG_WRITE), drain[4096];
	apc_handle s, e = t_event_new(true, false);
	apc_overlapped ov = {0};
	struct op x;
	uint32_t n = T_POISON, st;
	int peer;

	cr_assert_not_null(big);
	memset(big, 'b', BIG_WRITE);

	/* An event write: the peer takes a little, then closes. */
	socket_pair(&s, &peer);
	ov.hEvent = e;
	st = apc_write(s, big, BIG_WRITE, &n, &ov);
	cr_assert_eq(st, APC_ERROR_IO_PENDING, "write: %u", st);
	cr_assert_eq(read(peer, drain, sizeof(drain)), (ssize_t)sizeof(drain));
	cr_assert_eq(close(peer), 0);
	st = finish(s, &ov, &n);
	cr_assert(st == APC_ERROR_NO_DATA || st == APC_ERROR_BROKEN_PIPE,
		  "write to a peer that left: %u", st);
	cr_assert_eq(n, 0);
	close_h(s);

	/* A routine write, the same. */
	socket_pair(&s, &peer);
	op_init(&x);
	cr_assert_eq(apc_write_ex(s, big, BIG_WRITE, &x.ov, op_routine), 0);
	settle(20);
	cr_assert_eq(atomic_load(&x.calls), 0, "a 4 MiB write finished");
	cr_assert_eq(read(peer, drain, sizeof(drain)), (ssize_t)sizeof(drain));
	cr_assert_eq(shutdown(peer, SHUT_RDWR), 0);
	wait_calls(&x.calls, 1);
	st = atomic_load(&x.error);
	cr_assert(st == APC_ERROR_NO_DATA || st == APC_ERROR_BROKEN_PIPE,
		  "routine write to a peer that left: %u", st);
	cr_assert_eq(atomic_load(&x.bytes), 0);
	settle(20);
	cr_assert_eq(atomic_load(&x.calls), 1);
	cr_assert_eq(close(peer), 0);
	close_h(s);
	close_h(e);
	free(big);
}

/* ---- EMFILE -------------------------------------------------------------- */

Test(io_faults, EMFILE_pipe_and_file_fail_with_4_and_recover)
{
	char dir[512], path[600], fresh[600];
	apc_handle r, w, h, old_r, old_w, e = t_event_new(true, false);
	apc_overlapped ov = {0};
	static struct nofile lim;
	uint32_t n = T_POISON, st;
	static struct fd_base base;
	char buf[8], old_buf[8];

	engine_warm_up();
	tmp_path(dir, sizeof(dir), path, sizeof(path), "exists");
	snprintf(fresh, sizeof(fresh), "%s/fresh", dir);
	h = T_POISON_HANDLE;
	cr_assert_eq(
		apc_file_open(path, APC_GENERIC_WRITE, APC_CREATE_NEW, 0, &h),
		0);
	put(h, "data", 4);
	close_h(h);
	/* A pipe made before, with a read waiting. */
	pipe_new(&old_r, &old_w, 0);
	ov.hEvent = e;
	read_pending(old_r, &ov, old_buf, sizeof(old_buf));
	fd_base_take(&base);

	for (unsigned int spare = 0; spare < 2; spare++) {
		nofile_exhaust(&lim, spare);
		r = w = T_POISON_HANDLE;
		st = apc_pipe_create(&r, &w, 0);
		cr_assert_eq(st, APC_ERROR_TOO_MANY_OPEN_FILES,
			     "pipe with %u spare: %u", spare, st);
		cr_assert_null(r);
		cr_assert_null(w);
		h = T_POISON_HANDLE;
		st = apc_file_open(path, APC_GENERIC_READ, APC_OPEN_EXISTING,
				   APC_FILE_FLAG_OVERLAPPED, &h);
		if (spare == 0) {
			cr_assert_eq(st, APC_ERROR_TOO_MANY_OPEN_FILES,
				     "open: %u", st);
			cr_assert_null(h);
			st = apc_file_open(fresh,
					   APC_GENERIC_READ | APC_GENERIC_WRITE,
					   APC_CREATE_NEW, 0, &h);
			cr_assert_eq(st, APC_ERROR_TOO_MANY_OPEN_FILES,
				     "create: %u", st);
			cr_assert_null(h);
		} else {
			/* One descriptor is enough for a file. */
			cr_assert_eq(st, 0, "open with 1 spare: %u", st);
			cr_assert_eq(apc_read(h, buf, 4, &n, NULL), 0);
			cr_assert_eq(n, 4);
			close_h(h);
		}
		/* What was open keeps working. */
		put(old_w, "x", 1);
		cr_assert_eq(finish(old_r, &ov, &n), 0);
		cr_assert_eq(n, 1);
		read_pending(old_r, &ov, old_buf, sizeof(old_buf));
		nofile_restore(&lim);
		fd_base_check(&base, "after the limit rose");
	}
	/* No file was made by the refused create. */
	{
		struct stat sb;

		cr_assert_eq(stat(fresh, &sb), -1);
	}

	/* Everything works again. */
	pipe_new(&r, &w, 0);
	put(w, "ok", 2);
	cr_assert_eq(apc_read(r, buf, sizeof(buf), &n, NULL), 0);
	cr_assert_eq(n, 2);
	close_h(r);
	close_h(w);
	h = T_POISON_HANDLE;
	cr_assert_eq(apc_file_open(fresh, APC_GENERIC_READ | APC_GENERIC_WRITE,
				   APC_CREATE_NEW, APC_FILE_FLAG_OVERLAPPED,
				   &h),
		     0);
	close_h(h);
	cr_assert_eq(apc_cancel_io_ex(old_r, &ov), 0);
	cr_assert_eq(finish(old_r, &ov, &n), APC_ERROR_OPERATION_ABORTED);
	close_h(old_r);
	close_h(old_w);
	close_h(e);
	cr_assert_eq(remove(fresh), 0);
	cr_assert_eq(remove(path), 0);
	cr_assert_eq(rmdir(dir), 0);
}

/* A thread whose first routine read finds no descriptor for its ring. */
struct first_io {
	apc_handle r;
	apc_handle go1, done1, go2;
	struct op x;
	_Atomic uint32_t st1, st2;
};

static uint32_t thread_first_io(void *arg)
{
	struct first_io *s = arg;
	uint64_t end;

	if (apc_wait(s->go1, WAIT_BOUND, false, NULL) != APC_WAIT_OBJECT_0)
		return 1;
	atomic_store(&s->st1, apc_read_ex(s->r, s->x.buf, sizeof(s->x.buf),
					  &s->x.ov, op_routine));
	/* An alertable wait of a thread without a ring. */
	(void)apc_sleep(20, true);
	(void)apc_event_set(s->done1);
	if (apc_wait(s->go2, WAIT_BOUND, false, NULL) != APC_WAIT_OBJECT_0)
		return 2;
	if (atomic_load(&s->st1) != 0)
		atomic_store(&s->st2,
			     apc_read_ex(s->r, s->x.buf, sizeof(s->x.buf),
					 &s->x.ov, op_routine));
	(void)apc_event_set(s->done1);
	end = t_now_ms() + WAIT_BOUND;
	while (atomic_load(&s->x.calls) == 0 && t_now_ms() < end)
		(void)apc_sleep(20, true);
	return 0;
}

Test(io_faults, EMFILE_a_threads_first_io_without_descriptors)
{
	static struct first_io s;
	static struct nofile lim;
	static struct fd_base base;
	apc_handle w, th;

	engine_warm_up();
	fd_base_take(&base);
	/* spare 0: no eventfd; spare 1: an eventfd but no ring. */
	for (unsigned int spare = 0; spare < 2; spare++) {
		uint32_t st;

		memset(&s, 0, sizeof(s));
		op_init(&s.x);
		pipe_new(&s.r, &w, 0);
		s.go1 = t_event_new(true, false);
		s.done1 = t_event_new(false, false);
		s.go2 = t_event_new(true, false);
		atomic_store(&s.st1, T_POISON);
		atomic_store(&s.st2, T_POISON);
		th = t_spawn(thread_first_io, &s);

		nofile_exhaust(&lim, spare);
		cr_assert_eq(apc_event_set(s.go1), 0);
		cr_assert_eq(apc_wait(s.done1, WAIT_BOUND, false, NULL),
			     APC_WAIT_OBJECT_0);
		nofile_restore(&lim);
		st = atomic_load(&s.st1);
		cr_log_info(
			"engine %s, %u spare: the first apc_read_ex gave %u",
			apc_io_engine(), spare, st);
		/* Started (the fallback needs no descriptor), or a clear
		 * error, and then no routine. */
		cr_assert(st == 0 || st == APC_ERROR_NOT_ENOUGH_MEMORY ||
				  st == APC_ERROR_TOO_MANY_OPEN_FILES,
			  "first apc_read_ex without descriptors: %u", st);
		if (st != 0) {
			cr_assert_neq(status_of(&s.x.ov), APC_STATUS_PENDING);
			cr_assert_eq(atomic_load(&s.x.calls), 0);
		}
		/* With descriptors again: the thread's I/O works. */
		cr_assert_eq(apc_event_set(s.go2), 0);
		cr_assert_eq(apc_wait(s.done1, WAIT_BOUND, false, NULL),
			     APC_WAIT_OBJECT_0);
		if (st != 0)
			cr_assert_eq(atomic_load(&s.st2), 0,
				     "apc_read_ex after the limit rose: %u",
				     atomic_load(&s.st2));
		put(w, "hi", 2);
		cr_assert_eq(t_join(th), 0);
		cr_assert_eq(atomic_load(&s.x.calls), 1);
		cr_assert_eq(atomic_load(&s.x.error), 0);
		cr_assert_eq(atomic_load(&s.x.bytes), 2);
		cr_assert(holds(s.x.buf, "hi"));
		close_h(s.r);
		close_h(w);
		close_h(s.go1);
		close_h(s.done1);
		close_h(s.go2);
		fd_base_check(&base, "after the thread");
	}
}

Test(io_faults, EMFILE_engine_that_could_not_start_starts_later)
{
	static struct nofile lim;
	apc_handle r, w, e = t_event_new(true, false);
	apc_overlapped ov = {0};
	struct op x;
	uint32_t n = T_POISON, st;
	static struct fd_base base;
	char buf[8];

	/* No operation has waited in this process yet: the engine's
	 * process-wide part (a thread, an eventfd, a ring or an epoll set)
	 * does not exist. */
	cr_assert_not_null(apc_io_engine());
	pipe_new(&r, &w, 0);
	fd_base_take(&base);
	nofile_exhaust(&lim, 0);
	ov.hEvent = e;
	cr_assert_eq(apc_event_set(e), 0);
	st = apc_read(r, buf, sizeof(buf), &n, &ov);
	nofile_restore(&lim);
	cr_log_info("engine %s: an event read without descriptors gave %u",
		    apc_io_engine(), st);
	cr_assert(st == APC_ERROR_IO_PENDING ||
			  st == APC_ERROR_NOT_ENOUGH_MEMORY ||
			  st == APC_ERROR_TOO_MANY_OPEN_FILES,
		  "event read without descriptors: %u", st);
	if (st != APC_ERROR_IO_PENDING) {
		/* Failed to start: nothing left in flight. */
		cr_assert_neq(status_of(&ov), APC_STATUS_PENDING);
		fd_base_check(&base, "after the failed start");

		/* The limit is back: the same call must work now. */
		st = apc_read(r, buf, sizeof(buf), &n, &ov);
		cr_assert_eq(st, APC_ERROR_IO_PENDING,
			     "event read after the limit rose: %u (%s engine)",
			     st, apc_io_engine());
	}
	put(w, "abc", 3);
	cr_assert_eq(finish(r, &ov, &n), 0);
	cr_assert_eq(n, 3);
	/* A routine read too. */
	op_init(&x);
	cr_assert_eq(apc_read_ex(r, x.buf, sizeof(x.buf), &x.ov, op_routine),
		     0);
	put(w, "de", 2);
	wait_calls(&x.calls, 1);
	cr_assert_eq(atomic_load(&x.error), 0);
	cr_assert_eq(atomic_load(&x.bytes), 2);
	close_h(r);
	close_h(w);
	close_h(e);
}

Test(io_faults, EMFILE_at_the_first_io_call_does_not_change_the_engine)
{
	static struct nofile lim;
	char want[32] = "", buf[8];
	int p[2], status = 0;
	const char *got;
	apc_handle r, w;
	uint32_t n = T_POISON;
	ssize_t len;
	pid_t pid;

	/* What this process would pick with descriptors to spare: ask a
	 * child (apcrt is not initialised in this process yet). */
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		const char *name = apc_io_engine();

		if (!name)
			name = "(null)";
		_exit(write(p[1], name, strlen(name)) > 0 ? 0 : 1);
	}
	close(p[1]);
	len = read(p[0], want, sizeof(want) - 1);
	close(p[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cr_assert_gt(len, 0);
	want[len] = '\0';

	/* The first I/O call here finds no descriptor free: probing
	 * io_uring takes one, so the engine may be undecided then (NULL,
	 * and I/O calls fail with ERROR_TOO_MANY_OPEN_FILES), but what is
	 * decided, then or later, is what the child picked. */
	nofile_exhaust(&lim, 0);
	got = apc_io_engine();
	cr_assert(!got || strcmp(got, want) == 0,
		  "engine %s picked by a first call under EMFILE, %s with "
		  "descriptors (APC_ENGINE=%s)",
		  got, want, getenv("APC_ENGINE") ? getenv("APC_ENGINE") : "");
	if (!got && strcmp(want, "(null)") != 0)
		cr_assert_eq(apc_pipe_create(&r, &w, 0),
			     APC_ERROR_TOO_MANY_OPEN_FILES);
	nofile_restore(&lim);
	got = apc_io_engine();
	if (!got)
		got = "(null)";
	cr_assert(strcmp(got, want) == 0,
		  "engine %s picked after an EMFILE first call, %s with "
		  "descriptors (APC_ENGINE=%s)",
		  got, want, getenv("APC_ENGINE") ? getenv("APC_ENGINE") : "");
	if (!apc_io_engine())
		return; /* no engine here at all: nothing to do I/O with */
	pipe_new(&r, &w, 0);
	put(w, "ok", 2);
	cr_assert_eq(apc_read(r, buf, sizeof(buf), &n, NULL), 0);
	cr_assert_eq(n, 2);
	close_h(r);
	close_h(w);
}

/* ---- E24 (apcrt): no memory for a request ------------------------------- */

Test(io_faults, ENOMEM_fails_the_call_with_8_and_nothing_else)
{
	apc_handle r, w, r2, w2, r3, w3, port, ea = t_event_new(true, false);
	apc_handle ec = t_event_new(true, true);
	apc_overlapped ova = {0}, ovc = {0}, ovp = {0}, *got = NULL;
	struct op xb, xc;
	uintptr_t key = 0;
	uint32_t n, st;
	char bufa[16], bufc[16], bufp[16];

	cr_assert_not_null(apc_io_engine());
	cr_assert_eq(apc_port_create(0, &port), 0);
	pipe_new(&r, &w, 0);
	pipe_new(&r2, &w2, 0);
	pipe_new(&r3, &w3, 0);
	cr_assert_eq(apc_port_bind(port, r2, 42), 0);

	/* Operations in flight before. */
	ova.hEvent = ea;
	read_pending(r, &ova, bufa, sizeof(bufa));
	op_init(&xb);
	cr_assert_eq(apc_read_ex(r, xb.buf, sizeof(xb.buf), &xb.ov, op_routine),
		     0);

	/* Each kind of call, one failed allocation each. */
	ovc.hEvent = ec; /* signalled, and must stay so */
	ovc.Internal = 0x1234;
	ovc.InternalHigh = 0x5678;
	apc__io_test_fail_alloc(1);
	n = T_POISON;
	st = apc_read(r, bufc, sizeof(bufc), &n, &ovc);
	cr_assert_eq(st, APC_ERROR_NOT_ENOUGH_MEMORY, "apc_read: %u", st);
	cr_assert_eq(n, 0);
	cr_assert_eq(status_of(&ovc), 0x1234);
	cr_assert_eq(ovc.InternalHigh, 0x5678);
	cr_assert(signalled(ec));

	op_init(&xc);
	apc__io_test_fail_alloc(1);
	st = apc_read_ex(r, xc.buf, sizeof(xc.buf), &xc.ov, op_routine);
	cr_assert_eq(st, APC_ERROR_NOT_ENOUGH_MEMORY, "apc_read_ex: %u", st);
	apc__io_test_fail_alloc(1);
	st = apc_write_ex(w, "lost", 4, &xc.ov, op_routine);
	cr_assert_eq(st, APC_ERROR_NOT_ENOUGH_MEMORY, "apc_write_ex: %u", st);
	apc__io_test_fail_alloc(1);
	st = apc_write(w, "lost", 4, &n, &ovc);
	cr_assert_eq(st, APC_ERROR_NOT_ENOUGH_MEMORY, "apc_write: %u", st);
	cr_assert(signalled(ec));
	/* Synchronous calls, with data there. */
	put(w3, "zz", 2);
	apc__io_test_fail_alloc(1);
	st = apc_read(r3, bufc, sizeof(bufc), &n, NULL);
	cr_assert_eq(st, APC_ERROR_NOT_ENOUGH_MEMORY, "sync read: %u", st);
	apc__io_test_fail_alloc(1);
	st = apc_write(w3, "lost", 4, &n, NULL);
	cr_assert_eq(st, APC_ERROR_NOT_ENOUGH_MEMORY, "sync write: %u", st);
	/* A port-bound handle: no packet. */
	apc__io_test_fail_alloc(1);
	st = apc_read(r2, bufp, sizeof(bufp), &n, &ovp);
	cr_assert_eq(st, APC_ERROR_NOT_ENOUGH_MEMORY, "bound read: %u", st);
	cr_assert_eq(apc_port_get(port, &n, &key, &got, 20), APC_WAIT_TIMEOUT);
	/* n failures, then success. */
	apc__io_test_fail_alloc(2);
	cr_assert_eq(apc_read(r3, bufc, 1, &n, NULL),
		     APC_ERROR_NOT_ENOUGH_MEMORY);
	cr_assert_eq(apc_read(r3, bufc, 1, &n, NULL),
		     APC_ERROR_NOT_ENOUGH_MEMORY);
	n = T_POISON;
	cr_assert_eq(apc_read(r3, bufc, sizeof(bufc), &n, NULL), 0);
	cr_assert_eq(n, 2, "the failed calls took no byte");
	cr_assert(holds(bufc, "zz"));

	/* No routine, the operations in flight untouched. */
	settle(30);
	cr_assert_eq(atomic_load(&xc.calls), 0);
	cr_assert_eq(atomic_load(&xb.calls), 0);
	cr_assert_eq(status_of(&ova), APC_STATUS_PENDING);
	cr_assert_not(signalled(ea));

	/* The failed OVERLAPPED starts an operation at once (it is not
	 * taken as in flight, E13). */
	read_pending(r2, &ovp, bufp, sizeof(bufp));
	put(w2, "port", 4);
	cr_assert_eq(apc_port_get(port, &n, &key, &got, WAIT_BOUND), 0);
	cr_assert_eq(got, &ovp);
	cr_assert_eq(key, 42);
	cr_assert_eq(n, 4);
	cr_assert_eq(apc_port_get(port, &n, &key, &got, 20), APC_WAIT_TIMEOUT);

	/* The two reads in flight get what is written now, nothing of the
	 * failed writes: one "hello", the other "world", in some order. */
	put(w, "hello", 5);
	for (uint64_t end = t_now_ms() + WAIT_BOUND;
	     !apc_overlapped_done(&ova) && atomic_load(&xb.calls) == 0;) {
		cr_assert(t_now_ms() <= end, "no read took the data");
		(void)apc_sleep(10, true);
	}
	put(w, "world", 5);
	cr_assert_eq(finish(r, &ova, &n), 0);
	cr_assert_eq(n, 5);
	wait_calls(&xb.calls, 1);
	cr_assert_eq(atomic_load(&xb.error), 0);
	cr_assert_eq(atomic_load(&xb.bytes), 5);
	cr_assert((holds(bufa, "hello") && holds(xb.buf, "world")) ||
			  (holds(bufa, "world") && holds(xb.buf, "hello")),
		  "reads got '%.5s' and '%.5s'", bufa, xb.buf);

	/* New operations work. */
	op_init(&xc);
	cr_assert_eq(apc_write_ex(w, "next", 4, &xc.ov, op_routine), 0);
	wait_calls(&xc.calls, 1);
	cr_assert_eq(atomic_load(&xc.error), 0);
	cr_assert_eq(apc_read(r, bufc, sizeof(bufc), &n, &ovc), 0);
	cr_assert_eq(n, 4);
	cr_assert(holds(bufc, "next"));
	settle(20);
	cr_assert_eq(atomic_load(&xb.calls), 1);
	cr_assert_eq(atomic_load(&xc.calls), 1);

	close_h(r);
	close_h(w);
	close_h(r2);
	close_h(w2);
	close_h(r3);
	close_h(w3);
	close_h(port);
	close_h(ea);
	close_h(ec);
}

/* ---- G6, G8: a thread ends with 64 reads in flight ----------------------- */

#define G6_PIPES 32

struct g6_state {
	apc_handle r[G6_PIPES];
	struct op x[G6_PIPES];		   /* routine reads */
	apc_overlapped ov[G6_PIPES];	   /* event reads */
	char buf[G6_PIPES][16];		   /* their buffers */
	_Atomic uint32_t st[2 * G6_PIPES]; /* what each start returned */
};

static uint32_t thread_g6(void *arg)
{
	struct g6_state *s = arg;

	for (int i = 0; i < G6_PIPES; i++) {
		atomic_store(&s->st[2 * i],
			     apc_read_ex(s->r[i], s->x[i].buf, 16, &s->x[i].ov,
					 op_routine));
		atomic_store(&s->st[2 * i + 1],
			     apc_read(s->r[i], s->buf[i], 16, NULL, &s->ov[i]));
	}
	return 7; /* at once, without an alertable wait */
}

Test(io_faults, G6_thread_exit_with_64_reads_in_flight)
{
	static struct g6_state s;
	apc_handle w[G6_PIPES], th;
	char buf[16];
	struct op y;
	uint32_t n;

	memset(&s, 0, sizeof(s));
	for (int i = 0; i < G6_PIPES; i++) {
		pipe_new(&s.r[i], &w[i], 0);
		op_init(&s.x[i]);
		s.ov[i].hEvent = t_event_new(true, true);
		memset(s.buf[i], 0x5A, sizeof(s.buf[i]));
	}
	th = t_spawn(thread_g6, &s);
	cr_assert_eq(t_wait_exit(th), 7);

	/* The moment the thread's handle signals (G8): */
	for (int i = 0; i < G6_PIPES; i++) {
		cr_assert_eq(atomic_load(&s.st[2 * i]), 0, "read_ex %d", i);
		cr_assert_eq(atomic_load(&s.st[2 * i + 1]),
			     APC_ERROR_IO_PENDING, "read %d", i);
		cr_assert(signalled(s.ov[i].hEvent),
			  "event read %d: its event is not signalled when the "
			  "thread's handle is (Internal %#lx, engine %s)",
			  i, (unsigned long)status_of(&s.ov[i]),
			  apc_io_engine());
		cr_assert_eq(status_of(&s.ov[i]), APC_STATUS_CANCELLED,
			     "event read %d: Internal %#lx", i,
			     (unsigned long)status_of(&s.ov[i]));
		n = T_POISON;
		cr_assert_eq(
			apc_overlapped_result(s.r[i], &s.ov[i], &n, 0, false),
			APC_ERROR_OPERATION_ABORTED);
		cr_assert_eq(n, 0);
		cr_assert_eq(status_of(&s.x[i].ov), APC_STATUS_CANCELLED,
			     "routine read %d: Internal %#lx", i,
			     (unsigned long)status_of(&s.x[i].ov));
		cr_assert_eq(atomic_load(&s.x[i].calls), 0);
	}
	close_h(th);

	/* The pipes take new operations; nothing goes to the dead reads. */
	for (int i = 0; i < G6_PIPES; i++) {
		char msg[16];
		apc_overlapped ov = {0};

		snprintf(msg, sizeof(msg), "event-%02d", i);
		ov.hEvent = s.ov[i].hEvent;
		read_pending(s.r[i], &ov, buf, sizeof(buf));
		put(w[i], msg, 8);
		cr_assert_eq(finish(s.r[i], &ov, &n), 0);
		cr_assert_eq(n, 8);
		cr_assert(holds(buf, msg));

		snprintf(msg, sizeof(msg), "rtine-%02d", i);
		op_init(&y);
		cr_assert_eq(apc_read_ex(s.r[i], y.buf, 16, &y.ov, op_routine),
			     0);
		put(w[i], msg, 8);
		wait_calls(&y.calls, 1);
		cr_assert_eq(atomic_load(&y.error), 0);
		cr_assert_eq(atomic_load(&y.bytes), 8);
		cr_assert(holds(y.buf, msg));
		cr_assert_eq(atomic_load(&y.tid),
			     apc_thread_id(APC_CURRENT_THREAD));
	}
	settle(50);
	for (int i = 0; i < G6_PIPES; i++) {
		cr_assert_eq(atomic_load(&s.x[i].calls), 0, "routine %d ran",
			     i);
		cr_assert_eq(s.x[i].buf[0], 0x5A);
		cr_assert_eq(s.buf[i][0], 0x5A);
		close_h(s.r[i]);
		close_h(w[i]);
		close_h(s.ov[i].hEvent);
	}
}

/* ---- E46: closing a handle with I/O in flight ---------------------------- */

/* A thread that starts a routine read and waits alertably for it. */
struct closer_victim {
	apc_handle r, started;
	struct op x;
	_Atomic uint32_t st;
};

static uint32_t thread_victim(void *arg)
{
	struct closer_victim *v = arg;
	uint64_t end;

	atomic_store(&v->st,
		     apc_read_ex(v->r, v->x.buf, 16, &v->x.ov, op_routine));
	(void)apc_event_set(v->started);
	end = t_now_ms() + WAIT_BOUND;
	while (atomic_load(&v->x.calls) == 0 && t_now_ms() < end)
		(void)apc_sleep(20, true);
	/* Once only: wait a little longer for a second call. */
	end = t_now_ms() + 50;
	while (t_now_ms() < end)
		(void)apc_sleep(10, true);
	return 0;
}

/*
 * A write to the pipe whose reader is gone fails with 232.  On the
 * fallback engine at once, that is right after the reader's apc_close
 * returned.  On the io_uring engine a read still in a ring holds the
 * kernel's file until the kernel has finished cancelling it, which it
 * does asynchronously, in the issuing thread's context (README): the
 * peer sees the close shortly after, bounded here by 2 s.  How long it
 * took goes in the message.
 */
static void peer_sees_close(apc_handle w, const char *what)
{
	uint32_t n = T_POISON;
	uint32_t st = apc_write(w, "x", 1, &n, NULL), first = st;
	uint64_t start = t_now_ns();
	bool uring = !strcmp(apc_io_engine(), "uring");

	while (st == 0 && t_ms_since(start) < 2000.0)
		st = apc_write(w, "x", 1, &n, NULL);
	cr_assert_eq(uring ? st : first, APC_ERROR_NO_DATA,
		     "%s: a write right after the reader's close gave %u, "
		     "and %u after %.3f ms (engine %s)",
		     what, first, st, t_ms_since(start), apc_io_engine());
}

Test(io_faults, E46_close_with_io_in_flight_ends_each_once_with_995)
{
	apc_handle r1, w1, r2, w2, r3, w3, th, port;
	apc_handle e = t_event_new(true, false);
	apc_overlapped ov = {0}, ovp = {0}, *got = NULL;
	static struct closer_victim v;
	struct op x;
	uintptr_t key = 0;
	uint32_t n = T_POISON;
	char buf[16], bufp[16];

	cr_assert_eq(apc_port_create(0, &port), 0);

	/* A routine read and an event read of this thread. */
	pipe_new(&r1, &w1, 0);
	op_init(&x);
	cr_assert_eq(apc_read_ex(r1, x.buf, 16, &x.ov, op_routine), 0);
	ov.hEvent = e;
	read_pending(r1, &ov, buf, sizeof(buf));
	close_h(r1);
	peer_sees_close(w1, "routine and event reads");
	cr_assert_eq(apc_wait(e, WAIT_BOUND, false, NULL), APC_WAIT_OBJECT_0);
	cr_assert_eq(status_of(&ov), APC_STATUS_CANCELLED);
	cr_assert_eq(ov.InternalHigh, 0);
	wait_calls(&x.calls, 1);
	cr_assert_eq(atomic_load(&x.error), APC_ERROR_OPERATION_ABORTED);
	cr_assert_eq(atomic_load(&x.bytes), 0);
	cr_assert_eq(status_of(&x.ov), APC_STATUS_CANCELLED);
	/* Exactly once: no second routine, no second signal. */
	cr_assert_eq(apc_event_reset(e), 0);
	settle(50);
	cr_assert_eq(atomic_load(&x.calls), 1);
	cr_assert_not(signalled(e));
	close_h(w1);

	/* A port-bound read: one packet. */
	pipe_new(&r2, &w2, 0);
	cr_assert_eq(apc_port_bind(port, r2, 46), 0);
	read_pending(r2, &ovp, bufp, sizeof(bufp));
	close_h(r2);
	peer_sees_close(w2, "port-bound read");
	cr_assert_eq(apc_port_get(port, &n, &key, &got, WAIT_BOUND),
		     APC_ERROR_OPERATION_ABORTED);
	cr_assert_eq(got, &ovp);
	cr_assert_eq(key, 46);
	cr_assert_eq(n, 0);
	cr_assert_eq(status_of(&ovp), APC_STATUS_CANCELLED);
	got = NULL;
	cr_assert_eq(apc_port_get(port, &n, &key, &got, 50), APC_WAIT_TIMEOUT);
	cr_assert_null(got);
	close_h(w2);

	/* Another thread's routine read, that thread waiting alertably. */
	memset(&v, 0, sizeof(v));
	pipe_new(&r3, &w3, 0);
	v.r = r3;
	v.started = t_event_new(true, false);
	op_init(&v.x);
	atomic_store(&v.st, T_POISON);
	th = t_spawn(thread_victim, &v);
	cr_assert_eq(apc_wait(v.started, WAIT_BOUND, false, NULL),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(atomic_load(&v.st), 0);
	close_h(r3);
	peer_sees_close(w3, "another thread's routine read");
	cr_assert_eq(t_join(th), 0);
	cr_assert_eq(atomic_load(&v.x.calls), 1);
	cr_assert_eq(atomic_load(&v.x.error), APC_ERROR_OPERATION_ABORTED);
	cr_assert_eq(atomic_load(&v.x.bytes), 0);
	close_h(w3);
	close_h(v.started);
	close_h(port);
	close_h(e);
}

Test(io_faults, E46_close_with_a_write_in_flight_ends_it_with_995)
{
	apc_handle r, w, e = t_event_new(true, false), er;
	apc_overlapped ov = {0}, ovr = {0};
	uint32_t n = T_POISON, st, total = 0, got = 0;
	double late = -1.0;
	char buf[4096];

	/* Fill the pipe a byte at a time; the write that finds it full
	 * waits for room. */
	pipe_new(&r, &w, 4096);
	for (;;) {
		ov.hEvent = e;
		st = apc_write(w, "f", 1, &n, &ov);
		if (st == APC_ERROR_IO_PENDING)
			break;
		cr_assert_eq(st, 0);
		cr_assert_lt(++total, 1u << 20, "the pipe never filled");
	}
	close_h(w);

	/* Right after the close the reader gets what was written, then the
	 * end (109), without waiting: event reads, so that a read that does
	 * wait is seen (and how long it waits). */
	er = t_event_new(true, false);
	ovr.hEvent = er;
	for (;;) {
		uint64_t start = t_now_ns();

		st = apc_read(r, buf, sizeof(buf), &n, &ovr);
		if (st == APC_ERROR_IO_PENDING) {
			st = finish(r, &ovr, &n);
			if (late < 0)
				late = t_ms_since(start);
		}
		if (st == APC_ERROR_BROKEN_PIPE)
			break;
		cr_assert_eq(st, 0, "read: %u", st);
		for (uint32_t i = 0; i < n; i++)
			cr_assert_eq(buf[i], 'f');
		got += n;
	}
	cr_assert_eq(got, total, "%u bytes read, %u written before the close",
		     got, total);
	cr_assert_eq(late, -1.0,
		     "a read after the writer's close waited %.3f ms (engine "
		     "%s)",
		     late, apc_io_engine());
	cr_assert_eq(apc_wait(e, WAIT_BOUND, false, NULL), APC_WAIT_OBJECT_0);
	cr_assert_eq(status_of(&ov), APC_STATUS_CANCELLED);
	cr_assert_eq(ov.InternalHigh, 0);
	close_h(r);
	close_h(e);
	close_h(er);
}

/* ---- G11: 10,000 threads that did I/O ------------------------------------ */

/*
 * Threads made and ended, in batches of G11_BATCH alive at once.  Each
 * makes a pipe, receives an APC, reads with a routine what it wrote
 * itself (that read waits on the io_uring engine: the thread's ring and
 * eventfd are made), then leaves a routine read and an event read pending
 * and queues itself one more APC, and ends.
 */
#define G11_THREADS 10000u
#define G11_BATCH 100u

struct g11_slot {
	apc_handle r, w;
	struct op x, y;
	apc_overlapped ov;
	char buf[8];
	atomic_uint apcs;
};

static void g11_apc(uintptr_t data)
{
	atomic_fetch_add(&((struct g11_slot *)data)->apcs, 1);
}

static uint32_t thread_g11(void *arg)
{
	struct g11_slot *g = arg;
	uint64_t end;
	uint32_t n, st;

	if (apc_pipe_create(&g->r, &g->w, 0))
		return 1;
	if (apc_queue(APC_CURRENT_THREAD, g11_apc, (uintptr_t)g))
		return 2;
	st = apc_read_ex(g->r, g->x.buf, 8, &g->x.ov, op_routine);
	if (st)
		return 100 + st;
	if (apc_write(g->w, "g11", 3, &n, NULL) || n != 3)
		return 4;
	end = t_now_ms() + WAIT_BOUND;
	while (atomic_load(&g->x.calls) == 0 && t_now_ms() < end)
		(void)apc_sleep(20, true);
	if (atomic_load(&g->x.calls) != 1 || atomic_load(&g->x.bytes) != 3)
		return 5;
	if (atomic_load(&g->apcs) != 1)
		return 6;
	/* Pending at exit. */
	if (apc_read_ex(g->r, g->y.buf, 8, &g->y.ov, op_routine))
		return 7;
	if (apc_read(g->r, g->buf, 8, NULL, &g->ov) != APC_ERROR_IO_PENDING)
		return 8;
	if (apc_queue(APC_CURRENT_THREAD, g11_apc, (uintptr_t)g))
		return 9;
	return 0;
}

static void g11_batch(struct g11_slot *slots, unsigned int count)
{
	apc_handle th[G11_BATCH];

	for (unsigned int i = 0; i < count; i++) {
		memset(&slots[i], 0, sizeof(slots[i]));
		op_init(&slots[i].x);
		op_init(&slots[i].y);
		th[i] = t_spawn(thread_g11, &slots[i]);
	}
	for (unsigned int i = 0; i < count; i++) {
		struct g11_slot *g = &slots[i];
		uint32_t code = t_join(th[i]);

		cr_assert_eq(code, 0, "thread %u ended with %u", i, code);
		/* Ended when the thread's handle signals (G8). */
		cr_assert_eq(status_of(&g->y.ov), APC_STATUS_CANCELLED,
			     "thread %u: its routine read's Internal is %#lx "
			     "when its handle signals",
			     i, (unsigned long)status_of(&g->y.ov));
		cr_assert_eq(status_of(&g->ov), APC_STATUS_CANCELLED,
			     "thread %u: its event read's Internal is %#lx "
			     "when its handle signals",
			     i, (unsigned long)status_of(&g->ov));
		cr_assert_eq(atomic_load(&g->y.calls), 0);
		cr_assert_eq(atomic_load(&g->apcs), 1);
		close_h(g->r);
		close_h(g->w);
	}
}

Test(io_faults, G11_ten_thousand_threads_leave_no_descriptor)
{
	static struct g11_slot slots[G11_BATCH];
	static struct fd_base base;
	uint64_t start;

	/* Once first: whatever the process makes once is made. */
	g11_batch(slots, 1);
	fd_base_take(&base);
	start = t_now_ns();
	for (unsigned int done = 0; done < G11_THREADS; done += G11_BATCH)
		g11_batch(slots, G11_BATCH);
	cr_log_info("G11: %u threads in %.0f ms (engine %s)", G11_THREADS,
		    t_ms_since(start), apc_io_engine());
	fd_base_check(&base, "after the threads");
}

/* ---- G12: the process exits with I/O in flight --------------------------- */

static void g12_say(const char *s)
{
	(void)!write(1, s, strlen(s));
}

static void g12_routine(uint32_t error, uint32_t bytes, apc_overlapped *ov)
{
	(void)error;
	(void)bytes;
	(void)ov;
	g12_say("a completion routine ran\n");
}

static void g12_apc(uintptr_t data)
{
	(void)data;
	g12_say("an APC ran\n");
}

static void g12_timer(void *arg, uint32_t lo, uint32_t hi)
{
	(void)arg;
	(void)lo;
	(void)hi;
	g12_say("a timer routine ran\n");
}

struct g12_sleeper {
	apc_handle r, started;
	apc_overlapped ov[2];
	char buf[2][8];
	_Atomic uint32_t st;
};

static uint32_t thread_g12_sleeper(void *arg)
{
	struct g12_sleeper *s = arg;

	atomic_store(&s->st,
		     apc_read_ex(s->r, s->buf[0], 8, &s->ov[0], g12_routine) |
			     apc_read_ex(s->r, s->buf[1], 8, &s->ov[1],
					 g12_routine));
	(void)apc_event_set(s->started);
	(void)apc_sleep(60000, false); /* asleep, never alertable */
	return 0;
}

#define G12_CHECK(cond, code)                                                  \
	do {                                                                   \
		if (!(cond))                                                   \
			_exit(code);                                           \
	} while (0)

/* The child: I/O in flight, routines and APCs queued, then exit(0). */
static void g12_child(void)
{
	static struct g12_sleeper s;
	static apc_overlapped ov[4];
	static char buf[4][8];
	apc_handle r[4], w[4], port, ev, th, timer;
	uint32_t n;

	G12_CHECK(apc_io_engine() != NULL, 10);
	for (int i = 0; i < 4; i++)
		G12_CHECK(apc_pipe_create(&r[i], &w[i], 0) == 0, 11);
	G12_CHECK(apc_port_create(0, &port) == 0, 12);
	G12_CHECK(apc_port_bind(port, r[3], 1) == 0, 13);
	G12_CHECK(apc_event_create(true, false, &ev) == 0, 14);

	/* A sleeping thread with routine reads; one of them finishes. */
	s.r = r[0];
	G12_CHECK(apc_event_create(true, false, &s.started) == 0, 15);
	G12_CHECK(apc_thread_create(thread_g12_sleeper, &s, 0, 0, &th, NULL) ==
			  0,
		  16);
	G12_CHECK(apc_wait(s.started, 5000, false, NULL) == APC_WAIT_OBJECT_0,
		  17);
	G12_CHECK(atomic_load(&s.st) == 0, 18);
	G12_CHECK(apc_write(w[0], "a", 1, &n, NULL) == 0, 19);
	for (int i = 0; i < 3; i++)
		G12_CHECK(apc_queue(th, g12_apc, 0) == 0, 20);

	/* This thread: a routine read that finishes, one that waits, an
	 * event read and a port-bound read that wait, a timer routine
	 * queued, an APC queued; it never waits alertably. */
	G12_CHECK(apc_read_ex(r[1], buf[0], 8, &ov[0], g12_routine) == 0, 21);
	G12_CHECK(apc_write(w[1], "b", 1, &n, NULL) == 0, 22);
	G12_CHECK(apc_read_ex(r[1], buf[1], 8, &ov[1], g12_routine) == 0, 23);
	ov[2].hEvent = ev;
	G12_CHECK(apc_read(r[2], buf[2], 8, NULL, &ov[2]) ==
			  APC_ERROR_IO_PENDING,
		  24);
	G12_CHECK(apc_read(r[3], buf[3], 8, NULL, &ov[3]) ==
			  APC_ERROR_IO_PENDING,
		  25);
	G12_CHECK(apc_timer_create(true, &timer) == 0, 26);
	G12_CHECK(apc_timer_set(timer, -10000, 0, g12_timer, NULL) == 0, 27);
	G12_CHECK(apc_wait(timer, 5000, false, NULL) == APC_WAIT_OBJECT_0, 28);
	G12_CHECK(apc_queue(APC_CURRENT_THREAD, g12_apc, 0) == 0, 29);
	/* Time for the sleeper's read to finish (its routine is then
	 * queued to the sleeper, or waits on its ring: io_uring). */
	for (int i = 0; i < 100 && !apc_overlapped_done(&s.ov[0]) &&
			!apc_overlapped_done(&s.ov[1]);
	     i++)
		(void)apc_sleep(1, false);

	G12_CHECK(write(3, "x", 1) == 1, 30); /* exiting now */
	exit(0);
}

Test(io_faults, G12_exit_with_io_in_flight_ends_at_once_and_runs_nothing)
{
	int out[2], mark[2], status = 0;
	char text[4096], c;
	struct pollfd pfd;
	size_t len = 0;
	uint64_t start;
	double ms;
	pid_t pid;

	cr_assert_eq(pipe(out), 0);
	cr_assert_eq(pipe(mark), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* stdout and stderr to the parent, the mark on 3, and no
		 * other descriptor (the test runner's stay out of it). */
		G12_CHECK(dup2(out[1], 1) == 1 && dup2(out[1], 2) == 2, 2);
		G12_CHECK(dup2(mark[1], 3) == 3, 3);
		G12_CHECK(close_range(4, ~0u, 0) == 0, 4);
		g12_child();
	}
	close(out[1]);
	close(mark[1]);

	pfd.fd = mark[0];
	pfd.events = POLLIN;
	cr_assert_eq(poll(&pfd, 1, (int)WAIT_BOUND), 1, "the child hangs");
	if (read(mark[0], &c, 1) != 1) {
		/* The child ended before its exit(0). */
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		len = (size_t)read(out[0], text, sizeof(text) - 1);
		text[len > 0 && len < sizeof(text) ? len : 0] = '\0';
		cr_assert_fail("the child failed: status %#x: %s", status,
			       text);
	}
	start = t_now_ns();
	for (;;) {
		pid_t p = waitpid(pid, &status, WNOHANG);

		cr_assert_geq(p, 0);
		if (p == pid)
			break;
		if (t_ms_since(start) > 10000.0 * t_slack()) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			cr_assert_fail(
				"the child still runs 10 s after exit(0)");
		}
		usleep(500);
	}
	ms = t_ms_since(start);

	/* Everything the child wrote (its routines and any report). */
	for (;;) {
		ssize_t k = read(out[0], text + len, sizeof(text) - 1 - len);

		if (k <= 0)
			break;
		len += (size_t)k;
	}
	text[len] = '\0';
	close(out[0]);
	close(mark[0]);
	cr_log_info("G12: the child ended %.1f ms after exit(0) (engine %s)",
		    ms,
		    getenv("APC_ENGINE") ? getenv("APC_ENGINE") : "default");
	cr_assert_eq(len, 0, "the exiting child printed: %s", text);
	cr_assert(WIFEXITED(status), "status %#x", status);
	cr_assert_eq(WEXITSTATUS(status), 0);
	cr_assert_leq(ms, 1000.0 * t_slack() + exit_sleep_ms(),
		      "the child took %.0f ms to end (%.0f ms of it a "
		      "sanitizer's wait at exit)",
		      ms, exit_sleep_ms());
}

/* ---- E43: a cancelled write that had moved part of its bytes ------------ */

/* Byte j of round k's write: a hash of (k, j), so that 16 bytes name
 * their round and offset. */
static unsigned char e43_byte(uint32_t k, uint32_t j)
{
	uint64_t x = ((uint64_t)k << 32 | j) * 0x9E3779B97F4A7C15ull;

	x ^= x >> 29;
	x *= 0xBF58476D1CE4E5B9ull;
	return (unsigned char)(x >> 56);
}

/* Everything the pipe holds until its writer is gone, with event reads
 * each bounded (the writer's close must have been seen). */
static uint32_t drain_all(apc_handle r, unsigned char *buf, uint32_t cap)
{
	apc_handle e = t_event_new(true, false);
	apc_overlapped ov = {0};
	uint32_t got = 0, n, st;

	ov.hEvent = e;
	for (;;) {
		cr_assert_lt(got, cap, "more bytes than were written");
		n = T_POISON;
		st = apc_read(r, buf + got, cap - got, &n, &ov);
		if (st == APC_ERROR_IO_PENDING)
			st = finish(r, &ov, &n);
		if (st == APC_ERROR_BROKEN_PIPE)
			break;
		cr_assert_eq(st, 0, "read: %u", st);
		got += n;
	}
	close_h(e);
	return got;
}

Test(io_faults, E43_cancelled_write_that_moved_part_reports_its_bytes)
{
	static unsigned char data[5000], stream[16384];
	apc_handle r, w, e = t_event_new(true, false);
	apc_overlapped ov = {0};
	uint32_t n = T_POISON, st, c, got, moved;
	char head[100];

	/* One page of pipe, 100 bytes in it: a write of 5000 bytes (more
	 * than PIPE_BUF, so not atomic) moves what fits and waits. */
	pipe_new(&r, &w, 4096);
	memset(head, 'h', sizeof(head));
	put(w, head, sizeof(head));
	for (uint32_t j = 0; j < sizeof(data); j++)
		data[j] = e43_byte(7, j);
	ov.hEvent = e;
	st = apc_write(w, data, sizeof(data), &n, &ov);
	cr_assert_eq(st, APC_ERROR_IO_PENDING, "write: %u", st);
	c = apc_cancel_io_ex(w, &ov);
	cr_assert(c == 0 || c == APC_ERROR_NOT_FOUND, "cancel: %u", c);
	got = 0;
	st = apc_overlapped_result(w, &ov, &n, 1000, false);
	for (int i = 0; st == APC_WAIT_TIMEOUT && i < 4; i++) {
		/* Not cancelled: it waits for room.  Make some. */
		uint32_t k = T_POISON;

		cr_assert_eq(apc_read(r, stream + got, 4096, &k, NULL), 0);
		got += k;
		st = apc_overlapped_result(w, &ov, &n, 1000, false);
	}
	cr_assert_neq(st, APC_WAIT_TIMEOUT, "the write never ended");
	close_h(w);
	got += drain_all(r, stream + got, sizeof(stream) - got);
	cr_assert_geq(got, sizeof(head));
	cr_assert_eq(memcmp(stream, head, sizeof(head)), 0);
	moved = got - (uint32_t)sizeof(head);
	for (uint32_t j = 0; j < moved; j++)
		cr_assert_eq(stream[sizeof(head) + j], data[j], "byte %u", j);
	cr_log_info("engine %s: the cancelled write ended with %u, %u bytes "
		    "reported, %u bytes reached the reader",
		    apc_io_engine(), st, n, moved);
	if (st == APC_ERROR_OPERATION_ABORTED)
		cr_assert_eq(moved, 0,
			     "the write ended cancelled (995, %u bytes) but "
			     "%u of its %zu bytes reached the reader "
			     "(engine %s)",
			     n, moved, sizeof(data), apc_io_engine());
	else
		cr_assert_eq(st, 0, "write: %u", st);
	cr_assert_eq(n, moved, "%u bytes reported, %u moved", n, moved);
	close_h(r);
	close_h(e);
}

/* ---- E43: write, then cancel, 10,000 times ------------------------------- */

#define E43_ROUNDS 10000u
#define E43_MAX 8192u /* writes of 1 .. E43_MAX bytes: above PIPE_BUF too */

static uint32_t e43_next(uint32_t *seed)
{
	uint32_t x = *seed;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *seed = x;
}

/* The pipe's size, and what the reader leaves in it while the writer
 * goes on: the pipe stays nearly full. */
#define E43_PIPE 16384u
#define E43_KEEP 12288u

struct e43_reader {
	apc_handle r;
	unsigned char *buf;
	size_t cap;
	_Atomic size_t got;
	_Atomic size_t written; /* by the writes that reported it */
	atomic_bool closing;
	_Atomic uint32_t st;
};

/* Reads everything, up to 4 KiB at a time, until the end; while the
 * writer goes on, mostly what lies beyond E43_KEEP bytes in the pipe. */
static uint32_t thread_e43_reader(void *arg)
{
	struct e43_reader *rd = arg;
	uint32_t seed = 12345, st;
	size_t got = 0;

	for (;;) {
		uint32_t n = 0, want = 128 + e43_next(&seed) % 4096;

		uint64_t until = t_now_ns() + 200000;

		/* A hint, not a rule: the writes that moved bytes and
		 * reported none (a bug) would stall it for good. */
		while (!atomic_load(&rd->closing) &&
		       atomic_load(&rd->written) < got + E43_KEEP &&
		       t_now_ns() < until)
			(void)apc_sleep(0, false);

		if (want > rd->cap - got)
			want = (uint32_t)(rd->cap - got);
		if (want == 0) {
			st = 1; /* more bytes than every write together */
			break;
		}
		st = apc_read(rd->r, rd->buf + got, want, &n, NULL);
		if (st)
			break;
		got += n;
		atomic_store(&rd->got, got);
	}
	atomic_store(&rd->st, st);
	return 0;
}

enum { AT_ONCE, RACED, PARTIAL, CANCELLED };
static const char *const e43_how[] = {"finished at once",
				      "pending, finished whole",
				      "pending, finished in part", "cancelled"};

/*
 * Whose bytes are at buf: a round's bytes reach the stream in order, so
 * round m's next bytes are those from seen[m] on.  The round (near k
 * first, then any) whose next bytes match longest, 4 bytes at least or
 * all it has left; returns the run, 0 if none.
 */
static uint32_t e43_whose(const unsigned char *buf, size_t avail,
			  const uint32_t *lens, const uint32_t *seen,
			  uint32_t k, uint32_t *round)
{
	uint32_t best = 0;

	for (uint32_t pass = 0; pass < 2 && !best; pass++) {
		uint32_t lo = pass ? 0 : k > 64 ? k - 64 : 0;
		uint32_t hi = pass ? E43_ROUNDS : k + 64;

		for (uint32_t m = lo; m < hi && m < E43_ROUNDS; m++) {
			uint32_t run = 0, left = lens[m] - seen[m];

			while (run < avail && run < left &&
			       buf[run] == e43_byte(m, seen[m] + run))
				run++;
			if (run > best && (run >= 4 || (run && run == left))) {
				best = run;
				*round = m;
			}
		}
	}
	return best;
}

/*
 * Walk the stream against what the writes reported: res[k] bytes of round
 * k, in order, nothing else.  Bytes found where another byte was due are
 * named (whose, from which of its bytes, how many) and skipped; reported
 * bytes that never came are counted at the end.  Returns the number of
 * anomalies; msg gets the first few.
 */
static unsigned int e43_check(const unsigned char *buf, size_t got,
			      const uint32_t *lens, const uint32_t *res,
			      const uint32_t *how, char *msg, size_t size)
{
	static uint32_t seen[E43_ROUNDS];
	uint32_t k = 0;
	unsigned int bad = 0;
	size_t pos = 0, used = 0, extra = 0, missing = 0;

	memset(seen, 0, sizeof(seen));
	msg[0] = '\0';
	while (k < E43_ROUNDS && res[k] == 0)
		k++;
	while (pos < got && bad < 1000) {
		uint32_t m = 0, run, due = k < E43_ROUNDS ? k : k - 1;

		if (k < E43_ROUNDS && buf[pos] == e43_byte(k, seen[k])) {
			pos++;
			if (++seen[k] < res[k])
				continue;
			do
				k++;
			while (k < E43_ROUNDS && res[k] <= seen[k]);
			continue;
		}
		bad++;
		run = e43_whose(buf + pos, got - pos, lens, seen, due, &m);
		if (bad <= 4 && used < size) {
			if (run)
				used += (size_t)snprintf(
					msg + used, size - used,
					"[stream byte %zu, where byte %u of "
					"round %u was due: %u bytes of round "
					"%u from its byte %u, a write of %u "
					"bytes that reported %u (%s)] ",
					pos, seen[due], due, run, m, seen[m],
					lens[m], res[m], e43_how[how[m]]);
			else
				used += (size_t)snprintf(
					msg + used, size - used,
					"[stream byte %zu, where byte %u of "
					"round %u was due: a byte that names "
					"no write (a piece under 4 bytes?)] ",
					pos, seen[due], due);
		}
		if (run)
			seen[m] += run;
		pos += run ? run : 1;
		extra += run ? run : 1;
	}
	if (pos < got) {
		if (used < size)
			snprintf(msg + used, size - used,
				 "%u anomalies and %zu bytes that no write "
				 "reported in the first %zu of %zu bytes; "
				 "stopped there",
				 bad, extra, pos, got);
		return bad;
	}
	for (uint32_t q = 0; q < E43_ROUNDS; q++)
		if (seen[q] < res[q])
			missing += res[q] - seen[q];
	if (missing) {
		bad++;
		if (used < size)
			used += (size_t)snprintf(
				msg + used, size - used,
				"[%zu reported bytes never came, from byte %u "
				"of round %u on] ",
				missing, k < E43_ROUNDS ? seen[k] : 0, k);
	}
	if (bad && used < size)
		snprintf(msg + used, size - used,
			 "%u anomalies, %zu bytes that no write reported", bad,
			 extra);
	return bad;
}

Test(io_faults, E43_write_then_cancel_moves_exactly_the_reported_bytes)
{
	static uint32_t lens[E43_ROUNDS], res[E43_ROUNDS], how[E43_ROUNDS];
	static unsigned char wbuf[E43_MAX];
	static char msg[2048];
	unsigned int bad;
	uint32_t count[4] = {0}, seed = 2463534242u, not_found = 0;
	apc_handle r, w, th, e = t_event_new(true, false);
	apc_overlapped ov = {0};
	struct e43_reader rd;
	size_t total = 0;
	uint64_t start = t_now_ns();

	for (uint32_t k = 0; k < E43_ROUNDS; k++) {
		lens[k] = 1 + e43_next(&seed) % E43_MAX;
		total += lens[k];
	}
	pipe_new(&r, &w, E43_PIPE);
	memset(&rd, 0, sizeof(rd));
	rd.r = r;
	rd.cap = total + 1;
	rd.buf = malloc(rd.cap);
	cr_assert_not_null(rd.buf);
	atomic_store(&rd.st, T_POISON);
	th = t_spawn(thread_e43_reader, &rd);

	for (uint32_t k = 0; k < E43_ROUNDS; k++) {
		uint32_t n = T_POISON, st, c;

		for (uint32_t j = 0; j < lens[k]; j++)
			wbuf[j] = e43_byte(k, j);
		ov.hEvent = e;
		st = apc_write(w, wbuf, lens[k], &n, &ov);
		/* Cancel at once, or give the reader up to 100 us first. */
		if (e43_next(&seed) % 4) {
			uint64_t until = t_now_ns() + e43_next(&seed) % 100000;

			while (t_now_ns() < until)
				;
		}
		c = apc_cancel_io_ex(w, &ov);
		if (st == 0) {
			/* Finished at once, whole; nothing to cancel (E41). */
			cr_assert_eq(n, lens[k], "round %u", k);
			cr_assert_eq(c, APC_ERROR_NOT_FOUND, "round %u", k);
			res[k] = n;
			how[k] = AT_ONCE;
			count[AT_ONCE]++;
			atomic_fetch_add(&rd.written, n);
			continue;
		}
		cr_assert_eq(st, APC_ERROR_IO_PENDING, "round %u: write %u", k,
			     st);
		cr_assert(c == 0 || c == APC_ERROR_NOT_FOUND,
			  "round %u: cancel %u", k, c);
		not_found += c == APC_ERROR_NOT_FOUND;
		st = finish(w, &ov, &n);
		if (st == APC_ERROR_OPERATION_ABORTED) {
			cr_assert_eq(n, 0, "round %u", k);
			cr_assert_eq(status_of(&ov), APC_STATUS_CANCELLED);
			res[k] = 0;
			how[k] = CANCELLED;
		} else {
			cr_assert_eq(st, 0,
				     "round %u: a write of %u bytes "
				     "ended with %u",
				     k, lens[k], st);
			cr_assert(n > 0 && n <= lens[k],
				  "round %u: %u of %u bytes", k, n, lens[k]);
			res[k] = n;
			how[k] = n == lens[k] ? RACED : PARTIAL;
		}
		count[how[k]]++;
		atomic_fetch_add(&rd.written, res[k]);
	}
	atomic_store(&rd.closing, true);
	close_h(w);
	cr_assert_eq(t_join(th), 0);
	cr_assert_eq(atomic_load(&rd.st), APC_ERROR_BROKEN_PIPE,
		     "the reader ended with %u after %zu bytes",
		     atomic_load(&rd.st), atomic_load(&rd.got));
	cr_log_info("E43 (engine %s, %.0f ms): %u at once, %u pending that "
		    "finished whole, %u finished in part, %u cancelled "
		    "(cancel found nothing %u times)",
		    apc_io_engine(), t_ms_since(start), count[AT_ONCE],
		    count[RACED], count[PARTIAL], count[CANCELLED], not_found);

	/* The stream is the successful writes, in order, each as much as
	 * it reported, and nothing else. */
	bad = e43_check(rd.buf, atomic_load(&rd.got), lens, res, how, msg,
			sizeof(msg));
	cr_assert_eq(bad, 0, "engine %s: %s", apc_io_engine(), msg);
	close_h(r);
	close_h(e);
	free(rd.buf);
}
