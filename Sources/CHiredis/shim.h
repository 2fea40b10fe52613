// hiredis (Debian libhiredis-dev), the Redis client library under RedisRegistry.
#include <hiredis/hiredis.h>
