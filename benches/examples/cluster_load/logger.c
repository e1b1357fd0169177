/* A container that logs at a fixed rate, for the real-cluster load run (main.rs).
 *
 *     logger RATE BYTES
 *
 * Writes RATE lines a second to stdout, each about BYTES long and numbered from 1:
 * "<HOSTNAME> <n> xxxx...\n". Lines go out in bursts every 10 ms, one write(2) per burst, on
 * an absolute schedule, so the rate holds however long a burst takes. Static, no libc stdio. */
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
    for (unsigned long long tick = 1;; tick++) {
        /* Lines due by this tick: rate * tick / 100, so the rate has no rounding drift. */
        unsigned long long due = (unsigned long long)rate * tick / 100;
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
        next.tv_nsec += 10 * 1000 * 1000;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
}
