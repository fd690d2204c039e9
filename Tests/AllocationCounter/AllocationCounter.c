#include "AllocationCounter.h"
#include <stddef.h>

/* Under a sanitizer (scripts/sanitize) the sanitizer owns malloc: replacing it here with
 * glibc's would hand the sanitizer memory it never allocated (the test binary segfaults at
 * start). The counter then reports itself unavailable and the counting tests skip. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define ECMO_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ECMO_SANITIZED 1
#endif

#if defined(__linux__) && defined(__GLIBC__) && !defined(ECMO_SANITIZED)
#include <errno.h>
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

#include <execinfo.h>
#include <stdlib.h>
#include <unistd.h>
static __thread int counting = 0;
static __thread uint64_t count = 0;
static __thread int in_trace = 0;
/// With ECMO_ALLOC_BACKTRACE set, each counted allocation prints a backtrace to stderr
/// (to find where a hot path allocates).
static void note(void) {
    count++;
    if (in_trace || getenv("ECMO_ALLOC_BACKTRACE") == NULL) return;
    in_trace = 1;
    void *frames[24];
    int n = backtrace(frames, 24);
    backtrace_symbols_fd(frames, n, 2);
    write(2, "----\n", 5);
    in_trace = 0;
}

bool ecmo_alloc_counter_available(void) { return true; }
void ecmo_alloc_counter_start(void) { count = 0; counting = 1; }
uint64_t ecmo_alloc_counter_stop(void) { counting = 0; return count; }

void *malloc(size_t n) { if (counting) note(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { if (counting) note(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { if (counting) note(); return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
void *memalign(size_t al, size_t n) { if (counting) note(); return __libc_memalign(al, n); }
void *aligned_alloc(size_t al, size_t n) { if (counting) note(); return __libc_memalign(al, n); }
int posix_memalign(void **out, size_t al, size_t n) {
    if (counting) note();
    void *p = __libc_memalign(al, n);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}

#else
bool ecmo_alloc_counter_available(void) { return false; }
void ecmo_alloc_counter_start(void) {}
uint64_t ecmo_alloc_counter_stop(void) { return 0; }
#endif
