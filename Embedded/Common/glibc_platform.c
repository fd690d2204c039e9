/* What the aarch64 Linux programs (ecmo-pi, the co-processor bench) ask of glibc beside
 * their main: reading a whole file, and the random bytes Embedded Swift seeds hashing from. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

/* The whole file in memory (free it with free/pi_free); NULL and errno on failure. */
uint8_t *pi_read_file(const char *path, long *length) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return NULL; }
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); return NULL; }
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) { int e = errno; free(b); fclose(f); errno = e ? e : EIO; return NULL; }
    fclose(f);
    *length = n;
    return b;
}

/* Embedded Swift seeds its hashing from here. */
void arc4random_buf(void *buffer, size_t n) {
    uint8_t *p = buffer;
    while (n > 0) { ssize_t r = getrandom(p, n, 0); if (r <= 0) return; p += r; n -= (size_t)r; }
}
