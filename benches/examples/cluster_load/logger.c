/* A container that logs at a fixed rate, for the real-cluster load run (main.rs).
 *
 *     logger RATE BYTES
 *
 * Writes RATE lines a second to stdout, each about BYTES long and numbered from 1:
 * "<HOSTNAME> <n> xxxx...\n". Lines go out in bursts every 10 ms (below 100 lines a second,
 * one line every 1/RATE s: a thousand idle loggers must not wake a hundred times a second),
 * one write(2) per burst, on an absolute schedule, so the rate holds however long a burst
 * takes. Static, no libc stdio. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long rate = argc > 1 ? atol(argv[1]) : 100;
    long bytes = argc > 2 ? atol(argv[2]) : 150;
    const char *host = getenv("HOSTNAME");
    if (!host) host = "logger";
    if (rate < 1) rate = 1;
    if (bytes < 64) bytes = 64;
    if (bytes > 4000) bytes = 4000;
    static char buf[1 << 20];
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    unsigned long long n = 0;
    /* Ticks per second: 100, or RATE when that is fewer. */
    long ticks = rate < 100 ? rate : 100;
    long tick_ns = 1000000000L / ticks;
    for (unsigned long long tick = 1;; tick++) {
        /* Lines due by this tick: rate * tick / ticks, so the rate has no rounding drift. */
        unsigned long long due = (unsigned long long)rate * tick / (unsigned long long)ticks;
        size_t len = 0;
        while (n < due && len + bytes + 64 < sizeof buf) {
            n++;
            char num[24];
            int digits = 0;
            for (unsigned long long v = n; v; v /= 10) num[digits++] = '0' + v % 10;
            size_t start = len;
            size_t hl = strlen(host);
            memcpy(buf + len, host, hl);
            len += hl;
            buf[len++] = ' ';
            while (digits) buf[len++] = num[--digits];
            buf[len++] = ' ';
            while (len - start < (size_t)bytes - 1) buf[len++] = 'x';
            buf[len++] = '\n';
        }
        for (size_t off = 0; off < len;) {
            ssize_t w = write(1, buf + off, len - off);
            if (w <= 0) return 1;
            off += (size_t)w;
        }
        next.tv_nsec += tick_ns;
        while (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
}
