/*
 * npipe-server-overlapped: a named-pipe server on overlapped ReadFile /
 * WriteFile and one event per instance, in the shape of Microsoft's
 * "Named Pipe Server Using Overlapped I/O".  It builds unchanged on
 * Windows with <windows.h>; on POSIX the only change is the include
 * line below.
 *
 *	npipe-server-overlapped NAME [N]  (NAME: \\.\pipe\SOMETHING;
 *					   N instances, 1 to 64, default 4)
 *
 * One thread serves N instances of the pipe, each with an OVERLAPPED of
 * its own whose manual-reset event is one of the N objects of
 * WaitForMultipleObjects.  Each instance is a state machine:
 *
 *	connecting	ConnectNamedPipe is in progress; when it finishes
 *			the instance reads;
 *	reading		a ReadFile of a request is started (or in
 *			progress); when it has the request the instance
 *			writes;
 *	writing		a WriteFile of the answer is started (or in
 *			progress); when it has written the whole answer the
 *			instance reads again.
 *
 * When an instance's event signals, GetOverlappedResult finishes the
 * operation in progress, and the instance starts the next one.  An
 * operation that finishes at once still signals the event, so the loop
 * comes back to the instance either way.  A failed read or write
 * (ERROR_BROKEN_PIPE once the client has closed its end) ends the
 * client: DisconnectNamedPipe, and the instance connects again.  With
 * more clients than instances, a client finds every instance busy
 * (ERROR_PIPE_BUSY) and waits with WaitNamedPipe.
 *
 * The pipe is a message pipe.  The answer to a request of n bytes is
 * "re:" and the request's bytes in reverse order; the request "quit" is
 * answered "bye" and asks the server to stop, which it does once every
 * instance is waiting for a client again: it cancels the connects
 * (CancelIo; each OVERLAPPED must report ERROR_OPERATION_ABORTED) and
 * closes everything.  Before serving it prints "listening on NAME"; at
 * the end, the requests served and the connections made.  It exits 0
 * after a quit with nothing unexpected on the way, else 1: any failure
 * other than a client's close is one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <apc/windows.h>
#endif

#define CONNECTING_STATE 0
#define READING_STATE 1
#define WRITING_STATE 2
#define INSTANCES 4	  /* the default */
#define PIPE_TIMEOUT 5000 /* ms: WaitNamedPipe's NMPWAIT_USE_DEFAULT_WAIT */
#define BUFSIZE 4096

struct pipe_inst {
	OVERLAPPED ov;
	HANDLE pipe;
	char request[BUFSIZE];
	DWORD read; /* bytes in request */
	char reply[BUFSIZE];
	DWORD to_write; /* bytes in reply */
	DWORD state;
	BOOL pending; /* the state's operation is in progress */
};

static struct pipe_inst pipes[MAXIMUM_WAIT_OBJECTS];
static HANDLE events[MAXIMUM_WAIT_OBJECTS];
static DWORD instances = INSTANCES;
static DWORD requests, connections;
static DWORD failures;
static BOOL quitting;

/* Something a correct peer and a correct system never cause: printed,
 * counted, and the exit code will be 1. */
static void fail(const char *what, DWORD err)
{
	if (failures++ < 10)
		fprintf(stderr,
			"npipe-server-overlapped: %s failed: error %lu\n", what,
			(unsigned long)err);
}

/*
 * Wait for a client on an instance.  Returns TRUE with *pending TRUE
 * while the connect is in progress, TRUE with *pending FALSE when a
 * client was already connected (the event is set so that the main loop
 * sees the instance), FALSE on failure.
 */
static BOOL connect_to_new_client(HANDLE pipe, LPOVERLAPPED ov, BOOL *pending)
{
	if (ConnectNamedPipe(pipe, ov)) {
		/* An overlapped connect never finishes with TRUE. */
		fail("ConnectNamedPipe (TRUE)", 0);
		return FALSE;
	}
	switch (GetLastError()) {
	case ERROR_IO_PENDING:
		*pending = TRUE;
		return TRUE;
	case ERROR_PIPE_CONNECTED:
		*pending = FALSE;
		if (SetEvent(ov->hEvent))
			return TRUE;
		fail("SetEvent", GetLastError());
		return FALSE;
	default:
		fail("ConnectNamedPipe", GetLastError());
		return FALSE;
	}
}

