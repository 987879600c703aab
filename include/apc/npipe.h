/*
 * apcrt: named pipes.
 *
 * Contract: ../shared/spec/win32-apc-contract.md section N (N3-N7), with
 * the I/O routes of sections E and F: a named-pipe handle is an I/O
 * handle (<apc/io.h>) that takes apc_read / apc_write (events, ports,
 * polling), apc_read_ex / apc_write_ex (completion routines) and the
 * cancellation calls, and can be bound to a completion port.
 *
 * Names are UTF-8 and must be in the local pipe namespace,
 * "\\\\.\\pipe\\NAME" (as a C string literal), else
 * APC_ERROR_INVALID_NAME.  On POSIX a name maps to a Unix-domain stream
 * socket that only the creating user can reach, and every write is one
 * length-prefixed frame on it (README: where the sockets live, limits,
 * differences).  PIPE_NOWAIT is not offered (APC_ERROR_NOT_SUPPORTED on
 * both backends): Microsoft keeps it for LAN Manager only.
 */
#ifndef APC_NPIPE_H
#define APC_NPIPE_H

#include <stdbool.h>

#include "defs.h"
#include "io.h"
#include "status.h"

APC_BEGIN_DECLS

/* Open modes (CreateNamedPipe's dwOpenMode); APC_FILE_FLAG_OVERLAPPED
 * (<apc/io.h>) may be added. */
#define APC_PIPE_ACCESS_INBOUND 0x00000001u
#define APC_PIPE_ACCESS_OUTBOUND 0x00000002u
#define APC_PIPE_ACCESS_DUPLEX 0x00000003u
#define APC_FILE_FLAG_FIRST_PIPE_INSTANCE 0x00080000u

/* Pipe modes (dwPipeMode). */
#define APC_PIPE_TYPE_BYTE 0x00000000u
#define APC_PIPE_TYPE_MESSAGE 0x00000004u
#define APC_PIPE_READMODE_BYTE 0x00000000u
#define APC_PIPE_READMODE_MESSAGE 0x00000002u
#define APC_PIPE_WAIT 0x00000000u
#define APC_PIPE_NOWAIT 0x00000001u

#define APC_PIPE_UNLIMITED_INSTANCES 255u

/* WaitNamedPipe time-outs. */
#define APC_NMPWAIT_USE_DEFAULT_WAIT 0x00000000u
#define APC_NMPWAIT_WAIT_FOREVER 0xFFFFFFFFu

/*
 * apc_npipe_create - one server instance (CreateNamedPipe, N3)
 *
 * max_instances is 1..255 (APC_PIPE_UNLIMITED_INSTANCES); the first
 * instance of a name sets it and the type, later ones must agree.  The
 * buffer sizes are hints; default_ms is what apc_npipe_wait uses for
 * APC_NMPWAIT_USE_DEFAULT_WAIT.  Returns 0, APC_ERROR_INVALID_NAME,
 * APC_ERROR_INVALID_PARAMETER, APC_ERROR_PIPE_BUSY (all instances of the
 * name exist), APC_ERROR_ACCESS_DENIED (FIRST_PIPE_INSTANCE and the name
 * exists, or the name belongs to another user), or a resource error.
 */
APC_API uint32_t apc_npipe_create(const char *name, uint32_t open_mode,
				  uint32_t pipe_mode, uint32_t max_instances,
				  uint32_t out_size, uint32_t in_size,
				  uint32_t default_ms, apc_handle *out);

/*
 * apc_npipe_connect - ConnectNamedPipe (N4)
 *
 * Waits for a client on a server instance.  With ov on an overlapped
 * instance: APC_ERROR_IO_PENDING, then completion through ov (event,
 * port, polling); APC_ERROR_PIPE_CONNECTED when a client connected before
 * the call (success); APC_ERROR_NO_DATA when the earlier client has gone
 * without a disconnect.  Without ov the call blocks and returns 0.
 */
APC_API uint32_t apc_npipe_connect(apc_handle server, apc_overlapped *ov);

/*
 * apc_npipe_disconnect - DisconnectNamedPipe: drop the client (its
 * pending operations fail) and make the instance connectable again.
 */
APC_API uint32_t apc_npipe_disconnect(apc_handle server);

/*
 * apc_npipe_open - a client's CreateFile on a pipe name (N5)
 *
 * access: APC_GENERIC_READ and/or APC_GENERIC_WRITE; flags:
 * APC_FILE_FLAG_OVERLAPPED.  Returns 0, APC_ERROR_FILE_NOT_FOUND (no
 * instance of that name), APC_ERROR_PIPE_BUSY (every instance connected),
 * APC_ERROR_INVALID_NAME, or a resource error.  The handle reads in byte
 * mode until apc_npipe_set_mode.
 */
APC_API uint32_t apc_npipe_open(const char *name, uint32_t access,
				uint32_t flags, apc_handle *out);

/*
 * apc_npipe_wait - WaitNamedPipe (N5): 0 when an instance of name is free
 * to connect to, APC_ERROR_SEM_TIMEOUT when ms passed first,
 * APC_ERROR_FILE_NOT_FOUND when no instance exists.
 */
APC_API uint32_t apc_npipe_wait(const char *name, uint32_t ms);

/*
 * apc_npipe_peek - PeekNamedPipe without data: the bytes waiting to be
 * read (*available) and, in message mode, the bytes left in the message
 * at the head (*message_left).  Either may be NULL.
 */
APC_API uint32_t apc_npipe_peek(apc_handle h, uint32_t *available,
				uint32_t *message_left);

/*
 * apc_npipe_set_mode - SetNamedPipeHandleState's read mode:
 * APC_PIPE_READMODE_BYTE or APC_PIPE_READMODE_MESSAGE (a message-type
 * pipe only, else APC_ERROR_INVALID_PARAMETER).
 */
APC_API uint32_t apc_npipe_set_mode(apc_handle h, uint32_t read_mode);

APC_END_DECLS

#endif /* APC_NPIPE_H */
