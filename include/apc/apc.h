/*
 * apcrt: the umbrella header of the portable API.
 *
 * Include this one header; it pulls in every part of the API.  The Win32
 * names are in <apc/windows.h>, which includes this.
 */
#ifndef APC_APC_H
#define APC_APC_H

#include "defs.h"
#include "status.h"
#include "thread.h"
#include "sync.h"
#include "timer.h"
#include "io.h"
#include "port.h"
#include "npipe.h"

#endif /* APC_APC_H */
