/*
 * The named-pipe benchmarks' shared parts (bench-npipe.c, apcrt, and
 * base-unixsock.c, raw sockets): message sizes, and the stream's word
 * pattern with its check.  Include after bench.h (bench_fail).
 */
#ifndef APC_BENCH_NPIPEBENCH_H
#define APC_BENCH_NPIPEBENCH_H

#include <stdint.h>
#include <string.h>

/* A request and a reply; the buffer a request or a reply is read into. */
#define RR_MSG 64u
#define RR_BUF 512u
#define RR_TAG_REQ 0x7271657571657231u
#define RR_TAG_REP 0x72706c7972706c31u

/* One write of the stream, and one read at most. */
#define ST_CHUNK 65536u

#define BENCH_MBS "MB/s"

static uint64_t get64(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	return w;
}

static void put64(unsigned char *p, uint64_t w)
{
	memcpy(p, &w, 8);
}

/*
 * The stream's word at offset pos (a multiple of 8): the chunk's number
 * at the start of each chunk, a hash of the position in the chunk
 * elsewhere (so the writer stamps one word per chunk).
 */
static uint64_t np_word(uint64_t pos)
{
	uint64_t k = pos % ST_CHUNK;

	if (k == 0)
		return pos / ST_CHUNK;
	k *= 0x9e3779b97f4a7c15u;
	return k ^ (k >> 29);
}

/*
 * Check n bytes read into buf at stream offset off (see the top), and
 * poison the words checked.
 */
static void np_check(const char *impl, unsigned char *buf, uint32_t n,
		     uint64_t off)
{
	const uint64_t first = (off + 7) & ~(uint64_t)7;
	uint64_t last, c;

	if (off + n < first + 8)
		return; /* no whole word in it */
	last = (off + n - 8) & ~(uint64_t)7;
	for (c = first; c <= last;) {
		unsigned char *p = buf + (c - off);

		if (get64(p) != np_word(c))
			bench_fail("%s npipe-stream: wrong data at stream "
				   "offset %ju",
				   impl, (uintmax_t)c);
		put64(p, ~np_word(c));
		/* first, each chunk start after it, last */
		if (c == last)
			break;
		c = (c / ST_CHUNK + 1) * ST_CHUNK;
		if (c > last)
			c = last;
	}
}

#endif /* APC_BENCH_NPIPEBENCH_H */
