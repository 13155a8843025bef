/* A wall clock that tests can step: LD_PRELOADed into a private redis-server, it adds the
 * offset (ms, a little-endian int64) held in the file named by LOBBYSIM_CLOCK_OFFSET_FILE
 * to CLOCK_REALTIME, gettimeofday and time. The file is mapped, so a test steps the clock
 * by writing it; the monotonic clock is left alone, as an NTP step leaves it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile const int64_t *offset_ms;
static int (*real_clock_gettime)(clockid_t, struct timespec *);

static int64_t offset(void) {
    if (!offset_ms) {
        const char *path = getenv("LOBBYSIM_CLOCK_OFFSET_FILE");
        int fd = path ? open(path, O_RDONLY) : -1;
        if (fd < 0) return 0;
        void *mapped = mmap(NULL, sizeof(int64_t), PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        if (mapped == MAP_FAILED) return 0;
        offset_ms = mapped;
    }
    return *offset_ms;
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
    if (!real_clock_gettime) real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
    int rc = real_clock_gettime(clock, ts);
    if (rc == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE)) {
        int64_t ns = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec + offset() * 1000000;
        ts->tv_sec = ns / 1000000000;
        ts->tv_nsec = ns % 1000000000;
    }
    return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
    (void)tz;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
    return 0;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}
