/* SPDX-License-Identifier: MIT */
/*
 * log.h: ahead-serve's operational log: one line per event on stderr,
 * "ahead-serve: <message>". Each line goes out in a single write(2), so lines
 * from different threads never interleave. Not for the hot path: requests
 * are logged only by the optional access log.
 */
#ifndef AH_SERVER_LOG_H
#define AH_SERVER_LOG_H

void ah_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* AH_SERVER_LOG_H */
