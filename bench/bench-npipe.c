/*
 * apcrt, named pipes (issue 7 item 6): a request/response round trip and
 * a one-way stream over a named pipe whose server is driven by
 * completion routines.
 *
 * npipe-rr.  One server instance of a message-type pipe
 * (APC_PIPE_TYPE_MESSAGE | APC_PIPE_READMODE_MESSAGE, duplex,
 * overlapped), served as in Microsoft's "Named Pipe Server Using
 * Completion Routines" (examples/npipe-server-routines.c): the server
 * thread connects (apc_npipe_connect with an OVERLAPPED and an event),
 * then chains apc_read_ex of a request -> its routine checks it and
 * starts apc_write_ex of the reply -> that routine starts the next
 * apc_read_ex, and sleeps alertably (apc_sleep(APC_INFINITE, true))
 * while the routines run.  The client is a second thread with a
 * non-overlapped handle (apc_npipe_open without
 * APC_FILE_FLAG_OVERLAPPED) switched to message read mode
 * (apc_npipe_set_mode): a blocking apc_write of a 64-byte request, then a
 * blocking apc_read of the 64-byte reply, round after round.  Request i
 * carries i, the reply i again; both ends check.  The clock is the
 * client's (bench_pp: warm-up rounds, then RR_ITERS timed round trips);
 * the server stops after the last reply, so the end never depends on how
 * a close is reported.  Result: ns per round trip.
 *
 * npipe-stream.  One server instance of a byte-type inbound pipe
 * (APC_PIPE_ACCESS_INBOUND, overlapped, 64 KiB buffers); the client
 * thread opens it for writing, non-overlapped, and writes ST_CHUNKS
 * chunks of 64 KiB (2 GiB at scale 1, after a tenth as much of warm-up;
 * 128 MiB in the Windows build) with blocking apc_write.  The server
 * reads with completion routines, one apc_read_ex of up to 64 KiB in
 * flight at a time, each routine starting the next (a byte pipe may
 * return less than was asked for: every count is taken as it comes).
 * Every read is checked: the stream's 8-byte word at offset o is
 * np_word(o), so the first and last whole words of each read, and each
 * chunk number in it, must match, and are then poisoned.  The clock is
 * the server's: from the completion that passes the warm-up bytes to the
 * one that ends the stream.  Result: MB/s (10^6 bytes per second) of the
 * timed bytes.
 *
 * Both threads are pinned (bench_pin: the server as role 0, the client
 * as role 1).  Each configuration uses a pipe name of its own,
 * \\.\pipe\apcrt-bench-<scenario>-<pid>-<n>, so that concurrent runs do
 * not meet.
 *
 * impl: apcrt on the io_uring engine, apcrt-fallback on the fallback
 * engine (bench/run runs it with APC_ENGINE=fallback as
 * bench-npipe@fallback), as bench-fileread.  On Windows (bench/run
 * --wine) impl is apcrt, which bench/run turns into apcrt-wine:
 * CreateNamedPipe, ReadFileEx/WriteFileEx and SleepEx on Wine.  The
 * baselines are base-unixsock's raw Unix-domain sockets, with the same
 * sizes, counts and checks (bench/npipebench.h).
 */
#include <stddef.h>

#include "bench-apc.h"

#ifdef _WIN32
#define RR_ITERS 2000u
#define ST_CHUNKS 2048u
#else
#define RR_ITERS 10000u
#define ST_CHUNKS 32768u
#endif

#include "npipebench.h"

/* Pin the caller as role, then wait for the other thread to be there. */
static void start_line(atomic_int *ready, int role)
{
	bench_pin(role);
	atomic_fetch_add(ready, 1);
	while (atomic_load(ready) < 2)
		bench_yield();
}

/* ---- the pipe ----------------------------------------------------------- */

/* A pipe name for scenario what, new in each call. */
static void np_name(char *buf, size_t size, const char *what)
{
	static unsigned int seq;
#ifdef _WIN32
	unsigned long pid = (unsigned long)GetCurrentProcessId();
#else
	unsigned long pid = (unsigned long)getpid();
#endif

	snprintf(buf, size, "\\\\.\\pipe\\apcrt-bench-%s-%lu-%u", what, pid,
		 seq++);
}

