/*
 * npipe-server-routines: a named-pipe server driven by completion
 * routines, in the shape of Microsoft's "Named Pipe Server Using
 * Completion Routines".  It builds unchanged on Windows with
 * <windows.h>; on POSIX the only change is the include line below.
 *
 *	npipe-server-routines NAME	(NAME: \\.\pipe\SOMETHING)
 *
 * One thread serves every client.  One instance of the pipe at a time
 * waits for a client: ConnectNamedPipe with an OVERLAPPED whose event is
 * the only object the main loop waits on, WaitForSingleObjectEx(event,
 * INFINITE, TRUE).  When the event signals, the connected instance gets
 * a record of its own and starts a chain of completion routines (read a
 * request with ReadFileEx; its routine writes the answer with
 * WriteFileEx; that routine reads the next request), and a new instance
 * waits for the next client.  The routines run in the same alertable
 * wait, which then returns WAIT_IO_COMPLETION.  A chain ends when a read
 * or write fails (ERROR_BROKEN_PIPE once the client has closed its end):
 * DisconnectNamedPipe, CloseHandle.
 *
 * The pipe is a message pipe.  The answer to a request of n bytes is
 * "re:" and the request's bytes in reverse order; the request "quit" is
 * answered "bye" and asks the server to stop, which it does once every
 * connected client has gone: it cancels the waiting instance's connect
 * (CancelIo; the OVERLAPPED must report ERROR_OPERATION_ABORTED) and
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

#define PIPE_TIMEOUT 5000 /* ms: WaitNamedPipe's NMPWAIT_USE_DEFAULT_WAIT */
#define BUFSIZE 4096

/* One connected instance.  The OVERLAPPED is the first member, so a
 * routine's LPOVERLAPPED is its instance. */
struct pipe_inst {
	OVERLAPPED ov;
	HANDLE pipe;
	char request[BUFSIZE];
	DWORD read; /* bytes in request */
	char reply[BUFSIZE];
	DWORD to_write; /* bytes in reply */
};

static const char *pipe_name;
static HANDLE waiting_pipe; /* the instance waiting for a client */
static DWORD live;	    /* connected instances not yet closed */
static DWORD requests, connections;
static DWORD failures;
static BOOL quitting;

/* Something a correct peer and a correct system never cause: printed,
 * counted, and the exit code will be 1. */
static void fail(const char *what, DWORD err)
{
	if (failures++ < 10)
		fprintf(stderr, "npipe-server-routines: %s failed: error %lu\n",
			what, (unsigned long)err);
}

static VOID CALLBACK read_done(DWORD err, DWORD bytes, LPOVERLAPPED ov);
static VOID CALLBACK write_done(DWORD err, DWORD bytes, LPOVERLAPPED ov);

/* The end of a chain: its routine never runs again. */
static void disconnect_and_close(struct pipe_inst *inst)
{
	if (!DisconnectNamedPipe(inst->pipe))
		fail("DisconnectNamedPipe", GetLastError());
	if (!CloseHandle(inst->pipe))
		fail("CloseHandle", GetLastError());
	free(inst);
	live--;
}

/* The answer: "re:" and the request reversed; "bye" to "quit". */
static void answer(struct pipe_inst *inst)
{
	DWORD i;

	if (inst->read == 4 && memcmp(inst->request, "quit", 4) == 0) {
		memcpy(inst->reply, "bye", 3);
		inst->to_write = 3;
		quitting = TRUE;
		return;
	}
	memcpy(inst->reply, "re:", 3);
	for (i = 0; i < inst->read; i++)
		inst->reply[3 + i] = inst->request[inst->read - 1 - i];
	inst->to_write = 3 + inst->read;
	requests++;
}

/*
 * A write finished (or a client has just connected, bytes = to_write =
 * 0): read the next request.  ERROR_BROKEN_PIPE is the client's close,
 * the normal end of a chain; any other error is a failure.
 */
static VOID CALLBACK write_done(DWORD err, DWORD bytes, LPOVERLAPPED ov)
{
	struct pipe_inst *inst = (struct pipe_inst *)ov;

	if (err != ERROR_SUCCESS) {
		if (err != ERROR_BROKEN_PIPE)
			fail("a write", err);
		disconnect_and_close(inst);
		return;
	}
	if (bytes != inst->to_write) {
		fail("a short write", bytes);
		disconnect_and_close(inst);
		return;
	}
	if (!ReadFileEx(inst->pipe, inst->request, BUFSIZE, &inst->ov,
			read_done)) {
		err = GetLastError();
		if (err != ERROR_BROKEN_PIPE)
			fail("ReadFileEx", err);
		disconnect_and_close(inst);
	}
}

