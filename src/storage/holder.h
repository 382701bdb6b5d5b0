/* holder.h - who uses a logical volume, so that refusals can name it.
 *
 * A process serving an LV (a domain's disk server, `domus nbd-serve`)
 * records itself in ROOT/run/domus/storage/locks/H_<lv uuid>.<pid>, one
 * line: "rw WHO" or "ro WHO" (WHO: "domain web (id 3)"). A record counts
 * only while its writer holds an exclusive flock on it, so a writer that
 * crashed leaves nothing that counts (crash-safe without clean-up). A
 * record is written under a temporary name, locked, then renamed into
 * place, so no reader ever sees it unlocked. H_<lv uuid> (flocked
 * exclusively) serialises check-and-add across processes.
 *
 * Two records conflict when either is read-write (the rule of Xen's block
 * script): an LV is used read-write by one user, or read-only by many.
 */
#ifndef DOMUS_STORAGE_HOLDER_H
#define DOMUS_STORAGE_HOLDER_H

#include "storage/storage.h"

#include <stdbool.h>
#include <sys/types.h>

/* Record the calling process as a user of LV (uuid LV_ID), read-write if
 * RW, described by WHO. Returns the fd that keeps the record alive (pass
 * it to lv_holder_remove), or -EBUSY with *RET_CONFLICT (malloc'd WHO of a
 * conflicting live record) set, or another -errno. */
int lv_holder_add(const struct storage *st, const char *lv_id, const char *who, bool rw,
		  char **ret_conflict);

/* Drop the record FD (from lv_holder_add) of the calling process. */
void lv_holder_remove(const struct storage *st, const char *lv_id, int fd);

/* Change the WHO of the live record of process PID (one process serves one
 * LV, so it has at most one record) to WHO, keeping its mode: for a
 * domain renamed while its disk servers run. The record is rewritten in
 * place (its writer holds the lock on it) with the new line first, so a
 * reader sees either line whole. 0, -ENOENT if PID has no live record, or
 * another -errno. */
int lv_holder_retitle(const struct storage *st, pid_t pid, const char *who);

/* The WHO of a live record of LV (a read-write one first): 0 with *RET
 * malloc'd, or -ENOENT if nobody recorded using it. */
int lv_holder_describe(const struct storage *st, const char *lv_id, char **ret);

#endif
