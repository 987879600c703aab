/*
 * Named pipes over the portable API (<apc/npipe.h>, with the I/O calls of
 * <apc/io.h> and <apc/port.h>).
 *
 * Contract: N3-N7, and E / F for the I/O routes on named-pipe handles.
 * One Test per rule or per case of a rule; names cite the rule.  Checks
 * rest on Microsoft's documentation (CreateNamedPipe, ConnectNamedPipe,
 * DisconnectNamedPipe, CreateFile for pipes, WaitNamedPipe,
 * PeekNamedPipe, SetNamedPipeHandleState, Pipe Names, Named Pipe Type,
 * Read, and Wait Modes) and on Wine's conformance tests of named pipes
 * (dlls/kernel32/tests/pipe.c), which run against Windows: where the
 * documentation is silent (the order in which instances take clients,
 * ERROR_PIPE_LISTENING, ERROR_PIPE_NOT_CONNECTED after a disconnect,
 * empty messages, zero-byte reads), what those tests assert of Windows is
 * what is checked here.
 *
 * On the win32 backend these run against kernel32 (under Wine in CI);
 * checks that Wine 8.0 fails against Microsoft's documentation carry
 * T_WINE_DEVIATION and are listed in README.md.  Every test runs on
 * both backends, and on POSIX on both I/O engines (meson's fallback
 * setup); the few about processes that die are POSIX-only (fork, kill).
 *
 * POSIX mapping (apcrt decision, N3; README "Named pipes: where they live").
 * The tests behind #ifndef _WIN32 assume: the engine keeps its sockets below
 * $XDG_RUNTIME_DIR when that is set (read at a process's first pipe
 * call); a pipe name is at least one Unix-domain socket there; every
 * socket and directory the engine makes belongs to the user, and others
 * cannot reach the socket (the socket, or its directory, has no group or
 * other permission bits); the last instance's close removes the socket;
 * a socket or a directory of another user, or a directory that others
 * may enter, makes apc_npipe_create and apc_npipe_open fail with
 * APC_ERROR_ACCESS_DENIED.  Each test is a process of its own, so each
 * points XDG_RUNTIME_DIR at a fresh directory.
 *
 * Names are unique per process and call (pid and a counter).  Every wait
 * is bounded (WAIT_BOUND); every operation a test starts is finished or
 * cancelled and waited for before its buffers go.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apc/apc.h>

#if defined(_WIN32)
#include <windows.h>
#else
#include <dirent.h>
#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#endif

#include "helpers.h"

TestSuite(npipe, .timeout = 120);

/* Bound of every wait that must end (ms). */
#define WAIT_BOUND ((uint32_t)(T_WAIT_MS * t_slack()))

#define RW (APC_GENERIC_READ | APC_GENERIC_WRITE)
#define OV APC_FILE_FLAG_OVERLAPPED
#define DUPLEX_OV (APC_PIPE_ACCESS_DUPLEX | OV)
#define BYTE_MODE (APC_PIPE_TYPE_BYTE | APC_PIPE_READMODE_BYTE)
#define MSG_MODE (APC_PIPE_TYPE_MESSAGE | APC_PIPE_READMODE_MESSAGE)

/* ---- helpers: names and handles ------------------------------------------ */

#define NAME_LEN 96

static unsigned long self_pid(void)
{
#if defined(_WIN32)
	return (unsigned long)GetCurrentProcessId();
#else
	return (unsigned long)getpid();
#endif
}

/* A pipe name no other test, call or process uses. */
static char *name_new(char *buf)
{
	static unsigned int seq;

	snprintf(buf, NAME_LEN, "\\\\.\\pipe\\apcrt-test-npipe-%lu-%u",
		 self_pid(), seq++);
	return buf;
}

static void close_h(apc_handle h)
{
	uint32_t st = apc_close(h);

	cr_assert_eq(st, 0, "apc_close: %u", st);
}

/* An instance with 4 KiB buffer hints and the default wait time. */
static apc_handle server_new(const char *name, uint32_t open_mode,
			     uint32_t pipe_mode, uint32_t max)
{
	apc_handle h = T_POISON_HANDLE;
	uint32_t st = apc_npipe_create(name, open_mode, pipe_mode, max, 4096,
				       4096, 0, &h);

	cr_assert_eq(st, 0, "apc_npipe_create(%s): %u", name, st);
	cr_assert_not_null(h);
	cr_assert_neq(h, T_POISON_HANDLE);
	return h;
}

/* apc_npipe_create expected to fail with want; *out must be NULL. */
static void server_fails(const char *name, uint32_t open_mode,
			 uint32_t pipe_mode, uint32_t max, uint32_t want)
{
	apc_handle h = T_POISON_HANDLE;
	uint32_t st = apc_npipe_create(name, open_mode, pipe_mode, max, 4096,
				       4096, 0, &h);

	cr_assert_eq(st, want, "apc_npipe_create(%s, %#x, %#x, %u): %u, not %u",
		     name ? name : "NULL", open_mode, pipe_mode, max, st, want);
	cr_assert_null(h);
}

/*
 * apc_npipe_create's status; a handle it made is closed (for checks that
 * Wine fails: the test goes on as if the call had failed).
 */
static uint32_t create_st(const char *name, uint32_t open_mode,
			  uint32_t pipe_mode, uint32_t max)
{
	apc_handle h = T_POISON_HANDLE;
	uint32_t st = apc_npipe_create(name, open_mode, pipe_mode, max, 4096,
				       4096, 0, &h);

	if (st == 0)
		close_h(h);
	else
		cr_assert_null(h);
	return st;
}

#define FIRST_WINE                                                             \
	"Wine 8.0 makes a second instance with "                               \
	"FILE_FLAG_FIRST_PIPE_INSTANCE; "                                      \
	"MS CreateNamedPipe: it fails with ERROR_ACCESS_DENIED"

static apc_handle client_open(const char *name, uint32_t access, uint32_t flags)
{
	apc_handle h = T_POISON_HANDLE;
	uint32_t st = apc_npipe_open(name, access, flags, &h);

	cr_assert_eq(st, 0, "apc_npipe_open(%s): %u", name, st);
	cr_assert_not_null(h);
	cr_assert_neq(h, T_POISON_HANDLE);
	return h;
}

/* apc_npipe_open expected to fail with want; *out must be NULL. */
static void client_fails(const char *name, uint32_t access, uint32_t want)
{
	apc_handle h = T_POISON_HANDLE;
	uint32_t st = apc_npipe_open(name, access, OV, &h);

	cr_assert_eq(st, want, "apc_npipe_open(%s): %u, not %u",
		     name ? name : "NULL", st, want);
	cr_assert_null(h);
}

/* ---- helpers: I/O -------------------------------------------------------- */

/* Wait (bounded, not alertable) for an operation's result. */
static uint32_t finish(apc_handle h, apc_overlapped *ov, uint32_t *n)
{
	uint32_t st = apc_overlapped_result(h, ov, n, WAIT_BOUND, false);

	cr_assert_neq(st, APC_WAIT_TIMEOUT, "the operation never finished");
	return st;
}

/* A fresh OVERLAPPED with a manual-reset event. */
static void ov_init(apc_overlapped *ov)
{
	memset(ov, 0, sizeof(*ov));
	ov->hEvent = t_event_new(true, false);
}

static void ov_fini(apc_overlapped *ov)
{
	close_h(ov->hEvent);
}

/*
 * An overlapped write, waited for: its status; *n (when not NULL) its
 * count.  A write that fails to start returns that error.
 */
static uint32_t put_st(apc_handle h, const void *data, uint32_t len,
		       uint32_t *n)
{
	apc_overlapped ov;
	uint32_t got = T_POISON;
	uint32_t st;

	ov_init(&ov);
	st = apc_write(h, data, len, NULL, &ov);
	if (st == 0 || st == APC_ERROR_IO_PENDING)
		st = finish(h, &ov, &got);
	else
		got = 0;
	ov_fini(&ov);
	if (n)
		*n = got;
	return st;
}

/* All of data through an overlapped write (asserted). */
static void put(apc_handle h, const void *data, uint32_t len)
{
	uint32_t n = T_POISON;
	uint32_t st = put_st(h, data, len, &n);

	cr_assert_eq(st, 0, "write: %u", st);
	cr_assert_eq(n, len, "wrote %u of %u", n, len);
}

/*
 * An overlapped read, waited for: its status (0, APC_ERROR_MORE_DATA or
 * an error), *n its count.  A read that fails to start returns that
 * error with *n = 0.
 */
static uint32_t get(apc_handle h, void *buf, uint32_t len, uint32_t *n)
{
	apc_overlapped ov;
	uint32_t st;

	ov_init(&ov);
	*n = T_POISON;
	st = apc_read(h, buf, len, NULL, &ov);
	if (st == 0 || st == APC_ERROR_IO_PENDING || st == APC_ERROR_MORE_DATA)
		st = finish(h, &ov, n);
	else
		*n = 0;
	ov_fini(&ov);
	return st;
}

/* A read that must return exactly want (a NUL-terminated string). */
static void get_str(apc_handle h, const char *want)
{
	char buf[256];
	uint32_t n;
	uint32_t st = get(h, buf, sizeof(buf) - 1, &n);

	cr_assert_eq(st, 0, "read: %u", st);
	buf[n] = '\0';
	cr_assert_eq(strcmp(buf, want), 0, "read \"%s\", not \"%s\"", buf,
		     want);
}

/* Start an overlapped read that must stay pending. */
static void read_pending(apc_handle h, apc_overlapped *ov, void *buf,
			 uint32_t len)
{
	uint32_t st = apc_read(h, buf, len, NULL, ov);

	cr_assert_eq(st, APC_ERROR_IO_PENDING, "apc_read: %u", st);
}

/* Not finished now, nor after ms more. */
static void still_pending(apc_overlapped *ov, uint32_t ms)
{
	if (ms)
		(void)apc_sleep(ms, false);
	cr_assert_not(apc_overlapped_done(ov), "finished: Internal %#lx",
		      (unsigned long)ov->Internal);
}

/* Cancel one operation and wait for it: it must end with 995. */
static void cancel_finish(apc_handle h, apc_overlapped *ov)
{
	uint32_t n = T_POISON;

	cr_assert_eq(apc_cancel_io_ex(h, ov), 0);
	cr_assert_eq(finish(h, ov, &n), APC_ERROR_OPERATION_ABORTED);
	cr_assert_eq(n, 0);
}

static void peek_is(apc_handle h, uint32_t avail, uint32_t left)
{
	uint32_t a = T_POISON, l = T_POISON;
	uint32_t st = apc_npipe_peek(h, &a, &l);

	cr_assert_eq(st, 0, "apc_npipe_peek: %u", st);
	cr_assert_eq(a, avail, "available %u, not %u", a, avail);
	cr_assert_eq(l, left, "left in the message %u, not %u", l, left);
}

/* ---- helpers: a connected pair ------------------------------------------- */

struct pair {
	char name[NAME_LEN];
	apc_handle s; /* the server instance */
	apc_handle c; /* the client */
};

/*
 * A connected pair on a fresh name, one instance.  Overlapped: a duplex
 * overlapped instance whose connect pends until an overlapped read/write
 * client opens (N4).  Synchronous: both ends without
 * APC_FILE_FLAG_OVERLAPPED; the client opens first and the blocking
 * connect reports ERROR_PIPE_CONNECTED.  In message mode the client is
 * switched to message reads (clients start in byte mode).
 */
static void pair_open_ex(struct pair *p, uint32_t pipe_mode, bool overlapped,
			 uint32_t out_size, uint32_t in_size)
{
	uint32_t n = T_POISON;
	uint32_t st;

	name_new(p->name);
	p->s = T_POISON_HANDLE;
	st = apc_npipe_create(p->name,
			      APC_PIPE_ACCESS_DUPLEX | (overlapped ? OV : 0),
			      pipe_mode, 1, out_size, in_size, 0, &p->s);
	cr_assert_eq(st, 0, "apc_npipe_create: %u", st);
	if (overlapped) {
		apc_overlapped ov;

		ov_init(&ov);
		st = apc_npipe_connect(p->s, &ov);
		cr_assert_eq(st, APC_ERROR_IO_PENDING, "connect: %u", st);
		p->c = client_open(p->name, RW, OV);
		cr_assert_eq(finish(p->s, &ov, &n), 0);
		ov_fini(&ov);
	} else {
		p->c = client_open(p->name, RW, 0);
		st = apc_npipe_connect(p->s, NULL);
		cr_assert_eq(st, APC_ERROR_PIPE_CONNECTED, "connect: %u", st);
	}
	if (pipe_mode & APC_PIPE_READMODE_MESSAGE)
		cr_assert_eq(
			apc_npipe_set_mode(p->c, APC_PIPE_READMODE_MESSAGE), 0);
}

