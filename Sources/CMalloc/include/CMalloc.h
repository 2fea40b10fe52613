// The C allocator's statistics and trim, for ProxyNet's HeapTrim: glibc keeps the memory a burst
// of connections freed inside its arenas, where it stays resident until malloc_trim gives the
// free pages back. Elsewhere both calls do nothing.
#ifndef CMALLOC_H
#define CMALLOC_H

#include <stddef.h>

/// Bytes the allocator holds free in all its arenas (glibc's mallinfo2 fordblks); 0 if unknown.
size_t cmalloc_free_bytes(void);
/// Returns free pages of every arena to the system (glibc's malloc_trim(0)); 1 if any were.
int cmalloc_trim(void);

#endif