/* The instance's client has gone (or failed at what, with err): drop
 * it and wait for the next one.  ERROR_BROKEN_PIPE is a client's close;
 * anything else is a failure. */
static BOOL disconnect_and_reconnect(struct pipe_inst *p, const char *what,
				     DWORD err)
{
	if (err != ERROR_BROKEN_PIPE)
		fail(what, err);
	if (!DisconnectNamedPipe(p->pipe))
		fail("DisconnectNamedPipe", GetLastError());
	if (!connect_to_new_client(p->pipe, &p->ov, &p->pending))
		return FALSE;
	p->state = p->pending ? CONNECTING_STATE : READING_STATE;
	if (!p->pending)
		connections++;
	return TRUE;
}

/* The answer: "re:" and the request reversed; "bye" to "quit". */
static void answer(struct pipe_inst *p)
{
	DWORD i;

	if (p->read == 4 && memcmp(p->request, "quit", 4) == 0) {
		memcpy(p->reply, "bye", 3);
		p->to_write = 3;
		quitting = TRUE;
		return;
	}
	memcpy(p->reply, "re:", 3);
	for (i = 0; i < p->read; i++)
		p->reply[3 + i] = p->request[p->read - 1 - i];
	p->to_write = 3 + p->read;
	requests++;
}

/* Once a quit came: every client has gone when every instance waits
 * for a connect. */
static BOOL all_idle(void)
{
	DWORD i;

	for (i = 0; i < instances; i++) {
		if (pipes[i].state != CONNECTING_STATE || !pipes[i].pending)
			return FALSE;
	}
	return TRUE;
}

/*
 * The operation in progress on p has finished (its event signalled):
 * take its result and move to the next state.  Returns FALSE on a
 * failure that ends the server; a client's failure only reconnects, and
 * *again tells the caller not to start the next state's operation.
 */
static BOOL finish_pending(struct pipe_inst *p, BOOL *again)
{
	DWORD bytes = 0;
	BOOL ok;

	*again = FALSE;
	ok = GetOverlappedResult(p->pipe, &p->ov, &bytes, FALSE);
	switch (p->state) {
	case CONNECTING_STATE:
		if (!ok) {
			fail("ConnectNamedPipe", GetLastError());
			return FALSE;
		}
		connections++;
		p->state = READING_STATE;
		return TRUE;
	case READING_STATE:
		if (!ok || bytes == 0) {
			*again = TRUE;
			return disconnect_and_reconnect(p, "a read",
							ok ? ERROR_SUCCESS
							   : GetLastError());
		}
		p->read = bytes;
		p->state = WRITING_STATE;
		return TRUE;
	case WRITING_STATE:
		if (!ok || bytes != p->to_write) {
			*again = TRUE;
			return disconnect_and_reconnect(p, "a write",
							ok ? ERROR_SUCCESS
							   : GetLastError());
		}
		p->state = READING_STATE;
		return TRUE;
	default:
		fail("an instance's state", p->state);
		return FALSE;
	}
}

/*
 * Start the operation of p's state.  Finished at once or in progress,
 * its event signals; a failure ends the client.  Returns FALSE on a
 * failure that ends the server.
 */
