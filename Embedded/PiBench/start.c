/* glibc side of the aarch64 bench program: main, file reading, stdout, and what the
 * Embedded Swift runtime asks of its platform. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/random.h>

extern int32_t pi_main(int32_t argc, char **argv);

uint8_t *pi_read_file(const char *path, long *length) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return NULL; }
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); return NULL; }
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); fclose(f); return NULL; }
    fclose(f);
    *length = n;
    return b;
}

void pi_write(const void *bytes, long count) {
    const uint8_t *p = bytes;
    while (count > 0) {
        ssize_t w = write(1, p, (size_t)count);
        if (w <= 0) return;
        p += w; count -= w;
    }
}

/* Embedded Swift seeds its hashing from here. */
void arc4random_buf(void *buffer, size_t n) {
    uint8_t *p = buffer;
    while (n > 0) { ssize_t r = getrandom(p, n, 0); if (r <= 0) return; p += r; n -= (size_t)r; }
}

int main(int argc, char **argv) { return pi_main(argc, argv); }
