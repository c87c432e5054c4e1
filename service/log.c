/*
 * log.c -- structured JSON log lines on stderr (see log.h). The only state
 * is the level, set once at start before any thread exists.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

static enum rd_level log_level = RD_LOG_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

void
rd_log_set_level(enum rd_level level)
{
	log_level = level;
}

int
rd_log_level_parse(const char *s)
{
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

int
rd_log_enabled(enum rd_level level)
{
	return level >= log_level;
}

void
rd_log(enum rd_level level, const char *msg, const char *fields, ...)
{
	struct rd_buf b;
	struct timespec ts;
	struct tm tm;
	char when[32];
	va_list ap;
	size_t off;
	ssize_t w;

	if (level < log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	rd_buf_init(&b);
	rd_buf_printf(&b, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":", when,
		ts.tv_nsec / 1000000, level_names[level]);
	rd_buf_json_str(&b, msg, strlen(msg));
	if (fields) {
		rd_buf_append(&b, ",", 1);
		va_start(ap, fields);
		rd_buf_vprintf(&b, fields, ap);
		va_end(ap);
	}
	rd_buf_append(&b, "}\n", 2);
	if (!b.oom)
		for (off = 0; off < b.len; off += (size_t)w) {
			w = write(STDERR_FILENO, b.p + off, b.len - off);
			if (w <= 0)
				break;
		}
	rd_buf_fini(&b);
}

void
rd_log_str(enum rd_level level, const char *msg, const char *name, const char *value)
{
	struct rd_buf b;

	if (level < log_level)
		return;
	rd_buf_init(&b);
	rd_buf_json_str(&b, value, strlen(value));
	rd_log(level, msg, "\"%s\":%s", name, b.p ? b.p : "\"\"");
	rd_buf_fini(&b);
}

void
rd_thread_name(const char *fmt, ...)
{
	char name[16];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	pthread_setname_np(pthread_self(), name);
}