static void pair_open(struct pair *p, uint32_t pipe_mode)
{
	pair_open_ex(p, pipe_mode, true, 4096, 4096);
}

static void pair_close(struct pair *p)
{
	if (p->c)
		close_h(p->c);
	if (p->s)
		close_h(p->s);
	p->c = NULL;
	p->s = NULL;
}

/* Start an overlapped connect that must pend. */
static void connect_pending(apc_handle s, apc_overlapped *ov)
{
	uint32_t st = apc_npipe_connect(s, ov);

	cr_assert_eq(st, APC_ERROR_IO_PENDING, "connect: %u", st);
}

/* ---- helpers: completion routines ---------------------------------------- */

/* One operation with a completion routine; ov first (the routine gets it). */
struct op {
	apc_overlapped ov;
	char buf[64];
	atomic_uint calls;
	uint32_t error;
	uint32_t bytes;
	uint32_t tid;
	apc_overlapped *ov_arg;
};

static void op_init(struct op *o)
{
	memset(o, 0, sizeof(*o));
	o->error = T_POISON;
	o->bytes = T_POISON;
}

static void op_routine(uint32_t error, uint32_t bytes, apc_overlapped *ov)
{
	struct op *o = (struct op *)ov;

	o->error = error;
	o->bytes = bytes;
	o->ov_arg = ov;
	o->tid = apc_thread_id(APC_CURRENT_THREAD);
	atomic_fetch_add(&o->calls, 1);
}

/* Alertable waits, bounded in all, until *calls reaches want. */
static void wait_calls(atomic_uint *calls, unsigned int want)
{
	t_wait_calls(calls, want, 50);
}

/* ---- N3: instances and names --------------------------------------------- */

Test(npipe, N3_names_outside_the_pipe_namespace_are_invalid)
{
	static const char *const bad[] = {
		"apcrt-test-npipe",	   "\\\\.\\pipes\\apcrt",
		"\\\\.\\pipe\\",	   "\\\\.\\pipe",
		"\\\\server\\pipe\\apcrt", "C:\\pipe\\apcrt",
		"\\\\?\\pipe\\apcrt",	   "//./pipe/apcrt",
	};
	apc_handle h;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		server_fails(bad[i], DUPLEX_OV, BYTE_MODE, 1,
			     APC_ERROR_INVALID_NAME);
		client_fails(bad[i], RW, APC_ERROR_INVALID_NAME);
		cr_assert_eq(apc_npipe_wait(bad[i], 1), APC_ERROR_INVALID_NAME,
			     "apc_npipe_wait(%s)", bad[i]);
	}
	/* No name at all, or nowhere to put the handle: a bad call. */
	server_fails(NULL, DUPLEX_OV, BYTE_MODE, 1,
		     APC_ERROR_INVALID_PARAMETER);
	client_fails(NULL, RW, APC_ERROR_INVALID_PARAMETER);
	cr_assert_eq(apc_npipe_create("\\\\.\\pipe\\apcrt", DUPLEX_OV,
				      BYTE_MODE, 1, 0, 0, 0, NULL),
		     APC_ERROR_INVALID_PARAMETER);
	cr_assert_eq(apc_npipe_open("\\\\.\\pipe\\apcrt", RW, OV, NULL),
		     APC_ERROR_INVALID_PARAMETER);
	h = T_POISON_HANDLE;
	cr_assert_eq(apc_npipe_open("\\\\.\\pipe\\apcrt", 0x1u, OV, &h),
		     APC_ERROR_INVALID_PARAMETER);
	cr_assert_null(h);
}

/* Two instances of one name, two clients: each pair has its own data. */
static void two_instances(uint32_t pipe_mode)
{
	char name[NAME_LEN];
	apc_handle s1, s2, c1, c2;

	name_new(name);
	s1 = server_new(name, DUPLEX_OV, pipe_mode, 2);
	s2 = server_new(name, DUPLEX_OV, pipe_mode, 2);
	c1 = client_open(name, RW, OV);
	c2 = client_open(name, RW, OV);
	client_fails(name, RW, APC_ERROR_PIPE_BUSY);
	if (pipe_mode & APC_PIPE_READMODE_MESSAGE) {
		cr_assert_eq(apc_npipe_set_mode(c1, APC_PIPE_READMODE_MESSAGE),
			     0);
		cr_assert_eq(apc_npipe_set_mode(c2, APC_PIPE_READMODE_MESSAGE),
			     0);
	}
	/* Instances take clients in the order they started listening. */
	put(c1, "one", 3);
	put(c2, "two", 3);
	get_str(s2, "two");
	get_str(s1, "one");
	put(s1, "ONE", 3);
	put(s2, "TWO", 3);
	get_str(c2, "TWO");
	get_str(c1, "ONE");
	close_h(c1);
	close_h(c2);
	close_h(s1);
	close_h(s2);
}

Test(npipe, N3_instances_of_a_name_serve_a_client_each)
{
	two_instances(BYTE_MODE);
	two_instances(MSG_MODE);
}

/*
 * A client goes to the instance that has listened longest: instances
 * listen from their creation, and again from a connect after a
 * disconnect; a pending connect gives no priority (Wine's
 * test_multiple_instances, run against Windows).
 */
static void goes_to(const char *name, apc_handle s)
{
	apc_handle c = client_open(name, RW, OV);
	char buf[4];
	uint32_t n;

	put(c, "k", 1);
	cr_assert_eq(get(s, buf, sizeof(buf), &n), 0);
	cr_assert_eq(n, 1);
	close_h(c);
}

Test(npipe, N3_a_client_goes_to_the_instance_listening_longest)
{
	char name[NAME_LEN];
	apc_handle s[4];
	apc_overlapped ov2, ova, ovb;
	uint32_t n;

	name_new(name);
	for (int i = 0; i < 4; i++)
		s[i] = server_new(name, DUPLEX_OV, BYTE_MODE, 4);
	ov_init(&ov2);
	connect_pending(s[2], &ov2);
	goes_to(name, s[0]);
	goes_to(name, s[1]);
	still_pending(&ov2, 0);
	goes_to(name, s[2]);
	cr_assert_eq(finish(s[2], &ov2, &n), 0);

	/* s[0] and s[2] listen again, s[2] first; s[3] has listened since
	 * it was made. */
	cr_assert_eq(apc_npipe_disconnect(s[0]), 0);
	cr_assert_eq(apc_npipe_disconnect(s[2]), 0);
	ov_init(&ova);
	ov_init(&ovb);
	connect_pending(s[2], &ova);
	connect_pending(s[0], &ovb);
	goes_to(name, s[3]);
	still_pending(&ova, 0);
	still_pending(&ovb, 0);
	goes_to(name, s[2]);
	cr_assert_eq(finish(s[2], &ova, &n), 0);
	still_pending(&ovb, 0);
	goes_to(name, s[0]);
	cr_assert_eq(finish(s[0], &ovb, &n), 0);
	/* Every instance is taken now. */
	client_fails(name, RW, APC_ERROR_PIPE_BUSY);
	ov_fini(&ov2);
	ov_fini(&ova);
	ov_fini(&ovb);
	for (int i = 0; i < 4; i++)
		close_h(s[i]);
}

Test(npipe, N3_more_instances_than_the_limit_is_pipe_busy)
{
	char name[NAME_LEN];
	apc_handle a, b, c;

	name_new(name);
	a = server_new(name, DUPLEX_OV, BYTE_MODE, 1);
	server_fails(name, DUPLEX_OV, BYTE_MODE, 1, APC_ERROR_PIPE_BUSY);
	close_h(a);

	name_new(name);
	a = server_new(name, DUPLEX_OV, MSG_MODE, 2);
	b = server_new(name, DUPLEX_OV, MSG_MODE, 2);
	server_fails(name, DUPLEX_OV, MSG_MODE, 2, APC_ERROR_PIPE_BUSY);
	/* Closing one makes room for one. */
	close_h(a);
	c = server_new(name, DUPLEX_OV, MSG_MODE, 2);
	server_fails(name, DUPLEX_OV, MSG_MODE, 2, APC_ERROR_PIPE_BUSY);
	close_h(b);
	close_h(c);
}

Test(npipe, N3_instance_limit_is_1_to_255)
{
	char name[NAME_LEN];
	apc_handle h[3];

	server_fails(name_new(name), DUPLEX_OV, BYTE_MODE, 0,
		     APC_ERROR_INVALID_PARAMETER);
	server_fails(name_new(name), DUPLEX_OV, BYTE_MODE, 256,
		     APC_ERROR_INVALID_PARAMETER);
	server_fails(name_new(name), DUPLEX_OV, BYTE_MODE, 0xFFFFFFFFu,
		     APC_ERROR_INVALID_PARAMETER);
	name_new(name);
	for (int i = 0; i < 3; i++)
		h[i] = server_new(name, DUPLEX_OV, BYTE_MODE,
				  APC_PIPE_UNLIMITED_INSTANCES);
	for (int i = 0; i < 3; i++)
		close_h(h[i]);
}

Test(npipe, N3_first_pipe_instance_refuses_a_name_in_use)
{
	char name[NAME_LEN];
	apc_handle a, b;

	name_new(name);
	a = server_new(name, DUPLEX_OV | APC_FILE_FLAG_FIRST_PIPE_INSTANCE,
		       BYTE_MODE, 2);
	T_WINE_DEVIATION(
		FIRST_WINE,
		cr_assert_eq(
			create_st(name,
				  DUPLEX_OV | APC_FILE_FLAG_FIRST_PIPE_INSTANCE,
				  BYTE_MODE, 2),
			APC_ERROR_ACCESS_DENIED));
	b = server_new(name, DUPLEX_OV, BYTE_MODE, 2);
	close_h(a);
	close_h(b);
	/* The name went with its last instance. */
	a = server_new(name, DUPLEX_OV | APC_FILE_FLAG_FIRST_PIPE_INSTANCE,
		       BYTE_MODE, 2);
	close_h(a);
}

/* Instances of one name go the same way (Wine's
 * test_CreateNamedPipe_instances_must_match, run against Windows). */
Test(npipe, N3_instances_of_a_name_agree_on_the_direction)
{
	char name[NAME_LEN];
	apc_handle a, b;

	name_new(name);
	a = server_new(name, DUPLEX_OV, BYTE_MODE, 3);
	server_fails(name, APC_PIPE_ACCESS_INBOUND | OV, BYTE_MODE, 3,
		     APC_ERROR_ACCESS_DENIED);
	server_fails(name, APC_PIPE_ACCESS_OUTBOUND | OV, BYTE_MODE, 3,
		     APC_ERROR_ACCESS_DENIED);
	b = server_new(name, APC_PIPE_ACCESS_DUPLEX, BYTE_MODE, 3);
	close_h(a);
	close_h(b);
}

Test(npipe, N3_bad_modes_are_invalid_parameter)
{
	char name[NAME_LEN];

	name_new(name);
	/* Message reads need message writes (MS CreateNamedPipe). */
	server_fails(name, DUPLEX_OV,
		     APC_PIPE_TYPE_BYTE | APC_PIPE_READMODE_MESSAGE, 1,
		     APC_ERROR_INVALID_PARAMETER);
	/* An instance must go at least one way. */
	server_fails(name, OV, BYTE_MODE, 1, APC_ERROR_INVALID_PARAMETER);
	/* Bits the portable API does not name. */
	server_fails(name, DUPLEX_OV | 0x100u, BYTE_MODE, 1,
		     APC_ERROR_INVALID_PARAMETER);
	server_fails(name, DUPLEX_OV, BYTE_MODE | 0x100u, 1,
		     APC_ERROR_INVALID_PARAMETER);
	/* LAN Manager's PIPE_NOWAIT: not offered (npipe.h). */
	server_fails(name, DUPLEX_OV, MSG_MODE | APC_PIPE_NOWAIT, 1,
		     APC_ERROR_NOT_SUPPORTED);
	/* None of those made the name. */
	client_fails(name, RW, APC_ERROR_FILE_NOT_FOUND);
}

Test(npipe, N3_names_are_not_case_sensitive)
{
	char name[NAME_LEN], upper[NAME_LEN];
	apc_handle s, c;

	name_new(name);
	for (size_t i = 0; i == 0 || name[i - 1]; i++) {
		char ch = name[i];

		upper[i] = ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
	}
	s = server_new(name, DUPLEX_OV, BYTE_MODE, 2);
	c = client_open(upper, RW, OV);
	put(c, "Aa", 2);
	get_str(s, "Aa");
	cr_assert_eq(apc_npipe_wait(upper, 1), APC_ERROR_SEM_TIMEOUT);
	T_WINE_DEVIATION(
		FIRST_WINE,
		cr_assert_eq(
			create_st(upper,
				  DUPLEX_OV | APC_FILE_FLAG_FIRST_PIPE_INSTANCE,
				  BYTE_MODE, 2),
			APC_ERROR_ACCESS_DENIED));
	close_h(c);
	close_h(s);
}

