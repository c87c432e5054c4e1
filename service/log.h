/*
 * log.h -- routed's structured log: one JSON object per line on stderr,
 *   {"ts":"2026-11-27T15:30:00.123Z","level":"info","msg":"listening","addr":"127.0.0.1:8080"}
 * The level is checked before anything is formatted, and the hot path logs
 * nothing per event (it counts, see metrics.h). Lines are written with one
 * write(2) each, so lines from several threads never interleave.
 */
#ifndef RD_LOG_H
#define RD_LOG_H

enum rd_level { RD_LOG_DEBUG, RD_LOG_INFO, RD_LOG_WARN, RD_LOG_ERROR };

/* Sets the lowest level written (default RD_LOG_INFO). Call before threads start. */
void rd_log_set_level(enum rd_level level);
/* Parses "debug", "info", "warn" or "error"; -1 for anything else. */
int rd_log_level_parse(const char *s);
/*
 * Writes one line. fields, when not NULL, is a printf format producing the
 * extra members as JSON text without braces ("\"port\":%u"); string values
 * given to it must already be JSON-escaped (rd_buf_json_str).
 */
void rd_log(enum rd_level level, const char *msg, const char *fields, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * Writes one line with a single string member name = value (JSON-escaped
 * here): for text that may hold quotes, such as paths and error messages.
 */
void rd_log_str(enum rd_level level, const char *msg, const char *name, const char *value);
/* Names the calling thread (printf-style, cut to 15 bytes): top -H, perf and /proc show it. */
void rd_thread_name(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Whether level would be written (to skip building expensive fields). */
int rd_log_enabled(enum rd_level level);

#endif
