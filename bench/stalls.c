/* SPDX-License-Identifier: MIT */
/*
 * stalls.c: ahead-bench-stalls, how long this machine holds up a thread
 * that never blocks: the floor under any benchmark's maximum latency.
 *
 *   ahead-bench-stalls [SECONDS] [--threads N]
 *
 * N threads (default 1), thread i pinned to CPU i mod the CPUs available,
 * read CLOCK_MONOTONIC back to back for SECONDS (default 10). A gap
 * between two reads is time the thread did not run: an interrupt, another
 * task on its CPU, or, on a virtual machine, the host not running the
 * virtual CPU at all. Prints per thread how many gaps fell in each range
 * from 0.25 ms up, and the longest. A lookup that such a gap falls into
 * takes that much longer, whatever the lookup does, so a benchmark's max
 * can be compared with the longest gap of the same sitting.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RANGES 6
static const double range_ms[RANGES] = {0.25, 0.5, 1, 2, 4, 8};

typedef struct spinner {
    pthread_t tid;
    int cpu;
    double seconds;
    unsigned long count[RANGES];
    uint64_t longest_ns;
} spinner_t;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *spin(void *arg)
{
    spinner_t *s = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(s->cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set); /* best effort */
    uint64_t prev = now_ns(), end = prev + (uint64_t)(s->seconds * 1e9);
    while (prev < end) {
        uint64_t t = now_ns(), gap = t - prev;
        prev = t;
        if (gap > s->longest_ns)
            s->longest_ns = gap;
        for (int r = RANGES - 1; r >= 0; r--)
            if ((double)gap >= range_ms[r] * 1e6) {
                s->count[r]++;
                break;
            }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = 10;
    int threads = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--help") == 0) {
            printf("Usage: ahead-bench-stalls [SECONDS] [--threads N]\n"
                   "Spins N threads (one per CPU) reading the clock for SECONDS (default 10)\n"
                   "and prints the gaps between two reads longer than 0.25 ms.\n");
            return 0;
        } else
            seconds = atof(argv[i]);
    }
    if (seconds <= 0 || threads < 1 || threads > 256) {
        fprintf(stderr, "Usage: ahead-bench-stalls [SECONDS] [--threads N]\n");
        return 2;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    spinner_t *s = calloc((size_t)threads, sizeof *s);
    if (s == NULL)
        return 1;
    for (int i = 0; i < threads; i++) {
        s[i].cpu = (int)(i % (cpus > 0 ? cpus : 1));
        s[i].seconds = seconds;
        if (pthread_create(&s[i].tid, NULL, spin, &s[i]) != 0)
            return 1;
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(s[i].tid, NULL);
        printf("thread %d (CPU %d), %.0f s: gaps", i, s[i].cpu, seconds);
        for (int r = 0; r + 1 < RANGES; r++)
            printf(" %g-%g ms %lu,", range_ms[r], range_ms[r + 1], s[i].count[r]);
        printf(" %g+ ms %lu;", range_ms[RANGES - 1], s[i].count[RANGES - 1]);
        printf(" longest %.2f ms\n", (double)s[i].longest_ns / 1e6);
    }
    free(s);
    return 0;
}