Test(npipe, N3_a_name_goes_with_its_last_instance)
{
	char name[NAME_LEN];
	apc_handle a, b;

	name_new(name);
	a = server_new(name, DUPLEX_OV, BYTE_MODE, 2);
	b = server_new(name, DUPLEX_OV, BYTE_MODE, 2);
	close_h(a);
	close_h(client_open(name, RW, OV));
	close_h(b);
	client_fails(name, RW, APC_ERROR_FILE_NOT_FOUND);
	cr_assert_eq(apc_npipe_wait(name, 1), APC_ERROR_FILE_NOT_FOUND);
}

/* ---- N3 on POSIX: the socket behind a name ------------------------------- */

#if !defined(_WIN32)
static char pipe_dir[512];

/* A fresh XDG_RUNTIME_DIR for this process (before its first pipe call). */
static void pipe_dir_new(void)
{
	const char *base = getenv("TMPDIR");

	if (!base || !base[0])
		base = "/tmp";
	snprintf(pipe_dir, sizeof(pipe_dir), "%s/apcrt-npipe-XXXXXX", base);
	cr_assert_not_null(mkdtemp(pipe_dir), "mkdtemp(%s)", pipe_dir);
	cr_assert_eq(setenv("XDG_RUNTIME_DIR", pipe_dir, 1), 0);
}

/*
 * The sockets below dir: how many; the first one's path in first (when
 * not NULL).
 */
static unsigned int find_sockets(const char *dir, char *first, size_t size)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned int n = 0;

	cr_assert_not_null(d, "opendir(%s): %d", dir, errno);
	while ((e = readdir(d))) {
		char path[1024];
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		cr_assert_eq(lstat(path, &st), 0, "lstat(%s)", path);
		if (S_ISDIR(st.st_mode)) {
			n += find_sockets(path, n ? NULL : first, size);
		} else if (S_ISSOCK(st.st_mode)) {
			if (!n && first)
				snprintf(first, size, "%s", path);
			n++;
		}
	}
	closedir(d);
	return n;
}

/* What each open descriptor is ("3:anon_inode:[eventfd] 4:socket:[..]"),
 * into buf: for a message that says what a leak is. */
static void fd_names(char *buf, size_t size)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	size_t at = 0;

	buf[0] = 0;
	if (!d)
		return;
	while ((e = readdir(d)) && at + 80 < size) {
		char path[300], to[64];
		ssize_t k;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		k = readlink(path, to, sizeof(to) - 1);
		to[k > 0 ? k : 0] = 0;
		at += (size_t)snprintf(buf + at, size - at, "%s:%s ", e->d_name,
				       to);
	}
	closedir(d);
}

/* Remove dir and all below it. */
static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[1024];
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			remove_tree(path);
		else
			(void)unlink(path);
	}
	closedir(d);
	(void)rmdir(dir);
}

/* The directory part of path, in dir. */
static void parent_of(const char *path, char *dir, size_t size)
{
	char *slash;

	snprintf(dir, size, "%s", path);
	slash = strrchr(dir, '/');
	cr_assert_not_null(slash);
	*slash = '\0';
}

/* The socket of a name: made by an instance, seen, then the name closed. */
static void socket_of(const char *name, char *path, size_t size)
{
	apc_handle s = server_new(name, DUPLEX_OV, BYTE_MODE, 1);

	cr_assert_geq(find_sockets(pipe_dir, path, size), 1u);
	close_h(s);
	cr_assert_eq(find_sockets(pipe_dir, NULL, 0), 0u,
		     "the socket outlived the last instance");
}

/* Make dir (and its parents up to pipe_dir) if the engine removed it. */
static void dir_make(const char *dir)
{
	char parent[1024];

	if (!strcmp(dir, pipe_dir) || access(dir, F_OK) == 0)
		return;
	parent_of(dir, parent, sizeof(parent));
	dir_make(parent);
	cr_assert_eq(mkdir(dir, 0700), 0, "mkdir(%s): %d", dir, errno);
}
#endif

Test(npipe, N3_posix_a_name_is_a_socket_only_its_user_can_reach)
{
#if defined(_WIN32)
	cr_skip_test("the POSIX mapping of pipe names (N3, an apcrt "
		     "decision); Windows names live in its pipe file system");
#else
	char name[NAME_LEN], path[1024], dir[1024];
	apc_handle a, b, c;
	struct stat st, dst;
	unsigned int n;

	pipe_dir_new();
	name_new(name);
	a = server_new(name, DUPLEX_OV, BYTE_MODE, 2);
	b = server_new(name, DUPLEX_OV, BYTE_MODE, 2);
	c = client_open(name, RW, OV);
	n = find_sockets(pipe_dir, path, sizeof(path));
	cr_assert_geq(n, 1u, "no socket below XDG_RUNTIME_DIR");
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert_eq(st.st_uid, geteuid(), "the socket belongs to %u",
		     (unsigned)st.st_uid);
	parent_of(path, dir, sizeof(dir));
	cr_assert_eq(lstat(dir, &dst), 0);
	cr_assert_eq(dst.st_uid, geteuid());
	cr_assert((st.st_mode & 077) == 0 || (dst.st_mode & 077) == 0,
		  "others can reach %s (%o in %o)", path,
		  (unsigned)(st.st_mode & 0777),
		  (unsigned)(dst.st_mode & 0777));
	close_h(c);
	close_h(a);
	cr_assert_geq(find_sockets(pipe_dir, NULL, 0), 1u);
	close_h(b);
	cr_assert_eq(find_sockets(pipe_dir, NULL, 0), 0u,
		     "the socket outlived the last instance");
	remove_tree(pipe_dir);
#endif
}

/* A socket that another user serves under the name's path (root only). */
Test(npipe, N3_posix_another_users_socket_is_refused)
{
#if defined(_WIN32)
	cr_skip_test("the POSIX mapping of pipe names (N3, an apcrt "
		     "decision)");
#else
	char name[NAME_LEN], path[1024], dir[1024];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (geteuid() != 0)
		cr_skip_test("needs root, to give a socket to another user");
	pipe_dir_new();
	name_new(name);
	socket_of(name, path, sizeof(path));
	cr_assert_lt(strlen(path), sizeof(sa.sun_path));
	parent_of(path, dir, sizeof(dir));
	dir_make(dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0,
		     "bind(%s): %d", path, errno);
	cr_assert_eq(listen(fd, 4), 0);
	/* nobody */
	cr_assert_eq(chown(path, 65534, 65534), 0);
	server_fails(name, DUPLEX_OV, BYTE_MODE, 1, APC_ERROR_ACCESS_DENIED);
	client_fails(name, RW, APC_ERROR_ACCESS_DENIED);
	close(fd);
	remove_tree(pipe_dir);
#endif
}

/* The directory of the name's socket belongs to another user (root
 * only), or others may write it. */
Test(npipe, N3_posix_a_directory_others_control_is_refused)
{
#if defined(_WIN32)
	cr_skip_test("the POSIX mapping of pipe names (N3, an apcrt "
		     "decision)");
#else
	char name[NAME_LEN], path[1024], dir[1024];

	pipe_dir_new();
	name_new(name);
	socket_of(name, path, sizeof(path));
	parent_of(path, dir, sizeof(dir));
	dir_make(dir);
	cr_assert_eq(chmod(dir, 0777), 0);
	server_fails(name, DUPLEX_OV, BYTE_MODE, 1, APC_ERROR_ACCESS_DENIED);
	client_fails(name, RW, APC_ERROR_ACCESS_DENIED);
	cr_assert_eq(chmod(dir, 0700), 0);
	if (geteuid() == 0) {
		cr_assert_eq(chown(dir, 65534, 65534), 0);
		server_fails(name, DUPLEX_OV, BYTE_MODE, 1,
			     APC_ERROR_ACCESS_DENIED);
		client_fails(name, RW, APC_ERROR_ACCESS_DENIED);
	} else {
		cr_log_info("not root: the directory of another user is not "
			    "tried");
	}
	remove_tree(pipe_dir);
#endif
}

/* ---- N4: ConnectNamedPipe and DisconnectNamedPipe ------------------------ */

