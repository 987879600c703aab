/*
 * file-copy: copy a file with chained ReadFileEx / WriteFileEx completion
 * routines, N operations in flight.  It builds unchanged on Windows with
 * <windows.h>; on POSIX the only change is the include line below.
 *
 *	file-copy SRC DST [N]		(N: 1 to 1024, default 8)
 *
 * The file is copied in blocks of BLOCK bytes.  Each of N slots owns an
 * OVERLAPPED and a buffer and runs one chain: read a block at the slot's
 * offset, and when that read's routine runs, write what it read at the
 * same offset; when that write's routine runs, read on (the rest of the
 * block after a short read, else the next block not yet claimed).  A slot
 * retires when its read meets the end of the file: ERROR_HANDLE_EOF,
 * either at once from ReadFileEx or in the routine.  Routines run only
 * while the thread waits alertably, so the main loop is
 * SleepEx(INFINITE, TRUE) until every slot has retired.
 *
 * Any failure is printed; no slot starts anything after it, the program
 * waits for the operations still in flight (their routines must run
 * before the buffers are freed), then exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <apc/windows.h>
#endif

#define BLOCK (64u * 1024u)
#define MAX_DEPTH 1024u

/* One chain.  The OVERLAPPED is the first member, so a routine's
 * LPOVERLAPPED is its slot. */
struct slot {
	OVERLAPPED ov;
	unsigned long long pos; /* where the data in buf belongs */
	unsigned long long end; /* the end of the block this slot copies */
	DWORD len;		/* bytes in buf, to write */
	BYTE *buf;
};

static HANDLE src, dst;
static unsigned long long next_block; /* the offset of the next block */
static unsigned long long copied;
static DWORD active; /* slots with an operation in flight */
static BOOL failed;

/* The first failure is reported; the others follow from it. */
static void fail(const char *what, DWORD err)
{
	if (!failed)
		fprintf(stderr, "file-copy: %s failed: error %lu\n", what,
			(unsigned long)err);
	failed = TRUE;
}

static void set_offset(struct slot *s)
{
	memset(&s->ov, 0, sizeof(s->ov));
	s->ov.Offset = (DWORD)s->pos;
	s->ov.OffsetHigh = (DWORD)(s->pos >> 32);
}

static VOID CALLBACK read_done(DWORD err, DWORD bytes, LPOVERLAPPED ov);
static VOID CALLBACK write_done(DWORD err, DWORD bytes, LPOVERLAPPED ov);

/*
 * Start the slot's next read: the rest of its block, or a new block.
 * Returns FALSE when the slot has retired (the end of the file, or an
 * error); its routine then never runs.
 */
static BOOL start_read(struct slot *s)
{
	DWORD err;

	if (failed)
		return FALSE;
	if (s->pos >= s->end) {
		s->pos = next_block;
		s->end = next_block + BLOCK;
		next_block += BLOCK;
	}
	set_offset(s);
	if (ReadFileEx(src, s->buf, (DWORD)(s->end - s->pos), &s->ov,
		       read_done))
		return TRUE;
	err = GetLastError();
	if (err != ERROR_HANDLE_EOF)
		fail("ReadFileEx", err);
	return FALSE;
}

static VOID CALLBACK read_done(DWORD err, DWORD bytes, LPOVERLAPPED ov)
{
	struct slot *s = (struct slot *)ov;

	if (err != ERROR_SUCCESS || bytes == 0) {
		if (err != ERROR_SUCCESS && err != ERROR_HANDLE_EOF)
			fail("a read", err);
		active--; /* the end of the file (or a failure): done */
		return;
	}
	if (failed) {
		active--;
		return;
	}
	s->len = bytes;
	set_offset(s);
	if (!WriteFileEx(dst, s->buf, s->len, &s->ov, write_done)) {
		fail("WriteFileEx", GetLastError());
		active--;
	}
}

static VOID CALLBACK write_done(DWORD err, DWORD bytes, LPOVERLAPPED ov)
{
	struct slot *s = (struct slot *)ov;

	if (err != ERROR_SUCCESS) {
		fail("a write", err);
		active--;
		return;
	}
	if (bytes != s->len) {
		if (!failed)
			fprintf(stderr,
				"file-copy: a write of %lu bytes wrote %lu\n",
				(unsigned long)s->len, (unsigned long)bytes);
		failed = TRUE;
		active--;
		return;
	}
	copied += bytes;
	s->pos += bytes;
	if (!start_read(s))
		active--;
}

int main(int argc, char **argv)
{
	struct slot *slots;
	DWORD depth = 8, i;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: file-copy SRC DST [N]\n");
		return 2;
	}
	if (argc == 4) {
		depth = (DWORD)strtoul(argv[3], NULL, 10);
		if (depth < 1 || depth > MAX_DEPTH) {
			fprintf(stderr, "file-copy: N must be 1 to %u\n",
				MAX_DEPTH);
			return 2;
		}
	}

	src = CreateFileA(
		argv[1], GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING,
		FILE_FLAG_OVERLAPPED | FILE_FLAG_SEQUENTIAL_SCAN, NULL);
	if (src == INVALID_HANDLE_VALUE) {
		fprintf(stderr, "file-copy: cannot open %s: error %lu\n",
			argv[1], (unsigned long)GetLastError());
		return 1;
	}
	dst = CreateFileA(argv[2], GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
			  FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED, NULL);
	if (dst == INVALID_HANDLE_VALUE) {
		fprintf(stderr, "file-copy: cannot create %s: error %lu\n",
			argv[2], (unsigned long)GetLastError());
		CloseHandle(src);
		return 1;
	}

	slots = calloc(depth, sizeof(*slots));
	for (i = 0; slots && i < depth; i++) {
		slots[i].buf = malloc(BLOCK);
		if (!slots[i].buf)
			break;
	}
	if (!slots || i < depth) {
		fprintf(stderr, "file-copy: out of memory\n");
		failed = TRUE;
	}

	/* Start the chains; a read may already report the end of the file
	 * (a file shorter than N blocks). */
	for (i = 0; !failed && i < depth; i++) {
		if (start_read(&slots[i]))
			active++;
	}

	/* The completion routines do the work, in this thread's alertable
	 * waits.  A failure stops new operations; the loop still waits for
	 * those in flight. */
	while (active > 0) {
		if (SleepEx(INFINITE, TRUE) != WAIT_IO_COMPLETION) {
			fprintf(stderr, "file-copy: SleepEx ended without "
					"a completion routine\n");
			return 1; /* operations still use the buffers */
		}
	}

	if (slots) {
		for (i = 0; i < depth; i++)
			free(slots[i].buf);
		free(slots);
	}
	if (!CloseHandle(dst))
		fail("CloseHandle", GetLastError());
	CloseHandle(src);
	if (failed)
		return 1;
	printf("file-copy: %llu bytes copied, %lu operations in flight\n",
	       copied, (unsigned long)depth);
	return 0;
}
