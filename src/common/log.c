/* log.c - timestamped log lines to stderr or a log file. */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int log_fd = STDERR_FILENO;
static bool log_to_file;
static const char *log_program;
static enum log_level log_threshold = LOG_LEVEL_INFO;

static const char *const level_names[] = {
	[LOG_LEVEL_ERR] = "error",
	[LOG_LEVEL_WARN] = "warning",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

int log_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	if (log_to_file)
		close(log_fd);
	log_fd = fd;
	log_to_file = true;
	return 0;
}

void log_set_program(const char *prog) { log_program = prog; }
void log_set_level(enum log_level level) { log_threshold = level; }

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[4096];
	size_t n = 0;
	int saved = errno;

	if (level > log_threshold)
		return;
	if (log_to_file) {
		struct timeval tv;
		struct tm tm;
		gettimeofday(&tv, NULL);
		localtime_r(&tv.tv_sec, &tm);
		n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
		n += snprintf(line + n, sizeof(line) - n, ".%03ld [%d] %s: ",
			      (long)tv.tv_usec / 1000, (int)getpid(), level_names[level]);
	} else if (log_program) {
		n = snprintf(line, sizeof(line), "%s: %s", log_program,
			     level == LOG_LEVEL_INFO ? "" : level_names[level]);
		if (level != LOG_LEVEL_INFO)
			n += snprintf(line + n, sizeof(line) - n, ": ");
	}
	if (n < sizeof(line)) {
		int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		if (m > 0)
			n += (size_t)m;
	}
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(log_fd, line, n) < 0) {
		/* Nowhere left to report a failing log write. */
	}
	errno = saved;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
