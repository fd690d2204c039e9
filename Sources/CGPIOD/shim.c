// The GPIO shim: ecmo_gpiod.h implemented on libgpiod v1 or v2, whichever <gpiod.h> is
// present. v1 headers (1.x) define GPIOD_LINE_BULK_MAX_LINES; v2 headers do not (the bulk
// API is gone). GPIOD_API is no good as a test: v1 defines it too.
#define _GNU_SOURCE
#include "ecmo_gpiod.h"

#include <gpiod.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef GPIOD_LINE_BULK_MAX_LINES
#define ECMO_GPIOD_V1 1
#else
#define ECMO_GPIOD_V2 1
#include <dirent.h>
#include <stdio.h>
#endif

#define ECMO_EDGE_CHUNK 16

static int err_or(int fallback) { return errno > 0 ? -errno : -fallback; }

#ifdef ECMO_GPIOD_V1
// ---------------------------------------------------------------- libgpiod v1 (1.6)
struct ecmo_gpio_line {
    struct gpiod_chip *chip;   // v1: closing the chip releases its lines, so it stays open
    struct gpiod_line *line;
    int edges;
    // Event clock correction. The v1 uAPI stamped events with CLOCK_REALTIME before Linux
    // 5.7 and with CLOCK_MONOTONIC since; libgpiod 1.6 passes them on as they come. A
    // stamp nearer to the real-time clock than to the monotonic one is moved onto the
    // monotonic clock (decided per event, cheap: two clock reads per read call).
};

int ecmo_gpiod_api_version(void) { return 1; }
const char *ecmo_gpiod_version(void) { return gpiod_version_string(); }

static int v1_flags(int active_low, int bias, int drive) {
    int flags = 0;
    if (active_low) flags |= GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW;
    switch (bias) {
    case ECMO_GPIO_BIAS_DISABLED: flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE; break;
    case ECMO_GPIO_BIAS_PULL_UP: flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP; break;
    case ECMO_GPIO_BIAS_PULL_DOWN: flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN; break;
    default: break;
    }
    if (drive == ECMO_GPIO_DRIVE_OPEN_DRAIN) flags |= GPIOD_LINE_REQUEST_FLAG_OPEN_DRAIN;
    if (drive == ECMO_GPIO_DRIVE_OPEN_SOURCE) flags |= GPIOD_LINE_REQUEST_FLAG_OPEN_SOURCE;
    return flags;
}

static ecmo_gpio_line *v1_request(const char *label, unsigned int offset, const char *consumer, int type,
                                  int flags, int value, int edges, int *error) {
    ecmo_gpio_line *h = calloc(1, sizeof *h);
    if (!h) { *error = -ENOMEM; return NULL; }
    errno = 0;
    h->chip = gpiod_chip_open_by_label(label);
    if (!h->chip) { *error = err_or(ENOENT); free(h); return NULL; }
    if (offset >= gpiod_chip_num_lines(h->chip)) { *error = -EINVAL; gpiod_chip_close(h->chip); free(h); return NULL; }
    h->line = gpiod_chip_get_line(h->chip, offset);
    if (!h->line) { *error = err_or(EINVAL); gpiod_chip_close(h->chip); free(h); return NULL; }
    struct gpiod_line_request_config cfg = { .consumer = consumer, .request_type = type, .flags = flags };
    if (gpiod_line_request(h->line, &cfg, value) < 0) {
        *error = err_or(EIO);
        gpiod_chip_close(h->chip);
        free(h);
        return NULL;
    }
    h->edges = edges;
    *error = 0;
    return h;
}

ecmo_gpio_line *ecmo_gpio_request_output(const char *label, unsigned int offset, const char *consumer,
                                         int active_low, int bias, int drive, int value, int *error) {
    return v1_request(label, offset, consumer, GPIOD_LINE_REQUEST_DIRECTION_OUTPUT,
                      v1_flags(active_low, bias, drive), value ? 1 : 0, 0, error);
}

ecmo_gpio_line *ecmo_gpio_request_input(const char *label, unsigned int offset, const char *consumer,
                                        int active_low, int bias, int edge, unsigned int debounce_us, int *error) {
    (void)debounce_us; // the v1 uAPI has no debounce: LinuxInputLine debounces in software
                       // (ecmo_gpio_kernel_debounce_us says 0)
    int type = GPIOD_LINE_REQUEST_DIRECTION_INPUT;
    switch (edge) {
    case ECMO_GPIO_EDGE_RISING: type = GPIOD_LINE_REQUEST_EVENT_RISING_EDGE; break;
    case ECMO_GPIO_EDGE_FALLING: type = GPIOD_LINE_REQUEST_EVENT_FALLING_EDGE; break;
    case ECMO_GPIO_EDGE_BOTH: type = GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES; break;
    default: break;
    }
    return v1_request(label, offset, consumer, type, v1_flags(active_low, bias, ECMO_GPIO_DRIVE_PUSH_PULL), 0,
                      edge != ECMO_GPIO_EDGE_NONE, error);
}

