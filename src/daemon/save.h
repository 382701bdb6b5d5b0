/* save.h - `domus save` and `domus restore`: a domain's memory and device
 * state, with its configuration, in one checked file (savefile.h). */
#ifndef DOMUS_SAVE_H
#define DOMUS_SAVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/domcfg.h"
#include "daemon/domain.h"

enum save_after { SAVE_DESTROY, SAVE_LEAVE_RUNNING, SAVE_LEAVE_PAUSED };

/* Save D into PATH (written to PATH.tmp, then renamed). CFG, if not NULL,
 * is stored instead of D's own configuration (not taken). AFTER says what
 * becomes of D once its state is safely on disk. Returns 0 or -errno with
 * ERRBUF filled; on failure D keeps running and PATH is untouched. */
int domain_save(struct domain *d, const char *path, const struct domcfg *cfg,
		enum save_after after, char *errbuf, size_t errsize);

/* Bring back the domain saved in PATH (checked whole before anything
 * starts); CFG, if not NULL, replaces the saved configuration (taken).
 * On success *RET_DOM is a new reference. */
int domain_restore(const char *path, struct domcfg *cfg, bool paused, struct domain **ret_dom,
		   char *errbuf, size_t errsize);

/* For domain creation: load QEMU's state from FD's byte range
 * [OFF, +LEN) into the paused, just-started domain D. */
int save_receive(struct domain *d, int fd, uint64_t off, uint64_t len, char *errbuf,
		 size_t errsize);

#endif
