#include "CMalloc.h"

#if defined(__linux__)
#include <malloc.h>
#endif

#if defined(__GLIBC__)
size_t cmalloc_free_bytes(void) {
#if __GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33)
    struct mallinfo2 info = mallinfo2();
    return info.fordblks;
#else
    struct mallinfo info = mallinfo();
    return (size_t)(unsigned)info.fordblks;
#endif
}

int cmalloc_trim(void) { return malloc_trim(0); }
#else
size_t cmalloc_free_bytes(void) { return 0; }
int cmalloc_trim(void) { return 0; }
#endif