unsigned int ecmo_gpio_kernel_debounce_us(ecmo_gpio_line *h) { (void)h; return 0; }

int ecmo_gpio_set(ecmo_gpio_line *h, int value) {
    errno = 0;
    return gpiod_line_set_value(h->line, value ? 1 : 0) < 0 ? err_or(EIO) : 0;
}

int ecmo_gpio_get(ecmo_gpio_line *h) {
    errno = 0;
    int v = gpiod_line_get_value(h->line);
    return v < 0 ? err_or(EIO) : (v ? 1 : 0);
}

static uint64_t ts_ns(const struct timespec *ts) { return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec; }

int ecmo_gpio_read_edges(ecmo_gpio_line *h, uint64_t *timestamps, uint8_t *kinds, int max) {
    if (!h->edges || max <= 0) return 0;
    struct gpiod_line_event events[ECMO_EDGE_CHUNK];
    int total = 0;
    struct timespec mono, real;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    uint64_t m = ts_ns(&mono), r = ts_ns(&real);
    while (total < max) {
        const struct timespec zero = {0, 0};
        errno = 0;
        int ready = gpiod_line_event_wait(h->line, &zero);   // poll(): never blocks
        if (ready < 0) return total > 0 ? total : err_or(EIO);
        if (ready == 0) break;
        int want = max - total < ECMO_EDGE_CHUNK ? max - total : ECMO_EDGE_CHUNK;
        int n = gpiod_line_event_read_multiple(h->line, events, (unsigned int)want);
        if (n < 0) return total > 0 ? total : err_or(EIO);
        for (int i = 0; i < n; i++) {
            uint64_t t = ts_ns(&events[i].ts);
            uint64_t dm = t > m ? t - m : m - t, dr = t > r ? t - r : r - t;
            if (dr < dm && r > m) t -= (r - m);           // a pre-5.7 kernel: REALTIME stamp
            timestamps[total] = t;
            kinds[total] = events[i].event_type == GPIOD_LINE_EVENT_RISING_EDGE ? ECMO_GPIO_EDGE_KIND_RISING
                                                                                 : ECMO_GPIO_EDGE_KIND_FALLING;
            total++;
        }
        if (n < want) break;
    }
    return total;
}

void ecmo_gpio_release(ecmo_gpio_line *h) {
    if (!h) return;
    gpiod_line_release(h->line);
    gpiod_chip_close(h->chip);
    free(h);
}

int ecmo_gpio_chip_lines(const char *label) {
    errno = 0;
    struct gpiod_chip *chip = gpiod_chip_open_by_label(label);
    if (!chip) return err_or(ENOENT);
    int n = (int)gpiod_chip_num_lines(chip);
    gpiod_chip_close(chip);
    return n;
}

#else
// ---------------------------------------------------------------- libgpiod v2 (2.x)
struct ecmo_gpio_line {
    struct gpiod_line_request *request;   // v2: the request holds its own fd; the chip is closed
    struct gpiod_edge_event_buffer *events; // preallocated at request time (hot path allocates nothing)
    unsigned int offset;
    unsigned int debounce_us;               // what the kernel applies (0: none)
};

int ecmo_gpiod_api_version(void) { return 2; }
const char *ecmo_gpiod_version(void) { return gpiod_api_version(); }

/// Opens the chip whose label is `label`: v2 has no open-by-label, so scan /dev/gpiochip*.
static struct gpiod_chip *v2_open_by_label(const char *label, int *error) {
    DIR *dir = opendir("/dev");
    if (!dir) { *error = err_or(ENOENT); return NULL; }
    struct dirent *e;
    int denied = 0;
    while ((e = readdir(dir)) != NULL) {
        if (strncmp(e->d_name, "gpiochip", 8) != 0) continue;
        char path[300];
        snprintf(path, sizeof path, "/dev/%s", e->d_name);
        errno = 0;
        struct gpiod_chip *chip = gpiod_chip_open(path);
        if (!chip) { if (errno == EACCES || errno == EPERM) denied = 1; continue; }
        struct gpiod_chip_info *info = gpiod_chip_get_info(chip);
        int match = info && strcmp(gpiod_chip_info_get_label(info), label) == 0;
        if (info) gpiod_chip_info_free(info);
        if (match) { closedir(dir); return chip; }
        gpiod_chip_close(chip);
    }
    closedir(dir);
    *error = denied ? -EACCES : -ENOENT;
    return NULL;
}

