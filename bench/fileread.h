/*
 * apcrt benchmarks: what the file-read programs share (issue 6).
 *
 * Scenario: 4 KiB reads at random 4 KiB-aligned offsets of a 256 MiB file
 * that is entirely in the page cache, one at a time (queue depth 1) or
 * with 32 always in flight (queue depth 32).  bench-fileread measures
 * apcrt (apc_read_ex with completion routines, io_uring engine and
 * fallback engine); base-pread, base-uring-read and base-uvfs the
 * baselines (a synchronous pread loop, raw liburing, libuv's uv_fs_read).
 *
 * The file.  fr_file() finds or makes it, once for all the programs:
 * FR_FILE_NAME in $APC_BENCH_DIR if that is set, else in the first of
 * /var/tmp and /tmp that is not a tmpfs or ramfs (statfs; a file there
 * would be in memory rather than in the page cache of a disk file system,
 * and read by other kernel code), else in /var/tmp.  Its content is a
 * function of the position: the 8-byte word at byte offset o is
 * fr_word(o), so that every read can be checked.  An existing file is
 * read through once, checked word by word; a file of the wrong size or
 * content is made again (written to a temporary name, synced, renamed).
 * That read-through also brings the file into the page cache, and
 * mincore() then checks that all of it is there: a program fails rather
 * than measure disk reads.  Making the file takes a second or two, once;
 * the check about 0.1 s per program; neither is timed.
 *
 * The reads.  Read number i (counted from 0 in the order the reads are
 * started) is at fr_offset(i): the same pseudo-random sequence for every
 * implementation.  Each finished read is checked (bytes transferred, the
 * first and last word of the block), then its first word poisoned, so a
 * read that silently did not happen cannot pass the next check.
 *
 * The clock.  A configuration runs for a time, not a count, because the
 * implementations differ by more than an order of magnitude (a pread from
 * the page cache takes about a microsecond, a round trip through libuv's
 * thread pool tens): FR_WARM_MS of warm-up, then FR_RUN_MS timed, both
 * multiplied by -s SCALE (-n N replaces FR_RUN_MS by N milliseconds).
 * The clock is read every FR_TICK completions (and for the latency
 * samples): the timed span runs from the first reading after the warm-up
 * to the first reading after FR_RUN_MS, and counts the reads completed in
 * between.  Then no read is started any more, and the ones in flight are
 * waited for (and checked) but not counted.  At queue depth 32, reads are
 * in flight at both ends of the span alike.
 *
 * The latency.  Every FR_SAMPLE-th read started (by its number) is timed
 * from just before it is started (the call that starts it, or the
 * preparation of its submission queue entry) to the moment the program
 * sees it finished (its completion routine or callback is entered, its
 * CQE is seen, pread returns); the samples of reads that finish in the
 * timed span give the median.
 *
 * Output, in bench.h's format, for each queue depth Q the program ran:
 *
 *	RESULT fileread-qdQ <impl> <reads per ms> kops/s
 *	RESULT fileread-qdQ-p50 <impl> <median latency> ns
 *
 * Use: fr_file() (or fr_open_fd()), then per configuration
 *
 *	struct fr_run r;
 *	fr_run_init(&r, &args, "impl", qd);
 *	fr_run_start(&r);
 *	start qd reads, each at off = fr_issue(&r, &stamp);
 *	each time one finishes:
 *		fr_complete(&r, off, buf, result, stamp);
 *		if (fr_more(&r)) start the next one in its place;
 *	until fr_idle(&r) (none in flight, none to start);
 *	fr_report(&r);
 *
 * Header-only like bench.h, which it includes; portable to the Windows
 * build of the apcrt programs (stdio for the file; statfs, mincore and
 * fr_open_fd are Linux only).
 */
#ifndef APC_BENCH_FILEREAD_H
#define APC_BENCH_FILEREAD_H

#include "bench.h"

#ifdef _WIN32
#include <malloc.h>
#include <process.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#endif

/* The size of one read, and of the file. */
#define FR_BLOCK 4096u
#define FR_FILE_SIZE (256u << 20)
#define FR_NBLOCKS (FR_FILE_SIZE / FR_BLOCK)

/* The largest queue depth (the scenario's), and the two measured. */
#define FR_QD_MAX 32u

/* The file, in the directory fr_file() picks.  v1: the fr_word layout. */
#define FR_FILE_NAME "apcrt-fileread-v1.dat"

/* Timed milliseconds per configuration at scale 1, and warm-up before. */
#define FR_RUN_MS 500u
#define FR_WARM_MS 50u

/* Read the clock every FR_TICK completions; time every FR_SAMPLE-th read. */
#define FR_TICK 64u
#define FR_SAMPLE 8u