/* The only instance of name: overlapped, with buffers of size bytes. */
static apc_handle np_create(const char *impl, const char *name, uint32_t access,
			    uint32_t pipe_mode, uint32_t size)
{
	apc_handle h;
	uint32_t st = apc_npipe_create(
		name,
		access | APC_FILE_FLAG_OVERLAPPED |
			APC_FILE_FLAG_FIRST_PIPE_INSTANCE,
		pipe_mode | APC_PIPE_WAIT, 1, size, size, 0, &h);

	if (st != APC_ERROR_SUCCESS)
		bench_fail("%s: apc_npipe_create %s: %s (%u)", impl, name,
			   apc_status_name(st), st);
	return h;
}

/* The server: wait for the client (ConnectNamedPipe with an event). */
static void np_connect(const char *impl, apc_handle pipe)
{
	apc_overlapped ov;
	uint32_t st, bytes = 0;

	memset(&ov, 0, sizeof(ov));
	ov.hEvent = bench_apc_event(true, false);
	st = apc_npipe_connect(pipe, &ov);
	if (st == APC_ERROR_IO_PENDING)
		st = apc_overlapped_result(pipe, &ov, &bytes, APC_INFINITE,
					   false);
	else if (st == APC_ERROR_PIPE_CONNECTED)
		st = APC_ERROR_SUCCESS; /* the client came first */
	if (st != APC_ERROR_SUCCESS)
		bench_fail("%s: apc_npipe_connect: %s (%u)", impl,
			   apc_status_name(st), st);
	bench_apc_close(ov.hEvent);
}

/* The client: open name, non-overlapped. */
static apc_handle np_open(const char *impl, const char *name, uint32_t access)
{
	apc_handle h;
	uint32_t st = apc_npipe_open(name, access, 0, &h);

	if (st != APC_ERROR_SUCCESS)
		bench_fail("%s: apc_npipe_open %s: %s (%u)", impl, name,
			   apc_status_name(st), st);
	return h;
}

/* After both threads ended: drop the client, close the instance. */
static void np_close(const char *impl, apc_handle pipe)
{
	uint32_t st = apc_npipe_disconnect(pipe);

	if (st != APC_ERROR_SUCCESS)
		bench_fail("%s: apc_npipe_disconnect: %s (%u)", impl,
			   apc_status_name(st), st);
	bench_apc_close(pipe);
}

/* ---- npipe-rr ----------------------------------------------------------- */

static struct {
	const char *impl;
	char name[96];
	apc_handle pipe; /* the server's instance */
	apc_overlapped ov;
	uint64_t served;
	int done;
	struct bench_pp pp; /* rounds: the client's; seen_b: served */
	unsigned char req[RR_BUF], rep[RR_MSG];
} rr;

static void rr_read_done(uint32_t error, uint32_t bytes, apc_overlapped *ov);

static void rr_read_next(void)
{
	uint32_t st =
		apc_read_ex(rr.pipe, rr.req, RR_BUF, &rr.ov, rr_read_done);

	if (st != APC_ERROR_SUCCESS)
		bench_fail("%s npipe-rr: server: apc_read_ex: %s (%u)", rr.impl,
			   apc_status_name(st), st);
}

static void rr_write_done(uint32_t error, uint32_t bytes, apc_overlapped *ov)
{
	(void)ov;
	if (error != 0 || bytes != RR_MSG)
		bench_fail("%s npipe-rr: server: reply %ju: %s (%u), %u bytes",
			   rr.impl, (uintmax_t)rr.served,
			   apc_status_name(error), error, bytes);
	rr.pp.seen_b = ++rr.served;
	if (rr.served == rr.pp.total) {
		rr.done = 1;
		return;
	}
	rr_read_next();
}

static void rr_read_done(uint32_t error, uint32_t bytes, apc_overlapped *ov)
{
	uint32_t st;

	(void)ov;
	if (error != 0)
		bench_fail("%s npipe-rr: server: request %ju: %s (%u)", rr.impl,
			   (uintmax_t)rr.served, apc_status_name(error), error);
	if (bytes != RR_MSG || get64(rr.req) != rr.served ||
	    get64(rr.req + 8) != RR_TAG_REQ)
		bench_fail("%s npipe-rr: server: request %ju: %u bytes, "
			   "number %ju",
			   rr.impl, (uintmax_t)rr.served, bytes,
			   (uintmax_t)get64(rr.req));
	put64(rr.req, ~(uint64_t)0);
	put64(rr.rep, rr.served);
	put64(rr.rep + 8, RR_TAG_REP ^ rr.served);
	st = apc_write_ex(rr.pipe, rr.rep, RR_MSG, &rr.ov, rr_write_done);
	if (st != APC_ERROR_SUCCESS)
		bench_fail("%s npipe-rr: server: apc_write_ex: %s (%u)",
			   rr.impl, apc_status_name(st), st);
}