static BOOL start_next(struct pipe_inst *p)
{
	DWORD bytes = 0, err;

	switch (p->state) {
	case READING_STATE:
		if (ReadFile(p->pipe, p->request, BUFSIZE, &p->read, &p->ov)) {
			if (p->read == 0)
				return disconnect_and_reconnect(p, "a read", 0);
			p->pending = FALSE;
			p->state = WRITING_STATE;
			return TRUE;
		}
		err = GetLastError();
		break;
	case WRITING_STATE:
		if (p->read > BUFSIZE - 3)
			return disconnect_and_reconnect(
				p, "a read (the request is too long)", p->read);
		answer(p);
		if (WriteFile(p->pipe, p->reply, p->to_write, &bytes, &p->ov)) {
			if (bytes != p->to_write)
				return disconnect_and_reconnect(
					p, "a short write", bytes);
			p->pending = FALSE;
			p->state = READING_STATE;
			return TRUE;
		}
		err = GetLastError();
		break;
	default:
		fail("an instance's state", p->state);
		return FALSE;
	}
	if (err == ERROR_IO_PENDING) {
		p->pending = TRUE;
		return TRUE;
	}
	return disconnect_and_reconnect(p, "ReadFile or WriteFile", err);
}

static void close_instance(struct pipe_inst *p)
{
	DWORD bytes;

	if (p->pending) {
		if (!CancelIo(p->pipe))
			fail("CancelIo", GetLastError());
		if (GetOverlappedResult(p->pipe, &p->ov, &bytes, TRUE))
			fail("a cancelled connect (success)", 0);
		else if (GetLastError() != ERROR_OPERATION_ABORTED)
			fail("a cancelled connect", GetLastError());
	}
	if (!CloseHandle(p->pipe))
		fail("CloseHandle", GetLastError());
	if (!CloseHandle(p->ov.hEvent))
		fail("CloseHandle", GetLastError());
}

int main(int argc, char **argv)
{
	struct pipe_inst *p;
	DWORD i, wait;
	BOOL again;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: npipe-server-overlapped NAME [N]\n");
		return 2;
	}
	if (argc == 3) {
		instances = (DWORD)strtoul(argv[2], NULL, 10);
		if (instances < 1 || instances > MAXIMUM_WAIT_OBJECTS) {
			fprintf(stderr,
				"npipe-server-overlapped: N must be 1 to %u\n",
				(unsigned)MAXIMUM_WAIT_OBJECTS);
			return 2;
		}
	}

	for (i = 0; i < instances; i++) {
		p = &pipes[i];
		/* Manual reset, as GetOverlappedResult needs; every
		 * operation resets it when it starts. */
		events[i] = CreateEventA(NULL, TRUE, TRUE, NULL);
		if (events[i] == NULL) {
			fail("CreateEvent", GetLastError());
			return 1;
		}
		p->ov.hEvent = events[i];
		p->pipe = CreateNamedPipeA(
			argv[1], PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
			PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT,
			instances, BUFSIZE, BUFSIZE, PIPE_TIMEOUT, NULL);
		if (p->pipe == INVALID_HANDLE_VALUE) {
			fail("CreateNamedPipe", GetLastError());
			return 1;
		}
		if (!connect_to_new_client(p->pipe, &p->ov, &p->pending))
			return 1;
		p->state = p->pending ? CONNECTING_STATE : READING_STATE;
		if (!p->pending)
			connections++;
	}
	printf("npipe-server-overlapped: listening on %s, %lu instances\n",
	       argv[1], (unsigned long)instances);
	fflush(stdout);

	while (!(quitting && all_idle())) {
		/* An instance's operation finished (or one finished at once
		 * and comes back for its next step). */
		wait = WaitForMultipleObjects(instances, events, FALSE,
					      INFINITE);
		i = wait - WAIT_OBJECT_0;
		if (i >= instances) {
			fail("WaitForMultipleObjects",
			     wait == WAIT_FAILED ? GetLastError() : wait);
			return 1;
		}
		p = &pipes[i];
		if (p->pending) {
			if (!finish_pending(p, &again))
				return 1;
			if (again)
				continue;
		}
		if (!start_next(p))
			return 1;
	}

	for (i = 0; i < instances; i++)
		close_instance(&pipes[i]);
	printf("npipe-server-overlapped: %lu requests on %lu connections\n",
	       (unsigned long)requests, (unsigned long)connections);
	return failures == 0 ? 0 : 1;
}