#define BENCH_KOPS "kops/s"
#define BENCH_NS "ns"

/* splitmix64's finaliser: the file's content and the read offsets. */
static inline uint64_t fr_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15u;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

/* The 8-byte word at byte offset o (a multiple of 8) of the file. */
static inline uint64_t fr_word(uint64_t o)
{
	return fr_mix(o ^ 0x6170637274667231u);
}

/* The offset of read number i: a block, uniformly at random. */
static inline uint64_t fr_offset(uint64_t i)
{
	return (fr_mix(i ^ 0x7265616473657131u) >> 32) % FR_NBLOCKS *
	       (uint64_t)FR_BLOCK;
}

/* ---- the file ------------------------------------------------------- */

/* Fill buf (n bytes, a multiple of 8) with the words from offset o on. */
static inline void fr_fill(unsigned char *buf, size_t n, uint64_t o)
{
	size_t k;

	for (k = 0; k < n; k += 8) {
		uint64_t w = fr_word(o + k);

		memcpy(buf + k, &w, 8);
	}
}

/* True if buf (n bytes, a multiple of 8) holds the words from o on. */
static inline int fr_match(const unsigned char *buf, size_t n, uint64_t o)
{
	size_t k;

	for (k = 0; k < n; k += 8) {
		uint64_t w;

		memcpy(&w, buf + k, 8);
		if (w != fr_word(o + k))
			return 0;
	}
	return 1;
}

/* Sequential I/O on the file: 1 MiB at a time. */
#define FR_CHUNK (1u << 20)

/*
 * Read the file at path through: true if it is FR_FILE_SIZE bytes of the
 * expected content.  (This is also what warms the page cache.)
 */
static inline int fr_check_file(const char *path, unsigned char *chunk)
{
	FILE *f = fopen(path, "rb");
	uint64_t o = 0;
	int ok = 1;

	if (f == NULL)
		return 0;
	for (;;) {
		size_t n = fread(chunk, 1, FR_CHUNK, f);

		if (n == 0)
			break;
		if (o + n > FR_FILE_SIZE || n % 8 != 0 ||
		    !fr_match(chunk, n, o)) {
			ok = 0;
			break;
		}
		o += n;
	}
	if (ferror(f))
		ok = 0;
	fclose(f);
	return ok && o == FR_FILE_SIZE;
}

/* Write the file at path, through a temporary name in its directory. */
static inline void fr_make_file(const char *path, unsigned char *chunk)
{
	char tmp[4200];
	uint64_t o;
	FILE *f;

#ifdef _WIN32
	snprintf(tmp, sizeof(tmp), "%s.%d", path, _getpid());
#else
	snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
#endif
	f = fopen(tmp, "wb");
	if (f == NULL)
		bench_fail("cannot create %s: %s (set APC_BENCH_DIR to a "
			   "writable directory)",
			   tmp, strerror(errno));
	for (o = 0; o < FR_FILE_SIZE; o += FR_CHUNK) {
		fr_fill(chunk, FR_CHUNK, o);
		if (fwrite(chunk, 1, FR_CHUNK, f) != FR_CHUNK)
			bench_fail("writing %s: %s", tmp, strerror(errno));
	}
	if (fflush(f) != 0)
		bench_fail("writing %s: %s", tmp, strerror(errno));
#ifndef _WIN32
	/* No writeback of it under a measurement. */
	if (fsync(fileno(f)) != 0)
		bench_fail("fsync %s: %s", tmp, strerror(errno));
#endif
	if (fclose(f) != 0)
		bench_fail("writing %s: %s", tmp, strerror(errno));
	if (rename(tmp, path) != 0) {
		/* (Windows: rename does not replace) */
		remove(path);
		if (rename(tmp, path) != 0)
			bench_fail("rename %s: %s", tmp, strerror(errno));
	}
}

#ifdef __linux__
/* True if directory d is on a file system held in memory. */
static inline int fr_in_memory(const char *d)
{
	struct statfs s;

	if (statfs(d, &s) != 0)
		return 1; /* not usable either */
	return (unsigned long)s.f_type == 0x01021994ul || /* TMPFS_MAGIC */
	       (unsigned long)s.f_type == 0x858458f6ul;	  /* RAMFS_MAGIC */
}