static uint32_t rr_server(void *arg)
{
	(void)arg;
	bench_pp_start(&rr.pp, 0);
	np_connect(rr.impl, rr.pipe);
	rr_read_next();
	while (!rr.done)
		bench_apc_sleep();
	return 0;
}

static uint32_t rr_client(void *arg)
{
	unsigned char req[RR_MSG], rep[RR_BUF];
	apc_handle h;
	uint32_t st, n;

	(void)arg;
	bench_pp_start(&rr.pp, 1);
	h = np_open(rr.impl, rr.name, APC_GENERIC_READ | APC_GENERIC_WRITE);
	st = apc_npipe_set_mode(h, APC_PIPE_READMODE_MESSAGE);
	if (st != APC_ERROR_SUCCESS)
		bench_fail("%s npipe-rr: apc_npipe_set_mode: %s (%u)", rr.impl,
			   apc_status_name(st), st);
	memset(req, 0x5a, sizeof(req));
	put64(req + 8, RR_TAG_REQ);
	do {
		const uint64_t i = rr.pp.rounds;

		put64(req, i);
		n = 0;
		st = apc_write(h, req, RR_MSG, &n, NULL);
		if (st != APC_ERROR_SUCCESS || n != RR_MSG)
			bench_fail("%s npipe-rr: client: request %ju: %s (%u), "
				   "%u bytes",
				   rr.impl, (uintmax_t)i, apc_status_name(st),
				   st, n);
		n = 0;
		st = apc_read(h, rep, RR_BUF, &n, NULL);
		if (st != APC_ERROR_SUCCESS || n != RR_MSG || get64(rep) != i ||
		    get64(rep + 8) != (RR_TAG_REP ^ i))
			bench_fail("%s npipe-rr: client: reply %ju: %s (%u), "
				   "%u bytes, number %ju",
				   rr.impl, (uintmax_t)i, apc_status_name(st),
				   st, n, (uintmax_t)get64(rep));
		put64(rep, ~(uint64_t)0);
	} while (!bench_pp_round(&rr.pp));
	bench_apc_close(h);
	return 0;
}

static void run_rr(const struct bench_args *a, const char *impl)
{
	apc_handle th[2];

	memset(&rr, 0, sizeof(rr));
	rr.impl = impl;
	np_name(rr.name, sizeof(rr.name), "rr");
	rr.pipe = np_create(impl, rr.name, APC_PIPE_ACCESS_DUPLEX,
			    APC_PIPE_TYPE_MESSAGE | APC_PIPE_READMODE_MESSAGE,
			    4096);
	bench_pp_init(&rr.pp, bench_iters(a, RR_ITERS));
	th[0] = bench_apc_thread(rr_server, NULL);
	th[1] = bench_apc_thread(rr_client, NULL);
	bench_apc_join(th[0], "the server");
	bench_apc_join(th[1], "the client");
	np_close(impl, rr.pipe);
	bench_pp_report_as(&rr.pp, "npipe-rr", impl, "round trips/requests",
			   rr.pp.total);
}

/* ---- npipe-stream ------------------------------------------------------- */

static struct {
	const char *impl;
	char name[96];
	apc_handle pipe;
	apc_overlapped ov;
	uint64_t chunks;      /* the client writes them */
	uint64_t warm, total; /* bytes */
	uint64_t got, got0;   /* bytes read; at t0 */
	uint64_t t0, t1;
	int timed, done;
	atomic_int ready;
	unsigned char *buf; /* the server's */
} sm;

static void sm_read_done(uint32_t error, uint32_t bytes, apc_overlapped *ov);

static void sm_read_next(void)
{
	uint32_t st =
		apc_read_ex(sm.pipe, sm.buf, ST_CHUNK, &sm.ov, sm_read_done);

	if (st != APC_ERROR_SUCCESS)
		bench_fail("%s npipe-stream: apc_read_ex at %ju: %s (%u)",
			   sm.impl, (uintmax_t)sm.got, apc_status_name(st), st);
}

