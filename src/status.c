/*
 * Names and messages of the status values, generated from APC_STATUS_MAP.
 */
#include <apc/status.h>

const char *apc_status_name(uint32_t status)
{
	switch (status) {
#define APC__STATUS_NAME(name, msg)                                            \
	case APC_##name:                                                       \
		return #name;
		APC_STATUS_MAP(APC__STATUS_NAME)
#undef APC__STATUS_NAME
	}
	return "UNKNOWN";
}

const char *apc_status_message(uint32_t status)
{
	switch (status) {
#define APC__STATUS_MSG(name, msg)                                             \
	case APC_##name:                                                       \
		return msg;
		APC_STATUS_MAP(APC__STATUS_MSG)
#undef APC__STATUS_MSG
	}
	return "unknown status";
}
