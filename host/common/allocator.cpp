#include "common/allocator.hpp"

#include <climits>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace distill::common {

void keep_freed_memory_for_reuse() {
#if defined(__GLIBC__)
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);  // never trim the heap (the largest value it takes)
#endif
}

}  // namespace distill::common