static void sm_read_done(uint32_t error, uint32_t bytes, apc_overlapped *ov)
{
	(void)ov;
	if (error != 0 || bytes == 0 || bytes > ST_CHUNK ||
	    sm.got + bytes > sm.total)
		bench_fail("%s npipe-stream: read at %ju: %s (%u), %u bytes",
			   sm.impl, (uintmax_t)sm.got, apc_status_name(error),
			   error, bytes);
	np_check(sm.impl, sm.buf, bytes, sm.got);
	sm.got += bytes;
	if (!sm.timed && sm.got >= sm.warm) {
		sm.timed = 1;
		sm.t0 = bench_now_ns();
		sm.got0 = sm.got;
	}
	if (sm.got == sm.total) {
		sm.t1 = bench_now_ns();
		sm.done = 1;
		return;
	}
	sm_read_next();
}

static uint32_t sm_server(void *arg)
{
	(void)arg;
	start_line(&sm.ready, 0);
	np_connect(sm.impl, sm.pipe);
	sm_read_next();
	while (!sm.done)
		bench_apc_sleep();
	return 0;
}

static uint32_t sm_client(void *arg)
{
	unsigned char *pat = malloc(ST_CHUNK);
	apc_handle h;
	uint64_t c;
	uint32_t k;

	(void)arg;
	if (pat == NULL)
		bench_fail("out of memory");
	for (k = 0; k < ST_CHUNK; k += 8)
		put64(pat + k, np_word(k));
	start_line(&sm.ready, 1);
	h = np_open(sm.impl, sm.name, APC_GENERIC_WRITE);
	for (c = 0; c < sm.chunks; c++) {
		uint32_t n = 0, st;

		put64(pat, c); /* np_word(c * ST_CHUNK) */
		st = apc_write(h, pat, ST_CHUNK, &n, NULL);
		if (st != APC_ERROR_SUCCESS || n != ST_CHUNK)
			bench_fail("%s npipe-stream: write %ju: %s (%u), %u "
				   "bytes",
				   sm.impl, (uintmax_t)c, apc_status_name(st),
				   st, n);
	}
	bench_apc_close(h);
	free(pat);
	return 0;
}

static void run_stream(const struct bench_args *a, const char *impl)
{
	const uint64_t n = bench_iters(a, ST_CHUNKS);
	apc_handle th[2];

	memset(&sm, 0, sizeof(sm));
	atomic_init(&sm.ready, 0);
	sm.impl = impl;
	sm.chunks = bench_warmup(n) + n;
	sm.warm = bench_warmup(n) * ST_CHUNK;
	sm.total = sm.chunks * ST_CHUNK;
	sm.buf = malloc(ST_CHUNK);
	if (sm.buf == NULL)
		bench_fail("out of memory");
	memset(sm.buf, 0, ST_CHUNK);
	np_name(sm.name, sizeof(sm.name), "stream");
	sm.pipe = np_create(impl, sm.name, APC_PIPE_ACCESS_INBOUND,
			    APC_PIPE_TYPE_BYTE | APC_PIPE_READMODE_BYTE,
			    ST_CHUNK);
	th[0] = bench_apc_thread(sm_server, NULL);
	th[1] = bench_apc_thread(sm_client, NULL);
	bench_apc_join(th[0], "the server");
	bench_apc_join(th[1], "the client");
	np_close(impl, sm.pipe);
	free(sm.buf);
	bench_check_count(impl, sm.got, "bytes read", sm.total);
	bench_result("npipe-stream", impl,
		     (double)(sm.total - sm.got0) * 1e3 /
			     (double)(sm.t1 - sm.t0 ? sm.t1 - sm.t0 : 1),
		     BENCH_MBS);
}

/* NA lines for impl in both scenarios. */
static void na(const char *impl, const char *why)
{
	bench_na("npipe-rr", impl, why);
	bench_na("npipe-stream", impl, why);
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);
	const char *engine = apc_io_engine();
	const char *impl = "apcrt";

	if (engine == NULL) {
		na("apcrt", "APC_ENGINE names an engine not available here");
		return 0;
	}
	/* (as bench-fileread: apcrt is the io_uring engine) */
	if (strcmp(engine, "fallback") == 0) {
		const char *want = getenv("APC_ENGINE");

		impl = "apcrt-fallback";
		if (want == NULL || strcmp(want, "fallback") != 0)
			na("apcrt", "io_uring not available (engine fallback)");
	}
	run_rr(&a, impl);
	run_stream(&a, impl);
	return 0;
}
