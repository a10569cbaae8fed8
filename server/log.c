/* SPDX-License-Identifier: MIT */
/*
 * log.c: formats a log line into a stack buffer and writes it to stderr in
 * one write(2) (see log.h). A line longer than the buffer is truncated.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

void ah_log(const char *fmt, ...)
{
    char line[1024];
    size_t prefix = (size_t)snprintf(line, sizeof(line), "ahead-serve: ");
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + prefix, sizeof(line) - prefix - 1, fmt, ap);
    va_end(ap);
    size_t len = prefix + (n < 0 ? 0 : (size_t)n);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t rc = write(STDERR_FILENO, line, len);
    (void)rc;
}
