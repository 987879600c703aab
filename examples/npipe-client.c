/*
 * npipe-client: a client of the npipe-server-* examples, in the shape of
 * Microsoft's "Named Pipe Client".  It builds unchanged on Windows with
 * <windows.h>; on POSIX the only change is the include line below.
 *
 *	npipe-client NAME ID COUNT	send COUNT requests (1 to 1000000)
 *					as client ID, check every reply
 *	npipe-client NAME --quit	ask the server to stop
 *
 * It opens the pipe with CreateFile; while every instance is busy
 * (ERROR_PIPE_BUSY) it waits for one with WaitNamedPipe (20 s at most
 * each time) and tries again.  Then it switches its handle to message
 * read mode with SetNamedPipeHandleState and sends its requests one at a
 * time, each with one WriteFile, its reply read with ReadFile, all
 * synchronous.  Request k of client ID is "client ID request k:" and
 * letters that depend on both, 40 to 2,959 bytes; the reply must be "re:"
 * and the request reversed, read in pieces of CHUNK bytes: every piece
 * but the last must fill the buffer and end with ERROR_MORE_DATA, the
 * message's last piece with success.  The quit request is "quit", its
 * reply "bye".
 *
 * It prints how the run went and exits 0 when every reply was right,
 * else 1 (the first wrong reply is described).  A pipe that cannot be
 * opened is reported as "cannot open NAME: error E".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <apc/windows.h>
#endif

#define MAX_REQUEST 2960u
#define MAX_REPLY (MAX_REQUEST + 3u)
#define CHUNK 512u /* the read buffer: most replies take several reads */
#define WAIT_MS 20000u

static const char *pipe_name;
static DWORD busy_waits; /* times every instance was busy */

/* Open the pipe, waiting while every instance is busy. */
static HANDLE open_pipe(void)
{
	HANDLE pipe;
	DWORD err;

	for (;;) {
		pipe = CreateFileA(pipe_name, GENERIC_READ | GENERIC_WRITE, 0,
				   NULL, OPEN_EXISTING, 0, NULL);
		if (pipe != INVALID_HANDLE_VALUE)
			return pipe;
		err = GetLastError();
		if (err != ERROR_PIPE_BUSY)
			break;
		busy_waits++;
		if (!WaitNamedPipeA(pipe_name, WAIT_MS)) {
			err = GetLastError();
			fprintf(stderr,
				"npipe-client: no instance of %s free in %u "
				"ms: error %lu\n",
				pipe_name, WAIT_MS, (unsigned long)err);
			return INVALID_HANDLE_VALUE;
		}
	}
	fprintf(stderr, "npipe-client: cannot open %s: error %lu\n", pipe_name,
		(unsigned long)err);
	return INVALID_HANDLE_VALUE;
}

/* Request seq of client id, in buf; returns its length. */
static DWORD make_request(char *buf, unsigned id, unsigned seq)
{
	DWORD len, i;
	int n;

	n = snprintf(buf, MAX_REQUEST, "client %u request %u:", id, seq);
	len = 40u + (seq * 131u + id * 977u) % (MAX_REQUEST - 40u);
	if (n < 0 || (DWORD)n > len)
		n = 0;
	for (i = (DWORD)n; i < len; i++)
		buf[i] = (char)('a' + (i * 7u + seq + id) % 26u);
	return len;
}

/*
 * Send len bytes of req as one message and read the reply, CHUNK bytes
 * at a time, into reply (room for MAX_REPLY).  Returns the reply's
 * length, or -1 after printing what went wrong.
 */
