#include "ARCCounter.h"
#include <stddef.h>

#if defined(__linux__)
/* ARC traffic. The runtime's own instrumentation hooks (_swift_retain & co. behind the
 * "swizzling" flag) mishandle tagged pointers in Swift 6.3 on Linux (the adapter masks
 * the pointer before calling the hook and crashes on a tagged value), so instead this
 * library defines the entry points themselves in the test executable: calls bind to
 * these, which count and forward to libswiftCore's (RTLD_NEXT). swift_retain and
 * swift_release use the C calling convention on Linux (objdump: they clobber rsi/rdx/rcx).
 * Counted per thread while started, like allocations. */
#include <dlfcn.h>
#include <stdint.h>
typedef void *(*ecmo_retain_fn)(void *);
typedef void (*ecmo_release_fn)(void *);
typedef void *(*ecmo_retain_n_fn)(void *, uint32_t);
typedef void (*ecmo_release_n_fn)(void *, uint32_t);
static ecmo_retain_fn real_retain, real_bridge_retain;
static ecmo_release_fn real_release, real_bridge_release;
static ecmo_retain_n_fn real_retain_n, real_bridge_retain_n;
static ecmo_release_n_fn real_release_n, real_bridge_release_n;
static __thread int arc_counting = 0;
static __thread uint64_t retains = 0;
static __thread uint64_t releases = 0;

__attribute__((constructor)) static void resolve_arc_entry_points(void) {
    if (real_bridge_release_n != NULL) return;
    real_retain = (ecmo_retain_fn)dlsym(RTLD_NEXT, "swift_retain");
    real_release = (ecmo_release_fn)dlsym(RTLD_NEXT, "swift_release");
    real_retain_n = (ecmo_retain_n_fn)dlsym(RTLD_NEXT, "swift_retain_n");
    real_release_n = (ecmo_release_n_fn)dlsym(RTLD_NEXT, "swift_release_n");
    real_bridge_retain = (ecmo_retain_fn)dlsym(RTLD_NEXT, "swift_bridgeObjectRetain");
    real_bridge_release = (ecmo_release_fn)dlsym(RTLD_NEXT, "swift_bridgeObjectRelease");
    real_bridge_retain_n = (ecmo_retain_n_fn)dlsym(RTLD_NEXT, "swift_bridgeObjectRetain_n");
    real_bridge_release_n = (ecmo_release_n_fn)dlsym(RTLD_NEXT, "swift_bridgeObjectRelease_n");
}

/* Like the runtime's fast path, null and negative (tagged) values are no-ops, not counted. */
#include <execinfo.h>
#include <stdlib.h>
#include <unistd.h>
static __thread int in_trace = 0;
/* With ECMO_ARC_BACKTRACE set, each counted retain prints a backtrace to stderr (to find
 * which code in a hot path retains). */
static void trace_retain(void) {
    if (in_trace || getenv("ECMO_ARC_BACKTRACE") == NULL) return;
    in_trace = 1;
    void *frames[6];
    int n = backtrace(frames, 6);
    backtrace_symbols_fd(frames, n, 2);
    write(2, "----\n", 5);
    in_trace = 0;
}
#define ECMO_REAL(o) ((intptr_t)(o) > 0)
/* Libraries' initialisers (Foundation's) retain before this library's constructor runs. */
#define ECMO_RESOLVED(p) (__builtin_expect((p) != NULL, 1) ? (p) : (resolve_arc_entry_points(), (p)))
void *swift_retain(void *o) { if (arc_counting && ECMO_REAL(o)) { retains++; trace_retain(); } return ECMO_RESOLVED(real_retain)(o); }
void swift_release(void *o) { if (arc_counting && ECMO_REAL(o)) releases++; ECMO_RESOLVED(real_release)(o); }
void *swift_retain_n(void *o, uint32_t n) { if (arc_counting && ECMO_REAL(o)) retains += n; return ECMO_RESOLVED(real_retain_n)(o, n); }
void swift_release_n(void *o, uint32_t n) { if (arc_counting && ECMO_REAL(o)) releases += n; ECMO_RESOLVED(real_release_n)(o, n); }
/* Bridge objects (arrays, strings): every non-null call counts, tagged or not (stricter). */
void *swift_bridgeObjectRetain(void *o) { if (arc_counting && o) { retains++; trace_retain(); } return ECMO_RESOLVED(real_bridge_retain)(o); }
void swift_bridgeObjectRelease(void *o) { if (arc_counting && o) releases++; ECMO_RESOLVED(real_bridge_release)(o); }
void *swift_bridgeObjectRetain_n(void *o, uint32_t n) { if (arc_counting && o) retains += n; return ECMO_RESOLVED(real_bridge_retain_n)(o, n); }
void swift_bridgeObjectRelease_n(void *o, uint32_t n) { if (arc_counting && o) releases += n; ECMO_RESOLVED(real_bridge_release_n)(o, n); }

bool ecmo_arc_counter_available(void) {
    return real_retain != NULL && real_release != NULL && real_retain_n != NULL && real_release_n != NULL
        && real_bridge_retain != NULL && real_bridge_release != NULL
        && real_bridge_retain_n != NULL && real_bridge_release_n != NULL;
}

void ecmo_arc_counter_start(void) {
    retains = 0;
    releases = 0;
    arc_counting = 1;
}

uint64_t ecmo_arc_counter_stop(uint64_t *released) {
    arc_counting = 0;
    if (released) *released = releases;
    return retains;
}
#else
bool ecmo_arc_counter_available(void) { return false; }
void ecmo_arc_counter_start(void) {}
uint64_t ecmo_arc_counter_stop(uint64_t *released) { if (released) *released = 0; return 0; }
#endif