/* A request came in: write its answer. */
static VOID CALLBACK read_done(DWORD err, DWORD bytes, LPOVERLAPPED ov)
{
	struct pipe_inst *inst = (struct pipe_inst *)ov;

	if (err != ERROR_SUCCESS || bytes == 0) {
		if (err != ERROR_BROKEN_PIPE)
			fail("a read", err);
		disconnect_and_close(inst);
		return;
	}
	if (bytes > BUFSIZE - 3) {
		fail("a read (the request is too long)", bytes);
		disconnect_and_close(inst);
		return;
	}
	inst->read = bytes;
	answer(inst);
	if (!WriteFileEx(inst->pipe, inst->reply, inst->to_write, &inst->ov,
			 write_done)) {
		err = GetLastError();
		if (err != ERROR_BROKEN_PIPE)
			fail("WriteFileEx", err);
		disconnect_and_close(inst);
	}
}

/*
 * A new instance of the pipe, waiting for a client with ov.  Returns
 * TRUE with *pending TRUE while the connect is in progress, TRUE with
 * *pending FALSE when a client was already connected (the event is set
 * so that the main loop sees it), FALSE on failure.
 */
static BOOL create_and_connect(LPOVERLAPPED ov, BOOL *pending)
{
	waiting_pipe = CreateNamedPipeA(
		pipe_name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
		PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT,
		PIPE_UNLIMITED_INSTANCES, BUFSIZE, BUFSIZE, PIPE_TIMEOUT, NULL);
	if (waiting_pipe == INVALID_HANDLE_VALUE) {
		fail("CreateNamedPipe", GetLastError());
		return FALSE;
	}
	if (ConnectNamedPipe(waiting_pipe, ov)) {
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

/* At the end: cancel the waiting instance's connect and close it. */
static void stop_waiting(LPOVERLAPPED ov, BOOL pending)
{
	DWORD bytes;

	if (pending) {
		if (!CancelIo(waiting_pipe))
			fail("CancelIo", GetLastError());
		if (GetOverlappedResult(waiting_pipe, ov, &bytes, TRUE))
			fail("a cancelled connect (success)", 0);
		else if (GetLastError() != ERROR_OPERATION_ABORTED)
			fail("a cancelled connect", GetLastError());
	}
	if (!CloseHandle(waiting_pipe))
		fail("CloseHandle", GetLastError());
}

int main(int argc, char **argv)
{
	struct pipe_inst *inst;
	OVERLAPPED connect_ov;
	HANDLE connect_event;
	DWORD wait, bytes;
	BOOL pending;

	if (argc != 2) {
		fprintf(stderr, "usage: npipe-server-routines NAME\n");
		return 2;
	}
	pipe_name = argv[1];

	/* Manual reset, as GetOverlappedResult needs; ConnectNamedPipe
	 * resets it when it starts. */
	connect_event = CreateEventA(NULL, TRUE, TRUE, NULL);
	if (connect_event == NULL) {
		fail("CreateEvent", GetLastError());
		return 1;
	}
	memset(&connect_ov, 0, sizeof(connect_ov));
	connect_ov.hEvent = connect_event;
	if (!create_and_connect(&connect_ov, &pending))
		return 1;
	printf("npipe-server-routines: listening on %s\n", pipe_name);
	fflush(stdout);

	while (!(quitting && live == 0)) {
		/* A client connects (the event), or routines run. */
		wait = WaitForSingleObjectEx(connect_event, INFINITE, TRUE);
		switch (wait) {
		case WAIT_OBJECT_0:
			if (pending &&
			    !GetOverlappedResult(waiting_pipe, &connect_ov,
						 &bytes, FALSE)) {
				fail("ConnectNamedPipe", GetLastError());
				return 1;
			}
			inst = calloc(1, sizeof(*inst));
			if (inst == NULL) {
				fail("calloc", ERROR_NOT_ENOUGH_MEMORY);
				return 1;
			}
			inst->pipe = waiting_pipe;
			live++;
			connections++;
			/* Start the chain with the routine that reads. */
			inst->to_write = 0;
			write_done(ERROR_SUCCESS, 0, &inst->ov);
			if (!create_and_connect(&connect_ov, &pending))
				return 1;
			break;
		case WAIT_IO_COMPLETION:
			break;
		default:
			fail("WaitForSingleObjectEx", GetLastError());
			return 1;
		}
	}

	stop_waiting(&connect_ov, pending);
	if (!CloseHandle(connect_event))
		fail("CloseHandle", GetLastError());
	printf("npipe-server-routines: %lu requests on %lu connections\n",
	       (unsigned long)requests, (unsigned long)connections);
	return failures == 0 ? 0 : 1;
}
