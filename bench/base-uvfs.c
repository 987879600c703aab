/*
 * Baseline of the file-read scenario (issue 6), no apcrt: libuv's
 * uv_fs_read at queue depth 1 and 32.
 *
 * One loop thread, the page-cached file of fileread.h opened O_RDONLY
 * (buffered; its descriptor passed to libuv as a uv_file).  qd requests,
 * each a uv_fs_t with its own buffer, are started with
 * uv_fs_read(loop, req, file, buf, 1, offset, cb); each callback checks
 * its read, calls uv_fs_req_cleanup and starts the next read in the same
 * request, so qd reads are in flight at all times; uv_run returns when
 * the last one is done.  libuv 1.44 (Debian 12) does file reads on its
 * thread pool: a worker thread calls pread, and the loop thread is woken
 * to run the callback.  The pool has its default size (4 threads) unless
 * UV_THREADPOOL_SIZE is set in the environment; then the impl is named
 * libuv-tpN.
 *
 * Prints fileread-qdQ (kops/s) and fileread-qdQ-p50 (ns: a sampled read
 * from the uv_fs_read call to its callback) for Q = 1 and 32, impl libuv.
 */
#include <uv.h>

#include "fileread.h"

struct req {
	uv_fs_t fs; /* first: the callback's argument is this */
	uint64_t off, stamp;
	unsigned char *buf;
};

static struct {
	uv_loop_t loop;
	struct req req[FR_QD_MAX];
	struct fr_run r;
	uv_file file;
} u;

static void uv_check(int r, const char *what)
{
	if (r < 0)
		bench_fail("%s: %s: %s", u.r.impl, what, uv_strerror(r));
}

static void on_read(uv_fs_t *fs);

static void start(struct req *q)
{
	uv_buf_t b = uv_buf_init((char *)q->buf, FR_BLOCK);

	q->off = fr_issue(&u.r, &q->stamp);
	uv_check(uv_fs_read(&u.loop, &q->fs, u.file, &b, 1, (int64_t)q->off,
			    on_read),
		 "uv_fs_read");
}

static void on_read(uv_fs_t *fs)
{
	struct req *q = (struct req *)fs;
	ssize_t res = fs->result;

	uv_fs_req_cleanup(fs);
	/* (libuv's error codes are negative errnos on Linux) */
	fr_complete(&u.r, q->off, q->buf, res, q->stamp);
	if (fr_more(&u.r))
		start(q);
}

static void run(const struct bench_args *a, const char *impl, unsigned int qd)
{
	unsigned char *bufs = fr_buffers(qd);
	unsigned int s;

	uv_check(uv_loop_init(&u.loop), "uv_loop_init");
	fr_run_init(&u.r, a, impl, qd);
	fr_run_start(&u.r);
	for (s = 0; s < qd; s++) {
		u.req[s].buf = bufs + (size_t)s * FR_BLOCK;
		start(&u.req[s]);
	}
	uv_check(uv_run(&u.loop, UV_RUN_DEFAULT), "uv_run");
	fr_report(&u.r);
	uv_check(uv_loop_close(&u.loop), "uv_loop_close");
	fr_buffers_free(bufs);
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);
	const char *tp = getenv("UV_THREADPOOL_SIZE");
	char impl[32] = "libuv";

	if (tp != NULL && tp[0] != '\0')
		snprintf(impl, sizeof(impl), "libuv-tp%.20s", tp);
	u.file = fr_open_fd();
	run(&a, impl, 1);
	run(&a, impl, FR_QD_MAX);
	close(u.file);
	return 0;
}
