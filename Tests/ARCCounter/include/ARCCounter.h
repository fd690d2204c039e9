#ifndef ARC_COUNTER_H
#define ARC_COUNTER_H
#include <stdint.h>
#include <stdbool.h>

/// Counts Swift ARC retains (and releases) made by the calling thread between start and
/// stop: this library defines swift_retain/swift_release (and the _n and bridge-object
/// variants) in the test executable, counting and forwarding to the runtime's.
bool ecmo_arc_counter_available(void);
void ecmo_arc_counter_start(void);
/// Returns the retains since start; `released` (may be NULL) receives the releases.
uint64_t ecmo_arc_counter_stop(uint64_t *released);
/// Linux only. Link it into a test or benchmark executable only: every retain and release
/// of the process then passes through it.
#endif
