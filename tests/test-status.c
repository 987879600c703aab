/*
 * Status values: their Win32 numbers and apc_status_name/_message.
 *
 * Contract: 0.1 (constants; the numeric values are binding), I2 (the
 * portable API returns the Win32 codes).
 */
#include <criterion/criterion.h>

#include <string.h>

#include <apc/apc.h>

TestSuite(apc_status, .timeout = 10);

Test(apc_status, constants_are_the_win32_values)
{
	cr_assert_eq(APC_ERROR_SUCCESS, 0u);
	cr_assert_eq(APC_WAIT_OBJECT_0, 0x0u);
	cr_assert_eq(APC_WAIT_ABANDONED_0, 0x80u);
	cr_assert_eq(APC_WAIT_IO_COMPLETION, 0xC0u);
	cr_assert_eq(APC_WAIT_TIMEOUT, 0x102u);
	cr_assert_eq(APC_WAIT_FAILED, 0xFFFFFFFFu);
	cr_assert_eq(APC_STILL_ACTIVE, 0x103u);
	cr_assert_eq(APC_ERROR_INVALID_FUNCTION, 1u);
	cr_assert_eq(APC_ERROR_FILE_NOT_FOUND, 2u);
	cr_assert_eq(APC_ERROR_ACCESS_DENIED, 5u);
	cr_assert_eq(APC_ERROR_INVALID_HANDLE, 6u);
	cr_assert_eq(APC_ERROR_NOT_ENOUGH_MEMORY, 8u);
	cr_assert_eq(APC_ERROR_GEN_FAILURE, 31u);
	cr_assert_eq(APC_ERROR_NOT_SUPPORTED, 50u);
	cr_assert_eq(APC_ERROR_INVALID_PARAMETER, 87u);
	cr_assert_eq(APC_ERROR_TOO_MANY_OPEN_FILES, 4u);
	cr_assert_eq(APC_ERROR_HANDLE_EOF, 38u);
	cr_assert_eq(APC_ERROR_FILE_EXISTS, 80u);
	cr_assert_eq(APC_ERROR_BROKEN_PIPE, 109u);
	cr_assert_eq(APC_ERROR_DISK_FULL, 112u);
	cr_assert_eq(APC_ERROR_SEM_TIMEOUT, 121u);
	cr_assert_eq(APC_ERROR_INVALID_NAME, 123u);
	cr_assert_eq(APC_ERROR_ALREADY_EXISTS, 183u);
	cr_assert_eq(APC_ERROR_BAD_PIPE, 230u);
	cr_assert_eq(APC_ERROR_PIPE_BUSY, 231u);
	cr_assert_eq(APC_ERROR_NO_DATA, 232u);
	cr_assert_eq(APC_ERROR_PIPE_NOT_CONNECTED, 233u);
	cr_assert_eq(APC_ERROR_MORE_DATA, 234u);
	cr_assert_eq(APC_ERROR_NOT_OWNER, 288u);
	cr_assert_eq(APC_ERROR_TOO_MANY_POSTS, 298u);
	cr_assert_eq(APC_ERROR_PIPE_CONNECTED, 535u);
	cr_assert_eq(APC_ERROR_PIPE_LISTENING, 536u);
	cr_assert_eq(APC_ERROR_MUTANT_LIMIT_EXCEEDED, 587u);
	cr_assert_eq(APC_ERROR_ABANDONED_WAIT_0, 735u);
	cr_assert_eq(APC_ERROR_OPERATION_ABORTED, 995u);
	cr_assert_eq(APC_ERROR_IO_INCOMPLETE, 996u);
	cr_assert_eq(APC_ERROR_IO_PENDING, 997u);
	cr_assert_eq(APC_ERROR_NOACCESS, 998u);
	cr_assert_eq(APC_ERROR_NOT_FOUND, 1168u);
	cr_assert_eq(APC_ERROR_INVALID_USER_BUFFER, 1784u);
	cr_assert_eq(APC_INFINITE, 0xFFFFFFFFu);
	cr_assert_eq((intptr_t)APC_CURRENT_PROCESS, -1);
	cr_assert_eq((intptr_t)APC_CURRENT_THREAD, -2);
	cr_assert_eq(APC_THREAD_SUSPENDED, 0x4u);
	cr_assert_eq(APC_DUPLICATE_CLOSE_SOURCE, 0x1u);
	cr_assert_eq(APC_DUPLICATE_SAME_ACCESS, 0x2u);
	cr_assert_eq(sizeof(apc_handle), sizeof(void *));
}

Test(apc_status, names_and_messages_follow_the_map)
{
	unsigned int n = 0;

#define CHECK(name, message)                                                   \
	do {                                                                   \
		const char *nm = apc_status_name(APC_##name);                  \
		const char *msg = apc_status_message(APC_##name);              \
		cr_assert_not_null(nm);                                        \
		cr_assert_not_null(msg);                                       \
		/* 0 is both WAIT_OBJECT_0 and ERROR_SUCCESS. */               \
		cr_assert_eq(strcmp(nm, #name), 0, "%s is named %s", #name,    \
			     nm);                                              \
		cr_assert_eq(strcmp(msg, message), 0, "%s: \"%s\"", #name,     \
			     msg);                                             \
		n++;                                                           \
	} while (0);
	APC_STATUS_MAP(CHECK)
#undef CHECK
	cr_assert_eq(n, 39);
	cr_assert_eq(strcmp(apc_status_name(0), "WAIT_OBJECT_0"), 0);
}

Test(apc_status, unknown_values)
{
	static const uint32_t unknown[] = {
		3, 7, 9, 0x101, 0x104, 994, 999, 0xC0000008u, 0xFFFFFFFEu};
	unsigned int i;

	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		cr_assert_eq(strcmp(apc_status_name(unknown[i]), "UNKNOWN"), 0,
			     "%#x is named %s", unknown[i],
			     apc_status_name(unknown[i]));
		cr_assert_eq(strcmp(apc_status_message(unknown[i]),
				    "unknown status"),
			     0, "%#x: %s", unknown[i],
			     apc_status_message(unknown[i]));
	}
}
