/* internal.h - helpers shared by the config library's source files only. */
#ifndef DOMUS_CONFIG_INTERNAL_H
#define DOMUS_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* Longest disk or vif spec string accepted. */
#define SPEC_MAX_LEN 4096

/* Format a message into BUF (of SIZE) and return -EINVAL. */
int spec_error(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Remove leading and trailing blanks of S in place; return the new start. */
char *strip_blanks(char *s);

/* A Linux network interface name: 1-15 chars, no '/', ':' or blanks. */
bool ifname_valid(const char *s);

#endif
