#ifndef WIC_CHIREDIS_SHIM_H
#define WIC_CHIREDIS_SHIM_H
// Only the blocking API is used, and only binary-safe redisAppendCommandArgv
// with redisGetReply (never the printf-style, variadic redisCommand).
#include <hiredis/hiredis.h>
#endif