/* The percentage of the file at path that is in the page cache. */
static inline double fr_resident(const char *path)
{
	static unsigned char vec[FR_FILE_SIZE / 4096];
	long page = sysconf(_SC_PAGESIZE);
	size_t k, n, in = 0;
	void *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		bench_fail("open %s: %s", path, strerror(errno));
	p = mmap(NULL, FR_FILE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		bench_fail("mmap %s: %s", path, strerror(errno));
	n = FR_FILE_SIZE / (size_t)page;
	if (n > sizeof(vec) || mincore(p, FR_FILE_SIZE, vec) != 0)
		bench_fail("mincore %s: %s", path, strerror(errno));
	for (k = 0; k < n; k++)
		in += vec[k] & 1;
	munmap(p, FR_FILE_SIZE);
	close(fd);
	return 100.0 * (double)in / (double)n;
}
#endif

/* The directory of the file (see the top of this file). */
static inline const char *fr_dir(void)
{
	const char *d = getenv("APC_BENCH_DIR");

	if (d != NULL && d[0] != '\0')
		return d;
#ifdef _WIN32
	d = getenv("TEMP");
	return d != NULL && d[0] != '\0' ? d : ".";
#else
	if (!fr_in_memory("/var/tmp"))
		return "/var/tmp";
	if (!fr_in_memory("/tmp"))
		return "/tmp";
	return "/var/tmp";
#endif
}

/*
 * The path of the data file, made if need be, checked and in the page
 * cache.  Ends the program if it cannot be.
 */
static inline const char *fr_file(void)
{
	static char path[4096];
	unsigned char *chunk;

	if (path[0] != '\0')
		return path;
	snprintf(path, sizeof(path), "%s/%s", fr_dir(), FR_FILE_NAME);
	chunk = malloc(FR_CHUNK);
	if (chunk == NULL)
		bench_fail("out of memory");
	if (!fr_check_file(path, chunk)) {
		fr_make_file(path, chunk);
		if (!fr_check_file(path, chunk))
			bench_fail("%s: wrong content just after writing it",
				   path);
	}
#ifdef __linux__
	{
		double pct = fr_resident(path);

		/* One more pass, in case something was evicted meanwhile. */
		if (pct < 100.0 && fr_check_file(path, chunk))
			pct = fr_resident(path);
		if (pct < 100.0)
			bench_fail("%s: only %.1f%% of it stays in the page "
				   "cache; the scenario needs all of it",
				   path, pct);
	}
#endif
	free(chunk);
	return path;
}

#ifndef _WIN32
/* fr_file(), opened for reading (buffered: the page cache is the point). */
static inline int fr_open_fd(void)
{
	const char *path = fr_file();
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		bench_fail("open %s: %s", path, strerror(errno));
	return fd;
}
#endif

/* n buffers of FR_BLOCK bytes, page-aligned, one after the other. */
static inline unsigned char *fr_buffers(unsigned int n)
{
	void *p;

#ifdef _WIN32
	p = _aligned_malloc((size_t)n * FR_BLOCK, 4096);
#else
	if (posix_memalign(&p, 4096, (size_t)n * FR_BLOCK) != 0)
		p = NULL;
#endif
	if (p == NULL)
		bench_fail("out of memory");
	memset(p, 0, (size_t)n * FR_BLOCK);
	return p;
}

static inline void fr_buffers_free(unsigned char *p)
{
#ifdef _WIN32
	_aligned_free(p);
#else
	free(p);
#endif
}

/* ---- one configuration (an implementation at a queue depth) -------- */

enum { FR_WARM, FR_TIMED, FR_STOPPED };

struct fr_run {
	const char *impl;
	unsigned int qd;
	uint64_t warm_ns, run_ns;
	uint64_t issued, done; /* reads started, finished */
	uint64_t t_start, t0, t1;
	uint64_t done0, counted; /* done at t0; reads done in [t0, t1] */
	int phase;
	uint64_t *lat; /* latency samples of the timed span, ns */
	size_t nlat, maxlat;
};

/* Before a configuration: impl at queue depth qd (1 .. FR_QD_MAX). */
static inline void fr_run_init(struct fr_run *r, const struct bench_args *a,
			       const char *impl, unsigned int qd)
{
	double run_ms = a->iters ? (double)a->iters : FR_RUN_MS * a->scale;
	double warm_ms = FR_WARM_MS * a->scale;

	if (qd < 1 || qd > FR_QD_MAX)
		bench_fail("%s: queue depth %u", impl, qd);
	memset(r, 0, sizeof(*r));
	r->impl = impl;
	r->qd = qd;
	r->run_ns = (uint64_t)(run_ms * 1e6);
	r->warm_ns = (uint64_t)(warm_ms * 1e6);
	if (r->run_ns < 1000000u)
		r->run_ns = 1000000u;
	/* Room for the samples of 8 million reads per second. */
	r->maxlat = (size_t)(r->run_ns / 1000u / FR_SAMPLE) + 1024u;
	r->lat = malloc(r->maxlat * sizeof(*r->lat));
	if (r->lat == NULL)
		bench_fail("out of memory");
	/* (touched now, not in the timed span) */
	memset(r->lat, 0, r->maxlat * sizeof(*r->lat));
}

/* Just before the first read is started: the warm-up begins. */
static inline void fr_run_start(struct fr_run *r)
{
	r->t_start = bench_now_ns();
}

/*
 * Before starting a read: its offset; *stamp is the time now if the read
 * is a latency sample, else 0.  Pass both to fr_complete.
 */
static inline uint64_t fr_issue(struct fr_run *r, uint64_t *stamp)
{
	uint64_t i = r->issued++;

	*stamp = i % FR_SAMPLE == 0 ? bench_now_ns() : 0;
	return fr_offset(i);
}

/* True while reads are to be started (false once the timed span ended). */
static inline int fr_more(const struct fr_run *r)
{
	return r->phase != FR_STOPPED;
}

/* True when no read is to be started and none is in flight. */
static inline int fr_idle(const struct fr_run *r)
{
	return r->phase == FR_STOPPED && r->done == r->issued;
}

/* Check that the FR_BLOCK bytes at buf are those of the file at off. */
static inline void fr_check_block(const struct fr_run *r, uint64_t off,
				  const unsigned char *buf)
{
	uint64_t first, last;

	memcpy(&first, buf, 8);
	memcpy(&last, buf + FR_BLOCK - 8, 8);
	if (first != fr_word(off) || last != fr_word(off + FR_BLOCK - 8))
		bench_fail("%s: wrong data read at offset %ju", r->impl,
			   (uintmax_t)off);
}

/*
 * A read finished: the read at off into buf, with stamp from fr_issue,
 * transferred result bytes (a negative errno for a failure).  Checks it,
 * counts it, and moves the clock along.
 */
static inline void fr_complete(struct fr_run *r, uint64_t off,
			       unsigned char *buf, int64_t result,
			       uint64_t stamp)
{
	uint64_t now = 0;

	if (result != (int64_t)FR_BLOCK) {
		if (result < 0)
			bench_fail("%s: read at %ju: %s", r->impl,
				   (uintmax_t)off, strerror((int)-result));
		bench_fail("%s: read at %ju: %jd bytes, expected %u", r->impl,
			   (uintmax_t)off, (intmax_t)result, FR_BLOCK);
	}
	fr_check_block(r, off, buf);
	memset(buf, 0, 8);
	r->done++;
	if (stamp != 0) {
		now = bench_now_ns();
		if (r->phase == FR_TIMED && r->nlat < r->maxlat)
			r->lat[r->nlat++] = now - stamp;
	}
	if (r->done % FR_TICK != 0 || r->phase == FR_STOPPED)
		return;
	if (now == 0)
		now = bench_now_ns();
	if (r->phase == FR_WARM) {
		if (now - r->t_start >= r->warm_ns) {
			r->phase = FR_TIMED;
			r->t0 = now;
			r->done0 = r->done;
		}
	} else if (now - r->t0 >= r->run_ns) {
		r->phase = FR_STOPPED;
		r->t1 = now;
		r->counted = r->done - r->done0;
	}
}

/*
 * fr_complete for a read whose result is a Win32 error (0 on success) and
 * a byte count, as a completion routine receives them.
 */
static inline void fr_complete_win32(struct fr_run *r, uint64_t off,
				     unsigned char *buf, uint32_t error,
				     uint32_t bytes, uint64_t stamp)
{
	if (error != 0)
		bench_fail("%s: read at %ju: error %u", r->impl, (uintmax_t)off,
			   error);
	fr_complete(r, off, buf, (int64_t)bytes, stamp);
}

static inline int fr_cmp(const void *a, const void *b)
{
	const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* After fr_idle: print the configuration's two lines, free its samples. */
static inline void fr_report(struct fr_run *r)
{
	char scen[32];

	if (!fr_idle(r))
		bench_fail("%s: reported with %ju reads in flight", r->impl,
			   (uintmax_t)(r->issued - r->done));
	if (r->counted == 0 || r->nlat == 0)
		bench_fail("%s: no read in the timed span", r->impl);
	snprintf(scen, sizeof(scen), "fileread-qd%u", r->qd);
	bench_result(scen, r->impl,
		     (double)r->counted * 1e6 / (double)(r->t1 - r->t0),
		     BENCH_KOPS);
	qsort(r->lat, r->nlat, sizeof(*r->lat), fr_cmp);
	snprintf(scen, sizeof(scen), "fileread-qd%u-p50", r->qd);
	bench_result(scen, r->impl, (double)r->lat[(r->nlat - 1) / 2],
		     BENCH_NS);
	free(r->lat);
	r->lat = NULL;
}

#endif /* APC_BENCH_FILEREAD_H */
