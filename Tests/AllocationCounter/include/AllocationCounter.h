#ifndef ALLOCATION_COUNTER_H
#define ALLOCATION_COUNTER_H
#include <stdint.h>
#include <stdbool.h>

/// Counts heap allocations made by the calling thread between start and stop.
/// On Linux (glibc) this test-only library defines malloc and friends in the test
/// executable, forwarding to glibc's __libc_* entry points, so every allocation in
/// the process (Swift runtime included) passes through it. Elsewhere it is unavailable.
bool ecmo_alloc_counter_available(void);
void ecmo_alloc_counter_start(void);
/// Returns the number of allocation calls (malloc, calloc, realloc, memalign,
/// posix_memalign, aligned_alloc) made by this thread since start.
uint64_t ecmo_alloc_counter_stop(void);

#endif
