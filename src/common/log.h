/* log.h - the daemon's and the CLI's single logging path.
 *
 * Library code does not log; it returns -errno and the layer that handles
 * the error logs it once. log_* write to stderr (CLI) or to the log file the
 * daemon opened with log_open(); each line carries a timestamp and level.
 */
#ifndef DOMUS_LOG_H
#define DOMUS_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_ERR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Send log lines to PATH (appended) instead of stderr. Returns 0 or -errno. */
int log_open(const char *path);

/* Prefix stderr lines with PROG ("domus: ...") as CLIs do. */
void log_set_program(const char *prog);

/* Lines below LEVEL are dropped. Default: LOG_LEVEL_INFO. */
void log_set_level(enum log_level level);

/* Log one line at LEVEL (a newline is added). errno is preserved. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

#define log_err(...) log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
