/*
 * apcrt, the file-read scenario (issue 6): 4 KiB reads at random offsets
 * of the page-cached file of fileread.h, at queue depth 1 and 32, with
 * completion routines (apc_read_ex).
 *
 * One thread, one overlapped handle (apc_file_open), qd slots, each an
 * apc_overlapped with its offset, latency stamp and buffer.  The thread
 * starts qd reads and sleeps alertably; each read's completion routine
 * checks it (fr_complete_win32) and starts the next read in its slot, so
 * qd reads are in flight until the time is up.  Then the reads in flight
 * finish and the configuration reports.
 *
 * impl: apcrt on the io_uring engine, apcrt-fallback on the fallback
 * engine (bench/run runs it with APC_ENGINE=fallback as
 * bench-fileread@fallback).  When io_uring cannot be used and no engine
 * was asked for, the apcrt rows are NA and the program measures the
 * fallback.  On Windows (bench/run --wine) impl is apcrt, which bench/run
 * turns into apcrt-wine: ReadFileEx and SleepEx.  Under Wine the file is
 * fileread.h's, in %TEMP% of the Wine prefix unless APC_BENCH_DIR says
 * otherwise (Wine has no mincore: the read-through that checks the file
 * is what brings it into the page cache).
 */
#include <stddef.h>

#include "bench-apc.h"
#include "fileread.h"

#define container_of(p, type, member)                                          \
	((type *)(void *)((char *)(p)-offsetof(type, member)))

struct slot {
	apc_overlapped ov;
	uint64_t off, stamp;
	unsigned char *buf;
};

static struct {
	struct fr_run r;
	apc_handle h;
} fr;

static void done_fn(uint32_t error, uint32_t bytes, apc_overlapped *ov);

/* Start the next read in slot s. */
static void start(struct slot *s)
{
	uint32_t st;

	s->off = fr_issue(&fr.r, &s->stamp);
	s->ov.Offset = (uint32_t)s->off;
	s->ov.OffsetHigh = (uint32_t)(s->off >> 32);
	st = apc_read_ex(fr.h, s->buf, FR_BLOCK, &s->ov, done_fn);
	if (st != APC_ERROR_SUCCESS)
		bench_fail("%s: apc_read_ex at %ju: status %u", fr.r.impl,
			   (uintmax_t)s->off, st);
}

static void done_fn(uint32_t error, uint32_t bytes, apc_overlapped *ov)
{
	struct slot *s = container_of(ov, struct slot, ov);

	fr_complete_win32(&fr.r, s->off, s->buf, error, bytes, s->stamp);
	if (fr_more(&fr.r))
		start(s);
}

static void run(const struct bench_args *a, const char *impl, unsigned int qd)
{
	struct slot slots[FR_QD_MAX];
	unsigned char *bufs = fr_buffers(qd);
	unsigned int k;

	memset(slots, 0, sizeof(slots));
	for (k = 0; k < qd; k++)
		slots[k].buf = bufs + (size_t)k * FR_BLOCK;
	fr_run_init(&fr.r, a, impl, qd);
	fr_run_start(&fr.r);
	for (k = 0; k < qd; k++)
		start(&slots[k]);
	while (!fr_idle(&fr.r))
		bench_apc_sleep();
	fr_report(&fr.r);
	fr_buffers_free(bufs);
}

/* NA lines for impl at both queue depths. */
static void na(const char *impl, const char *why)
{
	static const char *const scens[] = {"fileread-qd1", "fileread-qd1-p50",
					    "fileread-qd32",
					    "fileread-qd32-p50"};
	size_t k;

	for (k = 0; k < sizeof(scens) / sizeof(scens[0]); k++)
		bench_na(scens[k], impl, why);
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);
	const char *engine = apc_io_engine();
	const char *impl = "apcrt";
	const char *path;
	uint32_t st;

	if (engine == NULL) {
		/* APC_ENGINE names an engine that cannot run here. */
		na("apcrt", "APC_ENGINE names an engine not available here");
		return 0;
	}
	if (strcmp(engine, "fallback") == 0) {
		const char *want = getenv("APC_ENGINE");

		impl = "apcrt-fallback";
		if (want == NULL || strcmp(want, "fallback") != 0)
			na("apcrt", "io_uring not available (engine fallback)");
	}
	path = fr_file();
	st = apc_file_open(path, APC_GENERIC_READ, APC_OPEN_EXISTING,
			   APC_FILE_FLAG_OVERLAPPED, &fr.h);
	if (st != APC_ERROR_SUCCESS)
		bench_fail("apc_file_open %s: status %u", path, st);
	run(&a, impl, 1);
	run(&a, impl, FR_QD_MAX);
	bench_apc_close(fr.h);
	return 0;
}