static ecmo_gpio_line *v2_request(const char *label, unsigned int offset, const char *consumer,
                                  struct gpiod_line_settings *settings, int with_events, int *error) {
    ecmo_gpio_line *h = NULL;
    struct gpiod_line_config *lcfg = NULL;
    struct gpiod_request_config *rcfg = NULL;
    struct gpiod_chip *chip = v2_open_by_label(label, error);
    if (!chip) goto out;
    struct gpiod_chip_info *info = gpiod_chip_get_info(chip);
    size_t lines = info ? gpiod_chip_info_get_num_lines(info) : 0;
    if (info) gpiod_chip_info_free(info);
    if (offset >= lines) { *error = -EINVAL; goto out; }
    lcfg = gpiod_line_config_new();
    rcfg = gpiod_request_config_new();
    h = calloc(1, sizeof *h);
    if (!lcfg || !rcfg || !h) { *error = -ENOMEM; goto fail; }
    errno = 0;
    if (gpiod_line_config_add_line_settings(lcfg, &offset, 1, settings) < 0) { *error = err_or(EINVAL); goto fail; }
    gpiod_request_config_set_consumer(rcfg, consumer);
    if (with_events) {
        h->events = gpiod_edge_event_buffer_new(ECMO_EDGE_CHUNK);
        if (!h->events) { *error = -ENOMEM; goto fail; }
    }
    errno = 0;
    h->request = gpiod_chip_request_lines(chip, rcfg, lcfg);
    if (!h->request) { *error = err_or(EIO); goto fail; }
    h->offset = offset;
    *error = 0;
    goto out;
fail:
    if (h && h->events) gpiod_edge_event_buffer_free(h->events);
    free(h);
    h = NULL;
out:
    if (lcfg) gpiod_line_config_free(lcfg);
    if (rcfg) gpiod_request_config_free(rcfg);
    if (chip) gpiod_chip_close(chip);
    return h;
}

static int v2_settings(struct gpiod_line_settings *s, int active_low, int bias) {
    gpiod_line_settings_set_active_low(s, active_low != 0);
    enum gpiod_line_bias b = GPIOD_LINE_BIAS_AS_IS;
    switch (bias) {
    case ECMO_GPIO_BIAS_DISABLED: b = GPIOD_LINE_BIAS_DISABLED; break;
    case ECMO_GPIO_BIAS_PULL_UP: b = GPIOD_LINE_BIAS_PULL_UP; break;
    case ECMO_GPIO_BIAS_PULL_DOWN: b = GPIOD_LINE_BIAS_PULL_DOWN; break;
    default: break;
    }
    return gpiod_line_settings_set_bias(s, b);
}

ecmo_gpio_line *ecmo_gpio_request_output(const char *label, unsigned int offset, const char *consumer,
                                         int active_low, int bias, int drive, int value, int *error) {
    struct gpiod_line_settings *s = gpiod_line_settings_new();
    if (!s) { *error = -ENOMEM; return NULL; }
    enum gpiod_line_drive d = drive == ECMO_GPIO_DRIVE_OPEN_DRAIN ? GPIOD_LINE_DRIVE_OPEN_DRAIN
                            : drive == ECMO_GPIO_DRIVE_OPEN_SOURCE ? GPIOD_LINE_DRIVE_OPEN_SOURCE
                            : GPIOD_LINE_DRIVE_PUSH_PULL;
    ecmo_gpio_line *h = NULL;
    errno = 0;
    if (gpiod_line_settings_set_direction(s, GPIOD_LINE_DIRECTION_OUTPUT) < 0 || v2_settings(s, active_low, bias) < 0 ||
        gpiod_line_settings_set_drive(s, d) < 0 ||
        gpiod_line_settings_set_output_value(s, value ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE) < 0) {
        *error = err_or(EINVAL);
    } else {
        h = v2_request(label, offset, consumer, s, 0, error);
    }
    gpiod_line_settings_free(s);
    return h;
}