Test(npipe, N4_connect_pends_until_a_client_opens)
{
	char name[NAME_LEN];
	apc_handle s, c;
	apc_overlapped ov;
	uint32_t n = T_POISON;

	name_new(name);
	s = server_new(name, DUPLEX_OV, BYTE_MODE, 1);
	ov_init(&ov);
	cr_assert_eq(apc_event_set(ov.hEvent), 0);
	ov.Internal = 0x1234; /* never read (E6) */
	connect_pending(s, &ov);
	cr_assert_eq((uint32_t)ov.Internal, APC_STATUS_PENDING);
	cr_assert_not(t_poll0(ov.hEvent), "the start did not reset the event");
	cr_assert_eq(apc_overlapped_result(s, &ov, &n, 0, false),
		     APC_ERROR_IO_INCOMPLETE);
	still_pending(&ov, 50);
	c = client_open(name, RW, OV);
	cr_assert_eq(apc_wait(ov.hEvent, WAIT_BOUND, false, NULL),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_overlapped_result(s, &ov, &n, 0, false), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq((uint32_t)ov.Internal, APC_STATUS_SUCCESS);
	put(c, "up", 2);
	get_str(s, "up");
	put(s, "down", 4);
	get_str(c, "down");
	ov_fini(&ov);
	close_h(c);
	close_h(s);
}

Test(npipe, N4_a_client_before_the_connect_is_pipe_connected)
{
	char name[NAME_LEN];
	apc_handle s, c;
	apc_overlapped ov;

	/* Overlapped: the call reports it at once; nothing is pending. */
	name_new(name);
	s = server_new(name, DUPLEX_OV, MSG_MODE, 1);
	c = client_open(name, RW, OV);
	ov_init(&ov);
	cr_assert_eq(apc_npipe_connect(s, &ov), APC_ERROR_PIPE_CONNECTED);
	put(c, "m", 1);
	get_str(s, "m");
	ov_fini(&ov);
	close_h(c);
	close_h(s);

	/* Blocking: the same status (MS ConnectNamedPipe, Remarks). */
	name_new(name);
	s = server_new(name, APC_PIPE_ACCESS_DUPLEX, BYTE_MODE, 1);
	c = client_open(name, RW, 0);
	cr_assert_eq(apc_npipe_connect(s, NULL), APC_ERROR_PIPE_CONNECTED);
	close_h(c);
	close_h(s);
}

struct late_client {
	const char *name;
	apc_handle done;
	_Atomic uint32_t st;
};

/* Open the pipe after 100 ms, write "hi", keep it open until done. */
static uint32_t thread_late_client(void *arg)
{
	struct late_client *lc = arg;
	apc_handle c = NULL;
	uint32_t n = 0;
	uint32_t st;

	(void)apc_sleep(100, false);
	st = apc_npipe_open(lc->name, RW, 0, &c);
	if (st == 0)
		st = apc_write(c, "hi", 2, &n, NULL);
	atomic_store(&lc->st, st == 0 && n != 2 ? T_POISON : st);
	if (apc_wait(lc->done, T_WAIT_MS * t_slack(), false, NULL) !=
	    APC_WAIT_OBJECT_0)
		st = T_POISON;
	if (c)
		(void)apc_close(c);
	return st;
}

Test(npipe, N4_a_blocking_connect_waits_for_a_client)
{
	char name[NAME_LEN], buf[8];
	struct late_client lc;
	apc_handle s, th;
	uint32_t n = T_POISON;
	uint32_t st;

	name_new(name);
	s = server_new(name, APC_PIPE_ACCESS_DUPLEX, BYTE_MODE, 1);
	lc.name = name;
	lc.done = t_event_new(true, false);
	atomic_store(&lc.st, T_POISON);
	th = t_spawn(thread_late_client, &lc);
	st = apc_npipe_connect(s, NULL);
	/* PIPE_CONNECTED only if this thread was 100 ms late to call. */
	cr_assert(st == 0 || st == APC_ERROR_PIPE_CONNECTED, "connect: %u", st);
	cr_assert_eq(apc_read(s, buf, sizeof(buf), &n, NULL), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(memcmp(buf, "hi", 2), 0);
	/* The read may end before the writer's call returns. */
	for (uint32_t i = 0; atomic_load(&lc.st) == T_POISON && i < WAIT_BOUND;
	     i++)
		(void)apc_sleep(1, false);
	cr_assert_eq(atomic_load(&lc.st), 0);
	cr_assert_eq(apc_event_set(lc.done), 0);
	cr_assert_eq(t_join(th), 0);
	close_h(lc.done);
	close_h(s);
}

Test(npipe, N4_connect_after_the_client_left_is_no_data)
{
	char name[NAME_LEN];
	apc_handle s, c;
	apc_overlapped ov;
	uint32_t n;

	name_new(name);
	s = server_new(name, DUPLEX_OV, BYTE_MODE, 1);
	ov_init(&ov);
	connect_pending(s, &ov);
	c = client_open(name, RW, OV);
	cr_assert_eq(finish(s, &ov, &n), 0);
	close_h(c);
	cr_assert_eq(apc_npipe_connect(s, &ov), APC_ERROR_NO_DATA);
	/* Disconnect, and the instance takes a client again. */
	cr_assert_eq(apc_npipe_disconnect(s), 0);
	connect_pending(s, &ov);
	c = client_open(name, RW, OV);
	cr_assert_eq(finish(s, &ov, &n), 0);
	put(c, "again", 5);
	get_str(s, "again");
	ov_fini(&ov);
	close_h(c);
	close_h(s);
}

/*
 * DisconnectNamedPipe with data waiting and a client read pending: the
 * read ends with ERROR_PIPE_NOT_CONNECTED, every later operation of
 * either side too, the data is dropped, and the next client starts clean
 * (Wine's test_DisconnectNamedPipe and test_overlapped_transport).
 */
Test(npipe, N4_disconnect_ends_the_clients_side_and_drops_its_data)
{
	struct pair p;
	apc_overlapped ov, cov;
	apc_handle c2;
	char buf[16], cbuf[16];
	uint32_t n = T_POISON;

	pair_open(&p, BYTE_MODE);
	put(p.c, "abc", 3);
	ov_init(&cov);
	read_pending(p.c, &cov, cbuf, sizeof(cbuf));
	cr_assert_eq(apc_npipe_disconnect(p.s), 0);
	cr_assert_eq(finish(p.c, &cov, &n), APC_ERROR_PIPE_NOT_CONNECTED);
	cr_assert_eq(n, 0);

	cr_assert_eq(put_st(p.c, "x", 1, NULL), APC_ERROR_PIPE_NOT_CONNECTED);
	cr_assert_eq(get(p.c, buf, sizeof(buf), &n),
		     APC_ERROR_PIPE_NOT_CONNECTED);
	cr_assert_eq(put_st(p.s, "x", 1, NULL), APC_ERROR_PIPE_NOT_CONNECTED);
	cr_assert_eq(get(p.s, buf, sizeof(buf), &n),
		     APC_ERROR_PIPE_NOT_CONNECTED);
	cr_assert_eq(apc_npipe_disconnect(p.s), APC_ERROR_PIPE_NOT_CONNECTED);
	cr_assert_eq(apc_npipe_peek(p.c, NULL, NULL),
		     APC_ERROR_PIPE_NOT_CONNECTED);
	cr_assert_eq(apc_npipe_peek(p.s, NULL, NULL), APC_ERROR_BAD_PIPE);

	ov_init(&ov);
	connect_pending(p.s, &ov);
	c2 = client_open(p.name, RW, OV);
	cr_assert_eq(finish(p.s, &ov, &n), 0);
	peek_is(p.s, 0, 0);
	put(c2, "z", 1);
	get_str(p.s, "z");
	/* The old client stays cut off. */
	cr_assert_eq(put_st(p.c, "x", 1, NULL), APC_ERROR_PIPE_NOT_CONNECTED);
	ov_fini(&ov);
	ov_fini(&cov);
	close_h(c2);
	pair_close(&p);
}

/* Before a client: reads, writes and peeks fail, a pending connect or not
 * (Wine's test_DisconnectNamedPipe, test_CreateNamedPipe). */
Test(npipe, N4_an_instance_without_a_client_is_listening)
{
	char name[NAME_LEN], buf[8];
	apc_handle s;
	apc_overlapped ov;
	uint32_t n;

	name_new(name);
	s = server_new(name, DUPLEX_OV, BYTE_MODE, 1);
	cr_assert_eq(get(s, buf, sizeof(buf), &n), APC_ERROR_PIPE_LISTENING);
	cr_assert_eq(put_st(s, "x", 1, NULL), APC_ERROR_PIPE_LISTENING);
	cr_assert_eq(apc_npipe_peek(s, NULL, NULL), APC_ERROR_BAD_PIPE);
	ov_init(&ov);
	connect_pending(s, &ov);
	cr_assert_eq(get(s, buf, sizeof(buf), &n), APC_ERROR_PIPE_LISTENING);
	cr_assert_eq(put_st(s, "x", 1, NULL), APC_ERROR_PIPE_LISTENING);
	still_pending(&ov, 0);
	cancel_finish(s, &ov);
	ov_fini(&ov);
	close_h(s);

	/* A synchronous instance says the same. */
	name_new(name);
	s = server_new(name, APC_PIPE_ACCESS_DUPLEX, BYTE_MODE, 1);
	cr_assert_eq(apc_read(s, buf, sizeof(buf), &n, NULL),
		     APC_ERROR_PIPE_LISTENING);
	cr_assert_eq(apc_write(s, "x", 1, &n, NULL), APC_ERROR_PIPE_LISTENING);
	close_h(s);
}

/* The client end is no server (Wine's test_CreateNamedPipe). */
Test(npipe, N4_connect_on_a_client_is_invalid_function)
{
	struct pair p;
	apc_overlapped ov;

	pair_open(&p, BYTE_MODE);
	ov_init(&ov);
	cr_assert_eq(apc_npipe_connect(p.c, &ov), APC_ERROR_INVALID_FUNCTION);
	/*
	 * A client's disconnect fails too; with which error, neither the
	 * documentation nor Wine's tests say (Wine 8.0: ERROR_NOT_SUPPORTED).
	 */
	cr_assert_neq(apc_npipe_disconnect(p.c), 0);
	put(p.c, "still", 5);
	get_str(p.s, "still");
	ov_fini(&ov);
	pair_close(&p);
}

Test(npipe, N4_a_pending_connect_can_be_cancelled)
{
	char name[NAME_LEN];
	apc_handle s, c;
	apc_overlapped ov;
	uint32_t n;

	name_new(name);
	s = server_new(name, DUPLEX_OV, BYTE_MODE, 1);
	ov_init(&ov);
	connect_pending(s, &ov);
	cancel_finish(s, &ov);
	cr_assert_eq(apc_cancel_io_ex(s, &ov), APC_ERROR_NOT_FOUND);
	/* CancelIo: the calling thread's operations. */
	connect_pending(s, &ov);
	cr_assert_eq(apc_cancel_io(s), 0);
	cr_assert_eq(finish(s, &ov, &n), APC_ERROR_OPERATION_ABORTED);
	/* The instance still listens. */
	connect_pending(s, &ov);
	c = client_open(name, RW, OV);
	cr_assert_eq(finish(s, &ov, &n), 0);
	/* A connect has no routine: no APC was queued by any of this. */
	cr_assert_eq(apc_sleep(0, true), 0);
	ov_fini(&ov);
	close_h(c);
	close_h(s);
}

Test(npipe, N4_connect_completes_through_a_port)
{
	char name[NAME_LEN];
	apc_handle s, c, port;
	apc_overlapped ov = {0};
	apc_overlapped *got = NULL;
	uintptr_t key = 0;
	uint32_t n = T_POISON;

	name_new(name);
	s = server_new(name, DUPLEX_OV, BYTE_MODE, 1);
	cr_assert_eq(apc_port_create(0, &port), 0);
	cr_assert_eq(apc_port_bind(port, s, 74), 0);
	connect_pending(s, &ov);
	cr_assert_eq(apc_port_get(port, &n, &key, &got, 0), APC_WAIT_TIMEOUT);
	c = client_open(name, RW, OV);
	cr_assert_eq(apc_port_get(port, &n, &key, &got, WAIT_BOUND), 0);
	cr_assert_eq(got, &ov);
	cr_assert_eq(key, 74);
	cr_assert_eq(n, 0);
	cr_assert_eq(apc_port_get(port, &n, &key, &got, 0), APC_WAIT_TIMEOUT);
	close_h(c);
	close_h(s);
	close_h(port);
}

/*
 * Closing the instance ends its pending connect, with its packet and a
 * failure: which one, neither the documentation nor Wine's tests say
 * (Wine 8.0: STATUS_HANDLES_CLOSED, error 676).
 */
Test(npipe, N4_a_pending_connect_ends_when_the_instance_closes)
{
	char name[NAME_LEN];
	apc_handle s, port;
	apc_overlapped ov = {0};
	apc_overlapped *got = NULL;
	uintptr_t key = 0;
	uint32_t n = T_POISON;
	uint32_t st;

	name_new(name);
	s = server_new(name, DUPLEX_OV, BYTE_MODE, 1);
	cr_assert_eq(apc_port_create(0, &port), 0);
	cr_assert_eq(apc_port_bind(port, s, 75), 0);
	connect_pending(s, &ov);
	close_h(s);
	st = apc_port_get(port, &n, &key, &got, WAIT_BOUND);
	cr_assert(st != 0 && st != APC_WAIT_TIMEOUT, "packet: %u", st);
	cr_log_info("a closed instance's connect ended with %u (%s)", st,
		    apc_status_name(st));
	cr_assert_eq(got, &ov);
	cr_assert_eq(key, 75);
	cr_assert_eq(n, 0);
	client_fails(name, RW, APC_ERROR_FILE_NOT_FOUND);
	close_h(port);
}

/* One instance, 1,000 clients one after the other, each served. */
Test(npipe, N4_a_thousand_connect_disconnect_cycles_on_one_instance)
{
	char name[NAME_LEN];
	apc_handle s, c;
	apc_overlapped cov, rov, wov;
	uint32_t n, v, back;
	uint32_t st;

	name_new(name);
	s = server_new(name, DUPLEX_OV, MSG_MODE, 1);
	ov_init(&cov);
	ov_init(&rov);
	ov_init(&wov);
	for (uint32_t i = 0; i < 1000; i++) {
		connect_pending(s, &cov);
		c = client_open(name, RW, OV);
		cr_assert_eq(finish(s, &cov, &n), 0, "cycle %u", i);
		st = apc_write(c, &i, sizeof(i), NULL, &wov);
		if (st == APC_ERROR_IO_PENDING)
			st = finish(c, &wov, &n);
		cr_assert_eq(st, 0, "cycle %u: write %u", i, st);
		v = T_POISON;
		st = apc_read(s, &v, sizeof(v), NULL, &rov);
		if (st == APC_ERROR_IO_PENDING)
			st = finish(s, &rov, &n);
		cr_assert_eq(st, 0, "cycle %u: read %u", i, st);
		cr_assert_eq(v, i);
		back = i + 1;
		st = apc_write(s, &back, sizeof(back), NULL, &wov);
		if (st == APC_ERROR_IO_PENDING)
			st = finish(s, &wov, &n);
		cr_assert_eq(st, 0, "cycle %u: reply %u", i, st);
		v = T_POISON;
		st = apc_read(c, &v, sizeof(v), NULL, &rov);
		if (st == APC_ERROR_IO_PENDING)
			st = finish(c, &rov, &n);
		cr_assert_eq(st, 0, "cycle %u: read reply %u", i, st);
		cr_assert_eq(v, i + 1);
		close_h(c);
		cr_assert_eq(apc_npipe_disconnect(s), 0, "cycle %u", i);
	}
	ov_fini(&cov);
	ov_fini(&rov);
	ov_fini(&wov);
	close_h(s);
}

/* ---- N5: clients, busy instances, WaitNamedPipe ---------------------------
 */

Test(npipe, N5_no_instance_is_file_not_found)
{
	char name[NAME_LEN];

	name_new(name);
	client_fails(name, RW, APC_ERROR_FILE_NOT_FOUND);
	client_fails(name, APC_GENERIC_READ, APC_ERROR_FILE_NOT_FOUND);
}

/*
 * An instance is busy from the client's open until a connect after the
 * disconnect: with a client, after the client left, and after the
 * disconnect (Wine's test_CreateNamedPipe, cases 1-3).
 */
Test(npipe, N5_every_instance_busy_is_pipe_busy)
{
	struct pair p;
	apc_overlapped ov;
	apc_handle c2;
	uint32_t n;

	pair_open(&p, BYTE_MODE);
	client_fails(p.name, RW, APC_ERROR_PIPE_BUSY);
	close_h(p.c);
	p.c = NULL;
	client_fails(p.name, RW, APC_ERROR_PIPE_BUSY);
	cr_assert_eq(apc_npipe_disconnect(p.s), 0);
	client_fails(p.name, RW, APC_ERROR_PIPE_BUSY);
	ov_init(&ov);
	connect_pending(p.s, &ov);
	c2 = client_open(p.name, RW, OV);
	cr_assert_eq(finish(p.s, &ov, &n), 0);
	ov_fini(&ov);
	close_h(c2);
	pair_close(&p);
}

Test(npipe, N5_wait_with_a_free_instance_returns_at_once)
{
	char name[NAME_LEN];
	apc_handle s;
	uint64_t t0;

	name_new(name);
	s = server_new(name, DUPLEX_OV, BYTE_MODE, 1);
	t0 = t_now_ns();
	cr_assert_eq(apc_npipe_wait(name, WAIT_BOUND), 0);
	cr_assert_eq(apc_npipe_wait(name, 1), 0);
	cr_assert_lt(t_ms_since(t0), WAIT_BOUND / 2.0);
	/* A wait reserves nothing: the instance is still free. */
	close_h(client_open(name, RW, OV));
	close_h(s);
}

Test(npipe, N5_wait_on_busy_instances_times_out_with_sem_timeout)
{
	struct pair p;
	uint64_t t0;
	double ms;

	pair_open(&p, BYTE_MODE);
	t0 = t_now_ns();
	cr_assert_eq(apc_npipe_wait(p.name, 100), APC_ERROR_SEM_TIMEOUT);
	ms = t_ms_since(t0);
	cr_assert_geq(ms, t_floor_ms(100), "returned after %.1f ms", ms);
	cr_assert_lt(ms, (double)WAIT_BOUND);
	pair_close(&p);
}

/* No instance: at once, whatever the time-out (MS WaitNamedPipe). */
Test(npipe, N5_wait_for_a_missing_name_is_file_not_found_at_once)
{
	char name[NAME_LEN];
	uint64_t t0 = t_now_ns();

	name_new(name);
	cr_assert_eq(apc_npipe_wait(name, 3000), APC_ERROR_FILE_NOT_FOUND);
	cr_assert_lt(t_ms_since(t0), 2000.0);
}

/* APC_NMPWAIT_USE_DEFAULT_WAIT waits what the instance was made with. */
Test(npipe, N5_wait_uses_the_default_time_out_of_the_pipe)
{
	char name[NAME_LEN];
	apc_handle s = T_POISON_HANDLE, c;
	uint64_t t0;
	double ms;

	name_new(name);
	cr_assert_eq(apc_npipe_create(name, DUPLEX_OV, BYTE_MODE, 1, 4096, 4096,
				      200, &s),
		     0);
	c = client_open(name, RW, OV);
	t0 = t_now_ns();
	cr_assert_eq(apc_npipe_wait(name, APC_NMPWAIT_USE_DEFAULT_WAIT),
		     APC_ERROR_SEM_TIMEOUT);
	ms = t_ms_since(t0);
	cr_assert_geq(ms, t_floor_ms(200), "returned after %.1f ms", ms);
	cr_assert_lt(ms, (double)WAIT_BOUND);
	close_h(c);
	close_h(s);
}

struct waiter {
	const char *name;
	apc_handle started;
	_Atomic uint32_t st;
};

static uint32_t thread_wait_pipe(void *arg)
{
	struct waiter *w = arg;

	(void)apc_event_set(w->started);
	atomic_store(&w->st, apc_npipe_wait(w->name, T_WAIT_MS * t_slack()));
	return 0;
}

static apc_handle waiter_start(struct waiter *w, const char *name)
{
	apc_handle th;

	w->name = name;
	w->started = t_event_new(true, false);
	atomic_store(&w->st, T_POISON);
	th = t_spawn(thread_wait_pipe, w);
	cr_assert_eq(apc_wait(w->started, WAIT_BOUND, false, NULL),
		     APC_WAIT_OBJECT_0);
	/* Give it time to be in the wait; then it must still be there. */
	(void)apc_sleep(100, false);
	cr_assert_eq(t_one_ended(&th, 1, 0), -1, "the wait ended: %u",
		     atomic_load(&w->st));
	return th;
}

static void waiter_join(struct waiter *w, apc_handle th)
{
	cr_assert_eq(t_join(th), 0);
	cr_assert_eq(atomic_load(&w->st), 0, "wait: %u", atomic_load(&w->st));
	close_h(w->started);
}

/* Creating an instance wakes waiters (Wine's test_wait_pipe). */
Test(npipe, N5_a_new_instance_ends_the_wait)
{
	struct pair p;
	struct waiter w;
	apc_handle th, s2, c2;

	name_new(p.name);
	p.s = server_new(p.name, DUPLEX_OV, BYTE_MODE, 2);
	p.c = client_open(p.name, RW, OV);
	th = waiter_start(&w, p.name);
	s2 = server_new(p.name, DUPLEX_OV, BYTE_MODE, 2);
	waiter_join(&w, th);
	c2 = client_open(p.name, RW, OV);
	close_h(c2);
	close_h(s2);
	pair_close(&p);
}

/* A connect after the disconnect wakes waiters (Wine's test_wait_pipe). */
Test(npipe, N5_a_connect_after_a_disconnect_ends_the_wait)
{
	struct pair p;
	struct waiter w;
	apc_overlapped ov;
	apc_handle th, c2;
	uint32_t n;

	pair_open(&p, BYTE_MODE);
	close_h(p.c);
	p.c = NULL;
	cr_assert_eq(apc_npipe_disconnect(p.s), 0);
	th = waiter_start(&w, p.name);
	ov_init(&ov);
	connect_pending(p.s, &ov);
	waiter_join(&w, th);
	c2 = client_open(p.name, RW, OV);
	cr_assert_eq(finish(p.s, &ov, &n), 0);
	ov_fini(&ov);
	close_h(c2);
	pair_close(&p);
}

/*
 * What a client may open and do follows the instance's direction and
 * the client's own access (MS CreateNamedPipe, dwOpenMode; MS CreateFile,
 * Pipes).
 */
Test(npipe, N5_client_access_follows_the_direction)
{
	char name[NAME_LEN], buf[8];
	apc_handle s, c;
	uint32_t n;

	/* Inbound: the client writes, the server reads. */
	name_new(name);
	s = server_new(name, APC_PIPE_ACCESS_INBOUND | OV, BYTE_MODE, 1);
	client_fails(name, RW, APC_ERROR_ACCESS_DENIED);
	client_fails(name, APC_GENERIC_READ, APC_ERROR_ACCESS_DENIED);
	c = client_open(name, APC_GENERIC_WRITE, OV);
	put(c, "in", 2);
	get_str(s, "in");
	cr_assert_eq(put_st(s, "x", 1, NULL), APC_ERROR_ACCESS_DENIED);
	cr_assert_eq(get(c, buf, sizeof(buf), &n), APC_ERROR_ACCESS_DENIED);
	close_h(c);
	close_h(s);

	/* Outbound: the server writes, the client reads. */
	name_new(name);
	s = server_new(name, APC_PIPE_ACCESS_OUTBOUND | OV, BYTE_MODE, 1);
	client_fails(name, RW, APC_ERROR_ACCESS_DENIED);
	client_fails(name, APC_GENERIC_WRITE, APC_ERROR_ACCESS_DENIED);
	c = client_open(name, APC_GENERIC_READ, OV);
	put(s, "out", 3);
	get_str(c, "out");
	cr_assert_eq(get(s, buf, sizeof(buf), &n), APC_ERROR_ACCESS_DENIED);
	cr_assert_eq(put_st(c, "x", 1, NULL), APC_ERROR_ACCESS_DENIED);
	close_h(c);
	close_h(s);

	/* Duplex, a read-only client: it may not write. */
	name_new(name);
	s = server_new(name, DUPLEX_OV, BYTE_MODE, 1);
	c = client_open(name, APC_GENERIC_READ, OV);
	cr_assert_eq(put_st(c, "x", 1, NULL), APC_ERROR_ACCESS_DENIED);
	put(s, "r", 1);
	get_str(c, "r");
	close_h(c);
	cr_assert_eq(apc_npipe_disconnect(s), 0);
	close_h(s);
}

/* ---- N6: message and byte modes ------------------------------------------ */

Test(npipe, N6_each_write_is_one_message)
{
	struct pair p;
	char buf[8];
	uint32_t n;

	pair_open(&p, MSG_MODE);
	put(p.c, "abc", 3);
	put(p.c, "de", 2);
	cr_assert_eq(get(p.s, buf, sizeof(buf), &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(memcmp(buf, "abc", 3), 0);
	cr_assert_eq(get(p.s, buf, sizeof(buf), &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(memcmp(buf, "de", 2), 0);
	/* The other way too. */
	put(p.s, "fgh", 3);
	put(p.s, "i", 1);
	get_str(p.c, "fgh");
	get_str(p.c, "i");
	pair_close(&p);
}

/* A short buffer: the first part and ERROR_MORE_DATA, then the rest. */
Test(npipe, N6_a_short_buffer_is_more_data_then_the_rest)
{
	struct pair p;
	apc_overlapped ov;
	char buf[8];
	uint32_t n = T_POISON;

	/* Synchronous handles: the count comes with the warning. */
	pair_open_ex(&p, MSG_MODE, false, 4096, 4096);
	cr_assert_eq(apc_write(p.c, "abc", 3, &n, NULL), 0);
	n = T_POISON;
	cr_assert_eq(apc_read(p.s, buf, 2, &n, NULL), APC_ERROR_MORE_DATA);
	cr_assert_eq(n, 2);
	cr_assert_eq(memcmp(buf, "ab", 2), 0);
	n = T_POISON;
	cr_assert_eq(apc_read(p.s, buf, sizeof(buf), &n, NULL), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(buf[0], 'c');
	pair_close(&p);

	/* Overlapped, the message there: finished at once, with the
	 * warning in the record. */
	pair_open(&p, MSG_MODE);
	put(p.c, "abc", 3);
	ov_init(&ov);
	cr_assert_eq(apc_read(p.s, buf, 2, NULL, &ov), APC_ERROR_MORE_DATA);
	cr_assert(apc_overlapped_done(&ov));
	cr_assert_eq((uint32_t)ov.Internal, APC_STATUS_BUFFER_OVERFLOW);
	cr_assert_eq(ov.InternalHigh, 2);
	cr_assert(t_poll0(ov.hEvent));
	cr_assert_eq(apc_overlapped_result(p.s, &ov, &n, 0, false),
		     APC_ERROR_MORE_DATA);
	cr_assert_eq(n, 2);
	cr_assert_eq(memcmp(buf, "ab", 2), 0);
	get_str(p.s, "c");

	/* Overlapped, pending when the message comes. */
	cr_assert_eq(apc_event_reset(ov.hEvent), 0);
	read_pending(p.s, &ov, buf, 2);
	put(p.c, "xyz", 3);
	cr_assert_eq(finish(p.s, &ov, &n), APC_ERROR_MORE_DATA);
	cr_assert_eq(n, 2);
	cr_assert_eq(memcmp(buf, "xy", 2), 0);
	get_str(p.s, "z");
	ov_fini(&ov);
	pair_close(&p);
}

/* Through a routine: the warning is success for it (MS
 * FileIOCompletionRoutine), the record keeps ERROR_MORE_DATA (E29). */
Test(npipe, N6_a_short_buffer_through_a_completion_routine)
{
	struct pair p;
	struct op x;
	uint32_t n = T_POISON;

	pair_open(&p, MSG_MODE);
	op_init(&x);
	cr_assert_eq(apc_read_ex(p.s, x.buf, 4, &x.ov, op_routine), 0);
	put(p.c, "0123456789", 10);
	wait_calls(&x.calls, 1);
	T_WINE_DEVIATION("Wine passes ERROR_MORE_DATA to the routine (J13); "
			 "MS FileIOCompletionRoutine: 0 for a warning",
			 cr_assert_eq(x.error, 0, "routine error %u", x.error));
	cr_assert_eq(x.bytes, 4);
	cr_assert_eq(apc_overlapped_result(p.s, &x.ov, &n, 0, false),
		     APC_ERROR_MORE_DATA);
	cr_assert_eq(n, 4);
	cr_assert_eq(memcmp(x.buf, "0123", 4), 0);
	op_init(&x);
	cr_assert_eq(apc_read_ex(p.s, x.buf, sizeof(x.buf), &x.ov, op_routine),
		     0);
	wait_calls(&x.calls, 1);
	cr_assert_eq(x.error, 0);
	cr_assert_eq(x.bytes, 6);
	cr_assert_eq(memcmp(x.buf, "456789", 6), 0);
	pair_close(&p);
}

Test(npipe, N6_a_byte_pipe_is_a_stream)
{
	struct pair p;
	char buf[8];
	uint32_t n;

	pair_open(&p, BYTE_MODE);
	put(p.c, "abc", 3);
	put(p.c, "de", 2);
	cr_assert_eq(get(p.s, buf, 2, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(memcmp(buf, "ab", 2), 0);
	cr_assert_eq(get(p.s, buf, sizeof(buf), &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(memcmp(buf, "cde", 3), 0);
	pair_close(&p);
}

/*
 * A client reads a message pipe in byte mode until it asks for message
 * reads: then it reads across messages, without warnings (Wine's
 * test_CreateNamedPipe; <apc/npipe.h>).
 */
Test(npipe, N6_byte_reads_of_a_message_pipe_cross_messages)
{
	struct pair p;
	apc_overlapped ov;
	char buf[8];
	uint32_t n;

	name_new(p.name);
	p.s = server_new(p.name, DUPLEX_OV, MSG_MODE, 1);
	p.c = client_open(p.name, RW, OV);
	ov_init(&ov);
	cr_assert_eq(apc_npipe_connect(p.s, &ov), APC_ERROR_PIPE_CONNECTED);
	ov_fini(&ov);
	put(p.s, "abc", 3);
	put(p.s, "de", 2);
	cr_assert_eq(get(p.c, buf, sizeof(buf), &n), 0);
	cr_assert_eq(n, 5);
	cr_assert_eq(memcmp(buf, "abcde", 5), 0);
	cr_assert_eq(apc_npipe_set_mode(p.c, APC_PIPE_READMODE_MESSAGE), 0);
	put(p.s, "abc", 3);
	put(p.s, "de", 2);
	get_str(p.c, "abc");
	get_str(p.c, "de");
	/* And back: a message server may read bytes too. */
	cr_assert_eq(apc_npipe_set_mode(p.s, APC_PIPE_READMODE_BYTE), 0);
	put(p.c, "fg", 2);
	put(p.c, "h", 1);
	get_str(p.s, "fgh");
	pair_close(&p);
}

/* A zero-byte write on a message pipe is a message (Wine's
 * test_CloseHandle, test_blocking_rw); on a byte pipe it is nothing. */
Test(npipe, N6_an_empty_message_is_a_message)
{
	struct pair p;
	apc_overlapped ov;
	char buf[8];
	uint32_t n = T_POISON;

	pair_open(&p, MSG_MODE);
	put(p.c, "", 0);
	peek_is(p.s, 0, 0);
	cr_assert_eq(get(p.s, buf, sizeof(buf), &n), 0);
	cr_assert_eq(n, 0);
	/* A pending read is ended by one. */
	ov_init(&ov);
	read_pending(p.s, &ov, buf, sizeof(buf));
	put(p.c, "", 0);
	cr_assert_eq(finish(p.s, &ov, &n), 0);
	cr_assert_eq(n, 0);
	put(p.c, "x", 1);
	get_str(p.s, "x");
	ov_fini(&ov);
	pair_close(&p);

	pair_open(&p, BYTE_MODE);
	ov_init(&ov);
	read_pending(p.s, &ov, buf, sizeof(buf));
	put(p.c, "", 0);
	still_pending(&ov, 100);
	put(p.c, "y", 1);
	cr_assert_eq(finish(p.s, &ov, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(buf[0], 'y');
	ov_fini(&ov);
	pair_close(&p);
}

#define BIG (256u * 1024u)

/* A message far larger than the buffer hints (and than a socket's
 * default buffer on Linux) arrives whole, in order, as one message. */
Test(npipe, N6_a_message_larger_than_the_buffers_arrives_whole)
{
	struct pair p;
	apc_overlapped wov;
	unsigned char *out = malloc(BIG), *in = malloc(BIG);
	uint32_t got = 0, n = T_POISON, st;

	cr_assert(out && in);
	for (uint32_t i = 0; i < BIG; i++)
		out[i] = (unsigned char)(i * 7 + i / 251);
	pair_open(&p, MSG_MODE);
	ov_init(&wov);
	st = apc_write(p.c, out, BIG, NULL, &wov);
	cr_assert(st == 0 || st == APC_ERROR_IO_PENDING, "write: %u", st);
	/* 64 KiB at a time: three warnings, then the end of the message. */
	for (int i = 0; i < 4; i++) {
		st = get(p.s, in + got, 65536, &n);
		cr_assert_eq(st, i < 3 ? APC_ERROR_MORE_DATA : 0, "read %d: %u",
			     i, st);
		cr_assert_eq(n, 65536u);
		got += n;
	}
	cr_assert_eq(finish(p.c, &wov, &n), 0);
	cr_assert_eq(n, BIG);
	cr_assert_eq(memcmp(in, out, BIG), 0);
	/* The next message is its own. */
	put(p.c, "end", 3);
	get_str(p.s, "end");
	ov_fini(&wov);
	pair_close(&p);
	free(in);
	free(out);
}

/* ---- N7: the I/O routes on named-pipe handles -----------------------------
 */

Test(npipe, N7_completion_routines_run_on_the_issuing_thread)
{
	struct pair p;
	struct op r, w;
	uint32_t self = apc_thread_id(APC_CURRENT_THREAD);

	pair_open(&p, BYTE_MODE);
	op_init(&r);
	cr_assert_eq(apc_read_ex(p.s, r.buf, sizeof(r.buf), &r.ov, op_routine),
		     0);
	put(p.c, "hello", 5);
	/* Finished, but a routine runs only in an alertable wait (E14). */
	(void)apc_sleep(50, false);
	cr_assert_eq(atomic_load(&r.calls), 0);
	wait_calls(&r.calls, 1);
	cr_assert_eq(r.error, 0);
	cr_assert_eq(r.bytes, 5);
	cr_assert_eq(r.ov_arg, &r.ov);
	cr_assert_eq(r.tid, self);
	cr_assert_eq(memcmp(r.buf, "hello", 5), 0);

	op_init(&w);
	cr_assert_eq(apc_write_ex(p.s, "world", 5, &w.ov, op_routine), 0);
	cr_assert_eq(atomic_load(&w.calls), 0);
	wait_calls(&w.calls, 1);
	cr_assert_eq(w.error, 0);
	cr_assert_eq(w.bytes, 5);
	cr_assert_eq(w.tid, self);
	get_str(p.c, "world");
	cr_assert_eq(atomic_load(&r.calls), 1);
	pair_close(&p);
}

Test(npipe, N7_events_and_the_handle_signal_completion)
{
	struct pair p;
	apc_overlapped ov;
	char buf[16];
	uint32_t n = T_POISON;

	pair_open(&p, MSG_MODE);
	ov_init(&ov);
	cr_assert_eq(apc_event_set(ov.hEvent), 0);
	ov.InternalHigh = 77;
	read_pending(p.s, &ov, buf, sizeof(buf));
	cr_assert_eq((uint32_t)ov.Internal, APC_STATUS_PENDING);
	cr_assert_not(t_poll0(ov.hEvent), "the start did not reset the event");
	put(p.c, "evt", 3);
	cr_assert_eq(apc_wait(ov.hEvent, WAIT_BOUND, false, NULL),
		     APC_WAIT_OBJECT_0);
	cr_assert_eq((uint32_t)ov.Internal, 0);
	cr_assert_eq(ov.InternalHigh, 3);
	cr_assert_eq(apc_overlapped_result(p.s, &ov, &n, 0, false), 0);
	cr_assert_eq(n, 3);
	ov_fini(&ov);

	/* No event: the handle itself is signalled (E9). */
	memset(&ov, 0, sizeof(ov));
	read_pending(p.s, &ov, buf, sizeof(buf));
	cr_assert_eq(apc_wait(p.s, 0, false, NULL), APC_WAIT_TIMEOUT);
	put(p.c, "hdl", 3);
	cr_assert_eq(apc_wait(p.s, WAIT_BOUND, false, NULL), APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_overlapped_result(p.s, &ov, &n, WAIT_BOUND, false), 0);
	cr_assert_eq(n, 3);
	pair_close(&p);
}

Test(npipe, N7_completion_ports_get_a_packet_per_operation)
{
	struct pair p;
	apc_handle port;
	apc_overlapped rov = {0}, wov = {0};
	apc_overlapped *got;
	struct op x;
	char buf[16];
	uintptr_t key;
	uint32_t n, st;
	int seen_r = 0, seen_w = 0;

	pair_open(&p, MSG_MODE);
	cr_assert_eq(apc_port_create(0, &port), 0);
	cr_assert_eq(apc_port_bind(port, p.s, 1), 0);
	cr_assert_eq(apc_port_bind(port, p.c, 2), 0);
	read_pending(p.s, &rov, buf, sizeof(buf));
	st = apc_write(p.c, "ping", 4, NULL, &wov);
	cr_assert(st == 0 || st == APC_ERROR_IO_PENDING, "write: %u", st);
	for (int i = 0; i < 2; i++) {
		got = NULL;
		key = 0;
		n = T_POISON;
		cr_assert_eq(apc_port_get(port, &n, &key, &got, WAIT_BOUND), 0);
		cr_assert_eq(n, 4);
		if (got == &rov) {
			cr_assert_eq(key, 1);
			seen_r++;
		} else {
			cr_assert_eq(got, &wov);
			cr_assert_eq(key, 2);
			seen_w++;
		}
	}
	cr_assert(seen_r == 1 && seen_w == 1);
	cr_assert_eq(memcmp(buf, "ping", 4), 0);
	cr_assert_eq(apc_port_get(port, &n, &key, &got, 0), APC_WAIT_TIMEOUT);
	/* Routines are refused on a bound handle (E20). */
	op_init(&x);
	cr_assert_eq(apc_read_ex(p.s, x.buf, 4, &x.ov, op_routine),
		     APC_ERROR_INVALID_PARAMETER);
	close_h(port);
	pair_close(&p);
}

Test(npipe, N7_cancellation_on_both_ends)
{
	struct pair p;
	apc_overlapped ov1, ov2, cov;
	struct op x;
	char b1[8], b2[8], cb[8];

	pair_open(&p, BYTE_MODE);
	ov_init(&ov1);
	ov_init(&ov2);
	read_pending(p.s, &ov1, b1, sizeof(b1));
	read_pending(p.s, &ov2, b2, sizeof(b2));
	cancel_finish(p.s, &ov1);
	still_pending(&ov2, 0);
	cr_assert_eq(apc_cancel_io_ex(p.s, &ov1), APC_ERROR_NOT_FOUND);
	cr_assert_eq(apc_cancel_io(p.s), 0);
	cr_assert_eq(finish(p.s, &ov2, NULL), APC_ERROR_OPERATION_ABORTED);
	/* The client's read, by CancelIoEx without a record. */
	ov_init(&cov);
	read_pending(p.c, &cov, cb, sizeof(cb));
	cr_assert_eq(apc_cancel_io_ex(p.c, NULL), 0);
	cr_assert_eq(finish(p.c, &cov, NULL), APC_ERROR_OPERATION_ABORTED);
	/* A routine's read: the routine runs with 995, in a wait. */
	op_init(&x);
	cr_assert_eq(apc_read_ex(p.s, x.buf, sizeof(x.buf), &x.ov, op_routine),
		     0);
	cr_assert_eq(apc_cancel_io(p.s), 0);
	cr_assert_eq(atomic_load(&x.calls), 0);
	wait_calls(&x.calls, 1);
	cr_assert_eq(x.error, APC_ERROR_OPERATION_ABORTED);
	cr_assert_eq(x.bytes, 0);
	/* No data was taken by the cancelled reads. */
	put(p.c, "kept", 4);
	get_str(p.s, "kept");
	ov_fini(&ov1);
	ov_fini(&ov2);
	ov_fini(&cov);
	pair_close(&p);
}

/*
 * A zero-byte read waits for data and leaves it there (Wine's
 * test_blocking_rw): success on a byte read, ERROR_MORE_DATA on a
 * message read.
 */
Test(npipe, N7_a_zero_byte_read_waits_for_data)
{
	struct pair p;
	apc_overlapped ov;
	char buf[4];
	uint32_t n = T_POISON;

	pair_open(&p, BYTE_MODE);
	ov_init(&ov);
	read_pending(p.s, &ov, buf, 0);
	still_pending(&ov, 50);
	put(p.c, "q", 1);
	cr_assert_eq(finish(p.s, &ov, &n), 0);
	cr_assert_eq(n, 0);
	peek_is(p.s, 1, 0);
	get_str(p.s, "q");
	ov_fini(&ov);
	pair_close(&p);

	pair_open(&p, MSG_MODE);
	ov_init(&ov);
	read_pending(p.s, &ov, buf, 0);
	put(p.c, "qq", 2);
	cr_assert_eq(finish(p.s, &ov, &n), APC_ERROR_MORE_DATA);
	cr_assert_eq(n, 0);
	peek_is(p.s, 2, 2);
	get_str(p.s, "qq");
	ov_fini(&ov);
	pair_close(&p);
}

/*
 * The peer closes: what it wrote can still be read, then reads fail with
 * ERROR_BROKEN_PIPE, writes with ERROR_NO_DATA, a pending read ends with
 * ERROR_BROKEN_PIPE (N2, E27; Wine's test_CloseHandle).
 */
static void peer_close(uint32_t pipe_mode, bool client_leaves)
{
	struct pair p;
	apc_handle stay, leave;
	apc_overlapped ov;
	struct op x;
	char buf[8];
	uint32_t n = T_POISON;

	pair_open(&p, pipe_mode);
	stay = client_leaves ? p.s : p.c;
	leave = client_leaves ? p.c : p.s;
	put(leave, "abc", 3);
	close_h(leave);
	peek_is(stay, 3, pipe_mode & APC_PIPE_TYPE_MESSAGE ? 3 : 0);
	get_str(stay, "abc");
	cr_assert_eq(get(stay, buf, sizeof(buf), &n), APC_ERROR_BROKEN_PIPE);
	cr_assert_eq(n, 0);
	cr_assert_eq(put_st(stay, "x", 1, NULL), APC_ERROR_NO_DATA);
	cr_assert_eq(apc_npipe_peek(stay, NULL, NULL), APC_ERROR_BROKEN_PIPE);
	if (client_leaves) {
		ov_init(&ov);
		cr_assert_eq(apc_npipe_connect(p.s, &ov), APC_ERROR_NO_DATA);
		ov_fini(&ov);
	}
	close_h(stay);

	/* Pending when the peer goes: an event read and a routine's. */
	pair_open(&p, pipe_mode);
	stay = client_leaves ? p.s : p.c;
	leave = client_leaves ? p.c : p.s;
	ov_init(&ov);
	read_pending(stay, &ov, buf, sizeof(buf));
	op_init(&x);
	cr_assert_eq(apc_read_ex(stay, x.buf, sizeof(x.buf), &x.ov, op_routine),
		     0);
	close_h(leave);
	cr_assert_eq(finish(stay, &ov, &n), APC_ERROR_BROKEN_PIPE);
	cr_assert_eq(n, 0);
	cr_assert_eq((uint32_t)ov.Internal, APC_STATUS_PIPE_BROKEN);
	wait_calls(&x.calls, 1);
	cr_assert_eq(x.error, APC_ERROR_BROKEN_PIPE);
	cr_assert_eq(x.bytes, 0);
	ov_fini(&ov);
	close_h(stay);
}

Test(npipe, N7_the_client_closing_breaks_the_pipe)
{
	peer_close(BYTE_MODE, true);
	peer_close(MSG_MODE, true);
}

Test(npipe, N7_the_server_closing_breaks_the_pipe)
{
	peer_close(BYTE_MODE, false);
	peer_close(MSG_MODE, false);
}

/*
 * A client that disappears in the middle of a request: the server's
 * pending read ends with ERROR_BROKEN_PIPE and the instance takes the
 * next client after a disconnect.  Then a client that goes while its
 * message is still being written: the server reads what came in order,
 * then ERROR_BROKEN_PIPE, within a bounded number of reads.
 */
Test(npipe, N7_a_client_that_disappears_mid_message)
{
	struct pair p;
	struct op x;
	apc_overlapped ov, wov;
	apc_handle c2;
	unsigned char *out = malloc(BIG), *in = malloc(BIG);
	uint32_t n, st, got = 0;
	int reads = 0;

	cr_assert(out && in);
	pair_open(&p, MSG_MODE);
	put(p.c, "hdr", 3);
	get_str(p.s, "hdr");
	op_init(&x);
	cr_assert_eq(apc_read_ex(p.s, x.buf, sizeof(x.buf), &x.ov, op_routine),
		     0);
	close_h(p.c);
	p.c = NULL;
	wait_calls(&x.calls, 1);
	cr_assert_eq(x.error, APC_ERROR_BROKEN_PIPE);
	cr_assert_eq(x.bytes, 0);
	ov_init(&ov);
	cr_assert_eq(apc_npipe_connect(p.s, &ov), APC_ERROR_NO_DATA);
	cr_assert_eq(apc_npipe_disconnect(p.s), 0);
	connect_pending(p.s, &ov);
	c2 = client_open(p.name, RW, OV);
	cr_assert_eq(finish(p.s, &ov, &n), 0);
	cr_assert_eq(apc_npipe_set_mode(c2, APC_PIPE_READMODE_MESSAGE), 0);
	put(c2, "hdr2", 4);
	get_str(p.s, "hdr2");

	/* The client leaves with its big message partly read. */
	for (uint32_t i = 0; i < BIG; i++)
		out[i] = (unsigned char)(i * 13 + i / 509);
	ov_init(&wov);
	st = apc_write(c2, out, BIG, NULL, &wov);
	cr_assert(st == 0 || st == APC_ERROR_IO_PENDING, "write: %u", st);
	cr_assert_eq(get(p.s, in, 64, &n), APC_ERROR_MORE_DATA);
	cr_assert_eq(n, 64);
	got = 64;
	close_h(c2);
	/* The write ends one way or another; wait before its buffer goes. */
	(void)finish(c2, &wov, &n);
	for (;;) {
		st = get(p.s, in + got, BIG - got, &n);
		if (st == APC_ERROR_BROKEN_PIPE)
			break;
		cr_assert(st == 0 || st == APC_ERROR_MORE_DATA, "read: %u", st);
		got += n;
		cr_assert_lt(++reads, 16, "no end after %d reads", reads);
	}
	cr_assert_leq(got, BIG);
	cr_assert_eq(memcmp(in, out, got), 0,
		     "the %u bytes read are not the "
		     "message's first",
		     got);
	cr_log_info("the server read %u of %u bytes before the break", got,
		    BIG);
	/* And the instance serves the next client. */
	cr_assert_eq(apc_npipe_disconnect(p.s), 0);
	connect_pending(p.s, &ov);
	c2 = client_open(p.name, RW, OV);
	cr_assert_eq(finish(p.s, &ov, &n), 0);
	put(c2, "next", 4);
	get_str(p.s, "next");
	close_h(c2);
	ov_fini(&ov);
	ov_fini(&wov);
	pair_close(&p);
	free(in);
	free(out);
}

/*
 * Several reads pending on one handle at once (E, N6): each takes one
 * whole message, none is lost or left waiting, in both pipe types' message
 * mode and across a burst that arrives together.
 */
Test(npipe, N6_several_pending_reads_take_a_message_each)
{
	enum { READS = 4, ROUNDS = 50 };
	struct pair p;
	apc_overlapped ov[READS];
	char buf[READS][16];
	unsigned int seen;
	uint32_t n;

	pair_open(&p, MSG_MODE);
	for (int round = 0; round < ROUNDS; round++) {
		seen = 0;
		for (int i = 0; i < READS; i++) {
			ov_init(&ov[i]);
			read_pending(p.s, &ov[i], buf[i], sizeof(buf[i]));
		}
		/* A burst: the messages "m0" .. "m3" together. */
		for (int i = 0; i < READS; i++) {
			char m[3] = {'m', (char)('0' + i), 0};

			put(p.c, m, 2);
		}
		for (int i = 0; i < READS; i++) {
			cr_assert_eq(finish(p.s, &ov[i], &n), 0,
				     "round %d read %d", round, i);
			cr_assert_eq(n, 2, "round %d read %d: %u bytes", round,
				     i, n);
			cr_assert_eq(buf[i][0], 'm');
			seen |= 1u << (buf[i][1] - '0');
			ov_fini(&ov[i]);
		}
		cr_assert_eq(seen, (1u << READS) - 1, "round %d: %#x", round,
			     seen);
	}
	peek_is(p.s, 0, 0);
	pair_close(&p);
}

/* Closing the server with a read pending: one packet, ERROR_BROKEN_PIPE
 * (E46, [W] for named pipes). */
Test(npipe, N7_closing_the_instance_ends_its_pending_read)
{
	struct pair p;
	apc_handle port;
	apc_overlapped ov = {0};
	apc_overlapped *got = NULL;
	uintptr_t key = 0;
	uint32_t n = T_POISON;
	char buf[8];

	pair_open(&p, BYTE_MODE);
	cr_assert_eq(apc_port_create(0, &port), 0);
	cr_assert_eq(apc_port_bind(port, p.s, 46), 0);
	read_pending(p.s, &ov, buf, sizeof(buf));
	close_h(p.s);
	p.s = NULL;
	cr_assert_eq(apc_port_get(port, &n, &key, &got, WAIT_BOUND),
		     APC_ERROR_BROKEN_PIPE);
	cr_assert_eq(got, &ov);
	cr_assert_eq(key, 46);
	cr_assert_eq(n, 0);
	cr_assert_eq((uint32_t)ov.Internal, APC_STATUS_PIPE_BROKEN);
	cr_assert_eq(apc_port_get(port, &n, &key, &got, 0), APC_WAIT_TIMEOUT);
	close_h(port);
	pair_close(&p);
}

/* PeekNamedPipe's counts (Wine's test_CreateNamedPipe, test_peek_pipe). */
Test(npipe, N7_peek_counts_bytes_and_the_head_message)
{
	struct pair p;
	apc_overlapped ov;
	char buf[8];
	uint32_t n;

	pair_open(&p, BYTE_MODE);
	peek_is(p.s, 0, 0);
	put(p.c, "abcde", 5);
	peek_is(p.s, 5, 0);
	cr_assert_eq(apc_npipe_peek(p.s, NULL, NULL), 0);
	get_str(p.s, "abcde");
	peek_is(p.s, 0, 0);
	pair_close(&p);

	pair_open(&p, MSG_MODE);
	put(p.c, "abc", 3);
	put(p.c, "de", 2);
	peek_is(p.s, 5, 3);
	ov_init(&ov);
	cr_assert_eq(apc_read(p.s, buf, 2, NULL, &ov), APC_ERROR_MORE_DATA);
	ov_fini(&ov);
	peek_is(p.s, 3, 1);
	get_str(p.s, "c");
	peek_is(p.s, 2, 2);
	get_str(p.s, "de");
	peek_is(p.s, 0, 0);
	/* A byte-mode reader of a message pipe sees the messages too. */
	cr_assert_eq(apc_npipe_set_mode(p.c, APC_PIPE_READMODE_BYTE), 0);
	put(p.s, "xyz", 3);
	peek_is(p.c, 3, 3);
	cr_assert_eq(get(p.c, buf, sizeof(buf), &n), 0);
	cr_assert_eq(n, 3);
	pair_close(&p);
}

/* SetNamedPipeHandleState's read mode (Wine's test_NamedPipeHandleState,
 * run against Windows). */
Test(npipe, N7_set_mode_rules)
{
	struct pair p;
	apc_handle ev;

	pair_open(&p, BYTE_MODE);
	cr_assert_eq(apc_npipe_set_mode(p.s, APC_PIPE_READMODE_MESSAGE),
		     APC_ERROR_INVALID_PARAMETER);
	cr_assert_eq(apc_npipe_set_mode(p.c, APC_PIPE_READMODE_MESSAGE),
		     APC_ERROR_INVALID_PARAMETER);
	cr_assert_eq(apc_npipe_set_mode(p.c, APC_PIPE_READMODE_BYTE), 0);
	cr_assert_eq(apc_npipe_set_mode(p.s, APC_PIPE_READMODE_BYTE), 0);
	pair_close(&p);

	pair_open(&p, MSG_MODE);
	cr_assert_eq(apc_npipe_set_mode(p.s, APC_PIPE_READMODE_BYTE), 0);
	cr_assert_eq(apc_npipe_set_mode(p.s, APC_PIPE_READMODE_MESSAGE), 0);
	cr_assert_eq(apc_npipe_set_mode(p.c, APC_PIPE_READMODE_BYTE), 0);
	cr_assert_eq(apc_npipe_set_mode(p.c, APC_PIPE_READMODE_MESSAGE), 0);
	/* Values that are no read mode. */
	cr_assert_eq(apc_npipe_set_mode(p.c, APC_PIPE_NOWAIT),
		     APC_ERROR_INVALID_PARAMETER);
	cr_assert_eq(apc_npipe_set_mode(p.c, APC_PIPE_TYPE_MESSAGE),
		     APC_ERROR_INVALID_PARAMETER);
	cr_assert_eq(apc_npipe_set_mode(p.c, 0xFFu),
		     APC_ERROR_INVALID_PARAMETER);
	/* Still in message mode after the refusals. */
	put(p.s, "ab", 2);
	put(p.s, "c", 1);
	get_str(p.c, "ab");
	get_str(p.c, "c");
	pair_close(&p);

	/* A handle that is no pipe. */
	ev = t_event_new(true, false);
	cr_assert_neq(apc_npipe_set_mode(ev, APC_PIPE_READMODE_BYTE), 0);
	cr_assert_neq(apc_npipe_peek(ev, NULL, NULL), 0);
	close_h(ev);
}

/* A read-only client may still choose its read mode (the Windows backend
 * opens it with the right for that, <apc/npipe.h>). */
Test(npipe, N7_a_read_only_client_sets_its_read_mode)
{
	char name[NAME_LEN];
	apc_handle s, c;

	name_new(name);
	s = server_new(name, APC_PIPE_ACCESS_OUTBOUND | OV, MSG_MODE, 1);
	c = client_open(name, APC_GENERIC_READ, OV);
	cr_assert_eq(apc_npipe_set_mode(c, APC_PIPE_READMODE_MESSAGE), 0);
	put(s, "one", 3);
	put(s, "two", 3);
	get_str(c, "one");
	get_str(c, "two");
	close_h(c);
	close_h(s);
}

/* ---- processes that die (POSIX: fork and SIGKILL) ------------------------ */

/* Far more than a socket holds: its writer is stuck in the middle. */
#define KILLED_LEN (4u << 20)

#if !defined(_WIN32)
/* Descriptors open in this process. */
static unsigned int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned int n = 0;

	cr_assert_not_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/*
 * A child process that opens name, writes the message "hdr" and then,
 * unless len is 0, one of len bytes with a blocking write (stuck once the
 * socket is full), then waits to be killed.  The child touches apcrt only
 * after the fork.
 */
static pid_t writer_child(const char *name, uint32_t len)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		apc_handle c = NULL;
		char *big = calloc(1, len + 1);
		uint32_t n;

		/* Never outlive a test that failed. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(4);
		for (int i = 0; i < 1000 && apc_npipe_open(name, RW, 0, &c);
		     i++)
			usleep(10000);
		if (!c || !big)
			_exit(2);
		/* The first message of a request, then the second. */
		(void)apc_write(c, "hdr", 3, &n, NULL);
		if (len)
			(void)apc_write(c, big, len, &n, NULL);
		pause();
		_exit(3);
	}
	return pid;
}
#endif

/*
 * Issue 7: a client process killed in the middle of a request.  Even
 * rounds: the client sent the first message of its request and dies with
 * the server's read of the next one pending: that read ends with
 * ERROR_BROKEN_PIPE.  Odd rounds: the client dies in the middle of a
 * message far larger than the socket holds: the server reads the part
 * that came, then ERROR_BROKEN_PIPE.  After each, a disconnect makes the
 * instance take the next client, and the rounds leave no descriptor
 * behind.
 */
Test(npipe, N7_posix_a_client_killed_mid_message)
{
#if defined(_WIN32)
	cr_skip_test("fork and SIGKILL: POSIX only (on Windows the kernel "
		     "ends the pipe)");
#else
	char name[NAME_LEN], head[64], *rest = malloc(KILLED_LEN);
	static char fd_then[2048], fd_now[2048];
	apc_overlapped ov;
	apc_handle s, c;
	struct op x;
	unsigned int fds = 0;
	uint32_t n, avail, left;
	int status;

	cr_assert_not_null(rest);
	name_new(name);
	s = server_new(name, DUPLEX_OV, MSG_MODE, 1);
	/* A read that waits with an event starts the engine's own ring and
	 * thread (made once, on first need; whether a round's reads wait
	 * depends on timing): start it now, so the count below sees only
	 * what the rounds leave. */
	ov_init(&ov);
	connect_pending(s, &ov);
	c = client_open(name, RW, OV);
	cr_assert_eq(finish(s, &ov, &n), 0);
	ov_fini(&ov);
	ov_init(&ov);
	read_pending(s, &ov, head, sizeof(head));
	put(c, "w", 1);
	cr_assert_eq(finish(s, &ov, &n), 0);
	cr_assert_eq(n, 1);
	ov_fini(&ov);
	close_h(c);
	cr_assert_eq(apc_npipe_disconnect(s), 0);
	for (int round = 0; round < 4; round++) {
		bool big = round & 1;
		pid_t pid;

		ov_init(&ov);
		connect_pending(s, &ov);
		pid = writer_child(name, big ? KILLED_LEN : 0);
		cr_assert_eq(finish(s, &ov, &n), 0, "round %d", round);
		get_str(s, "hdr");
		op_init(&x);
		if (big) {
			/* Until the writer is stuck with a full socket. */
			for (uint32_t i = 0; i < WAIT_BOUND; i += 10) {
				cr_assert_eq(apc_npipe_peek(s, &avail, &left),
					     0);
				if (avail >= 65536)
					break;
				(void)apc_sleep(10, false);
			}
			cr_assert_geq(avail, 65536);
			cr_assert_eq(left, KILLED_LEN);
			(void)apc_sleep(50, false);
		} else {
			cr_assert_eq(apc_read_ex(s, rest, KILLED_LEN, &x.ov,
						 op_routine),
				     0);
			(void)apc_sleep(50, true);
			cr_assert_eq(x.calls, 0, "the read ended: %u", x.error);
		}
		cr_assert_eq(kill(pid, SIGKILL), 0);
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFSIGNALED(status), "the writer ended with %d",
			  status);
		if (big) {
			cr_assert_eq(get(s, head, sizeof(head), &n),
				     APC_ERROR_MORE_DATA);
			cr_assert_eq(apc_read_ex(s, rest, KILLED_LEN, &x.ov,
						 op_routine),
				     0);
		}
		wait_calls(&x.calls, 1);
		cr_assert_eq(x.error, APC_ERROR_BROKEN_PIPE, "round %d: %u",
			     round, x.error);
		cr_assert_eq(x.bytes, 0);
		cr_assert_eq(apc_npipe_disconnect(s), 0);
		ov_fini(&ov);
		if (round == 1) {
			fds = open_fds();
			fd_names(fd_then, sizeof(fd_then));
		}
	}
	/* Engine threads may hold a descriptor for a moment (a close they
	 * have not reached yet): a leak is one that stays. */
	for (uint32_t i = 0; open_fds() != fds && i < 2000; i += 10)
		(void)apc_sleep(10, true);
	fd_names(fd_now, sizeof(fd_now));
	cr_assert_eq(open_fds(), fds,
		     "descriptors leak: %u after two rounds (%s), %u after "
		     "four (%s)",
		     fds, fd_then, open_fds(), fd_now);
	/* And the instance still serves. */
	ov_init(&ov);
	connect_pending(s, &ov);
	c = client_open(name, RW, OV);
	cr_assert_eq(finish(s, &ov, &n), 0);
	put(c, "ok", 2);
	get_str(s, "ok");
	ov_fini(&ov);
	close_h(c);
	close_h(s);
	free(rest);
#endif
}

/*
 * A server process killed leaves its socket file behind: clients find no
 * pipe (ERROR_FILE_NOT_FOUND, not a hang), and the name can be created
 * again (N3, the crash clean-up of issue 7).
 */
Test(npipe, N3_posix_a_crashed_servers_name_is_taken_again)
{
#if defined(_WIN32)
	cr_skip_test("fork and SIGKILL: POSIX only");
#else
	char name[NAME_LEN];
	apc_overlapped ov;
	apc_handle s, c;
	int status, ready[2];
	pid_t pid;
	uint32_t n;
	char b;

	name_new(name);
	cr_assert_eq(pipe(ready), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		apc_handle mine;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (apc_npipe_create(name, DUPLEX_OV, BYTE_MODE, 1, 0, 0, 0,
				     &mine))
			_exit(2);
		(void)!write(ready[1], "r", 1);
		pause();
		_exit(3);
	}
	cr_assert_eq(read(ready[0], &b, 1), 1);
	cr_assert_eq(kill(pid, SIGKILL), 0);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	close(ready[0]);
	close(ready[1]);
	client_fails(name, RW, APC_ERROR_FILE_NOT_FOUND);
	cr_assert_eq(apc_npipe_wait(name, 100), APC_ERROR_FILE_NOT_FOUND);
	s = server_new(name, DUPLEX_OV, BYTE_MODE, 1);
	ov_init(&ov);
	connect_pending(s, &ov);
	c = client_open(name, RW, OV);
	cr_assert_eq(finish(s, &ov, &n), 0);
	put(c, "again", 5);
	get_str(s, "again");
	ov_fini(&ov);
	close_h(c);
	close_h(s);
#endif
}

/*
 * Hostile bytes from a peer of the same user that speaks the socket
 * protocol itself (README "Named pipes: framing"): half a frame header,
 * then nothing.  The server's pending read waits without burning a CPU,
 * ends when the rest comes, and a frame that claims more than ever comes
 * ends with ERROR_BROKEN_PIPE when the peer goes.  The instance is
 * reconnected and serves on.
 */
Test(npipe, N6_posix_a_peer_sending_half_a_header)
{
#if defined(_WIN32)
	cr_skip_test("the POSIX engine's socket protocol");
#else
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char name[NAME_LEN], path[1024], buf[16], answer[8];
	const unsigned char hello[2] = {'C', 3};
	const unsigned char head[2] = {3, 0}, rest[5] = {0, 0, 'a', 'b', 'c'};
	const unsigned char liar[6] = {0, 0, 1, 0, 'x', 'y'}; /* 64 KiB */
	struct timespec c0, c1;
	apc_overlapped ov;
	apc_handle s, c;
	struct op x;
	uint32_t n;
	double cpu_ms;
	int fd;

	pipe_dir_new();
	name_new(name);
	socket_of(name, path, sizeof(path));
	cr_assert_lt(strlen(path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s = server_new(name, DUPLEX_OV, MSG_MODE, 1);
	ov_init(&ov);
	connect_pending(s, &ov);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(send(fd, hello, 2, 0), 2);
	cr_assert_eq(recv(fd, answer, sizeof(answer), MSG_WAITALL), 8);
	cr_assert_eq(answer[0], 'O');
	cr_assert_eq(finish(s, &ov, &n), 0);

	op_init(&x);
	cr_assert_eq(apc_read_ex(s, x.buf, sizeof(x.buf), &x.ov, op_routine),
		     0);
	cr_assert_eq(send(fd, head, 2, 0), 2);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	(void)apc_sleep(200, true);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	cpu_ms = (double)(c1.tv_sec - c0.tv_sec) * 1e3 +
		 (double)(c1.tv_nsec - c0.tv_nsec) / 1e6;
	cr_assert_eq(x.calls, 0, "the read ended: %u", x.error);
	cr_assert_lt(cpu_ms, 100.0, "%.1f ms of CPU in 200 ms of waiting",
		     cpu_ms);
	cr_assert_eq(send(fd, rest, sizeof(rest), 0), (ssize_t)sizeof(rest));
	wait_calls(&x.calls, 1);
	cr_assert_eq(x.error, 0);
	cr_assert_eq(x.bytes, 3);
	cr_assert_eq(memcmp(x.buf, "abc", 3), 0);

	/* A frame that claims 64 KiB and brings 2 bytes. */
	cr_assert_eq(send(fd, liar, sizeof(liar), 0), (ssize_t)sizeof(liar));
	op_init(&x);
	cr_assert_eq(apc_read_ex(s, x.buf, sizeof(x.buf), &x.ov, op_routine),
		     0);
	(void)apc_sleep(50, true);
	cr_assert_eq(x.calls, 0, "the read ended: %u", x.error);
	close(fd);
	wait_calls(&x.calls, 1);
	cr_assert_eq(x.error, APC_ERROR_BROKEN_PIPE);
	cr_assert_eq(apc_npipe_disconnect(s), 0);

	connect_pending(s, &ov);
	c = client_open(name, RW, OV);
	cr_assert_eq(finish(s, &ov, &n), 0);
	put(c, "ok", 2);
	cr_assert_eq(get(s, buf, sizeof(buf), &n), 0);
	cr_assert_eq(n, 2);
	ov_fini(&ov);
	close_h(c);
	close_h(s);
	remove_tree(pipe_dir);
#endif
}