static long round_trip(HANDLE pipe, const char *req, DWORD len, char *reply)
{
	DWORD written = 0, got = 0, total = 0, want;
	BOOL ok;

	if (!WriteFile(pipe, req, len, &written, NULL)) {
		fprintf(stderr, "npipe-client: WriteFile failed: error %lu\n",
			(unsigned long)GetLastError());
		return -1;
	}
	if (written != len) {
		fprintf(stderr, "npipe-client: WriteFile wrote %lu of %lu\n",
			(unsigned long)written, (unsigned long)len);
		return -1;
	}
	do {
		want = MAX_REPLY - total < CHUNK ? MAX_REPLY - total : CHUNK;
		if (want == 0) {
			fprintf(stderr,
				"npipe-client: the reply is longer "
				"than %u bytes\n",
				MAX_REPLY);
			return -1;
		}
		got = 0;
		ok = ReadFile(pipe, reply + total, want, &got, NULL);
		if (!ok && GetLastError() != ERROR_MORE_DATA) {
			fprintf(stderr,
				"npipe-client: ReadFile failed: error "
				"%lu\n",
				(unsigned long)GetLastError());
			return -1;
		}
		/* A piece with more to come fills the buffer. */
		if (!ok && got != want) {
			fprintf(stderr,
				"npipe-client: ReadFile gave %lu bytes of %lu "
				"with ERROR_MORE_DATA\n",
				(unsigned long)got, (unsigned long)want);
			return -1;
		}
		total += got;
	} while (!ok);
	return (long)total;
}

/* The reply that req must get: "re:" and req reversed. */
static BOOL check_reply(const char *req, DWORD len, const char *reply, long got)
{
	DWORD i;

	if (got != (long)len + 3) {
		fprintf(stderr,
			"npipe-client: a request of %lu bytes got a reply of "
			"%ld, not %lu\n",
			(unsigned long)len, got, (unsigned long)len + 3);
		return FALSE;
	}
	if (memcmp(reply, "re:", 3) != 0)
		goto wrong;
	for (i = 0; i < len; i++) {
		if (reply[3 + i] != req[len - 1 - i])
			goto wrong;
	}
	return TRUE;
wrong:
	fprintf(stderr, "npipe-client: a wrong reply to \"%.24s...\"\n", req);
	return FALSE;
}

int main(int argc, char **argv)
{
	static char req[MAX_REQUEST], reply[MAX_REPLY];
	unsigned id = 0, count = 0, seq;
	BOOL quit = FALSE, ok = TRUE;
	HANDLE pipe;
	DWORD mode, len;
	long got;

	if (argc == 3 && strcmp(argv[2], "--quit") == 0) {
		quit = TRUE;
	} else if (argc == 4) {
		id = (unsigned)strtoul(argv[2], NULL, 10);
		count = (unsigned)strtoul(argv[3], NULL, 10);
		if (count < 1 || count > 1000000) {
			fprintf(stderr,
				"npipe-client: COUNT must be 1 to 1000000\n");
			return 2;
		}
	} else {
		fprintf(stderr, "usage: npipe-client NAME ID COUNT\n"
				"       npipe-client NAME --quit\n");
		return 2;
	}
	pipe_name = argv[1];

	pipe = open_pipe();
	if (pipe == INVALID_HANDLE_VALUE)
		return 1;

	/* The client's end reads bytes until it asks for messages. */
	mode = PIPE_READMODE_MESSAGE;
	if (!SetNamedPipeHandleState(pipe, &mode, NULL, NULL)) {
		fprintf(stderr,
			"npipe-client: SetNamedPipeHandleState failed: error "
			"%lu\n",
			(unsigned long)GetLastError());
		CloseHandle(pipe);
		return 1;
	}

	if (quit) {
		got = round_trip(pipe, "quit", 4, reply);
		if (got != 3 || memcmp(reply, "bye", 3) != 0) {
			if (got >= 0)
				fprintf(stderr, "npipe-client: the quit "
						"request was not answered "
						"\"bye\"\n");
			ok = FALSE;
		} else {
			printf("npipe-client: the server says bye\n");
		}
	}
	for (seq = 0; ok && seq < count; seq++) {
		len = make_request(req, id, seq);
		got = round_trip(pipe, req, len, reply);
		ok = got >= 0 && check_reply(req, len, reply, got);
	}
	if (!CloseHandle(pipe)) {
		fprintf(stderr, "npipe-client: CloseHandle failed: error %lu\n",
			(unsigned long)GetLastError());
		ok = FALSE;
	}
	if (!ok)
		return 1;
	if (!quit)
		printf("npipe-client %u: %u requests, every reply checked "
		       "(%lu waits for a busy pipe)\n",
		       id, count, (unsigned long)busy_waits);
	return 0;
}