ecmo_gpio_line *ecmo_gpio_request_input(const char *label, unsigned int offset, const char *consumer,
                                        int active_low, int bias, int edge, unsigned int debounce_us, int *error) {
    struct gpiod_line_settings *s = gpiod_line_settings_new();
    if (!s) { *error = -ENOMEM; return NULL; }
    enum gpiod_line_edge e = edge == ECMO_GPIO_EDGE_RISING ? GPIOD_LINE_EDGE_RISING
                           : edge == ECMO_GPIO_EDGE_FALLING ? GPIOD_LINE_EDGE_FALLING
                           : edge == ECMO_GPIO_EDGE_BOTH ? GPIOD_LINE_EDGE_BOTH : GPIOD_LINE_EDGE_NONE;
    ecmo_gpio_line *h = NULL;
    errno = 0;
    if (gpiod_line_settings_set_direction(s, GPIOD_LINE_DIRECTION_INPUT) < 0 || v2_settings(s, active_low, bias) < 0 ||
        gpiod_line_settings_set_edge_detection(s, e) < 0 ||
        // Explicitly the loop's clock (MONOTONIC is the v2 default; say it anyway).
        gpiod_line_settings_set_event_clock(s, GPIOD_LINE_CLOCK_MONOTONIC) < 0) {
        *error = err_or(EINVAL);
    } else {
        gpiod_line_settings_set_debounce_period_us(s, debounce_us);
        h = v2_request(label, offset, consumer, s, edge != ECMO_GPIO_EDGE_NONE, error);
        // A line the driver cannot debounce and the kernel cannot either (no IRQ for its
        // own software debounce) refuses the request: ask again without, and say so.
        if (!h && debounce_us > 0 && (*error == -ENXIO || *error == -ENOTSUP || *error == -EINVAL)) {
            gpiod_line_settings_set_debounce_period_us(s, 0);
            h = v2_request(label, offset, consumer, s, edge != ECMO_GPIO_EDGE_NONE, error);
            if (h) h->debounce_us = 0;
        } else if (h) {
            h->debounce_us = debounce_us;
        }
    }
    gpiod_line_settings_free(s);
    return h;
}

unsigned int ecmo_gpio_kernel_debounce_us(ecmo_gpio_line *h) { return h ? h->debounce_us : 0; }

int ecmo_gpio_set(ecmo_gpio_line *h, int value) {
    errno = 0;
    return gpiod_line_request_set_value(h->request, h->offset,
                                        value ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE) < 0 ? err_or(EIO) : 0;
}

int ecmo_gpio_get(ecmo_gpio_line *h) {
    errno = 0;
    enum gpiod_line_value v = gpiod_line_request_get_value(h->request, h->offset);
    if (v == GPIOD_LINE_VALUE_ERROR) return err_or(EIO);
    return v == GPIOD_LINE_VALUE_ACTIVE ? 1 : 0;
}

int ecmo_gpio_read_edges(ecmo_gpio_line *h, uint64_t *timestamps, uint8_t *kinds, int max) {
    if (!h->events || max <= 0) return 0;
    int total = 0;
    while (total < max) {
        errno = 0;
        int ready = gpiod_line_request_wait_edge_events(h->request, 0);   // never blocks
        if (ready < 0) return total > 0 ? total : err_or(EIO);
        if (ready == 0) break;
        size_t want = (size_t)(max - total < ECMO_EDGE_CHUNK ? max - total : ECMO_EDGE_CHUNK);
        int n = gpiod_line_request_read_edge_events(h->request, h->events, want);
        if (n < 0) return total > 0 ? total : err_or(EIO);
        for (int i = 0; i < n; i++) {
            struct gpiod_edge_event *ev = gpiod_edge_event_buffer_get_event(h->events, (unsigned long)i);
            timestamps[total] = gpiod_edge_event_get_timestamp_ns(ev);
            kinds[total] = gpiod_edge_event_get_event_type(ev) == GPIOD_EDGE_EVENT_RISING_EDGE
                               ? ECMO_GPIO_EDGE_KIND_RISING : ECMO_GPIO_EDGE_KIND_FALLING;
            total++;
        }
        if ((size_t)n < want) break;
    }
    return total;
}

void ecmo_gpio_release(ecmo_gpio_line *h) {
    if (!h) return;
    if (h->request) gpiod_line_request_release(h->request);
    if (h->events) gpiod_edge_event_buffer_free(h->events);
    free(h);
}

int ecmo_gpio_chip_lines(const char *label) {
    int error = 0;
    struct gpiod_chip *chip = v2_open_by_label(label, &error);
    if (!chip) return error;
    struct gpiod_chip_info *info = gpiod_chip_get_info(chip);
    int n = info ? (int)gpiod_chip_info_get_num_lines(info) : -EIO;
    if (info) gpiod_chip_info_free(info);
    gpiod_chip_close(chip);
    return n;
}
#endif
