/* migdisk.h - copying a migrating domain's local LV disks to the target.
 *
 * Source side: for each disk the target answered "copy" for, the daemon
 * listens on a private Unix socket in the domain's run directory
 * (mig-<vdev>.sock); the mirror's target node of QEMU (blockdev-add of an
 * NBD client) connects to it, and the daemon relays that connection over a
 * new mutual-TLS connection to the target's relocation service ("op":
 * "disk" with the migration's token and the vdev), which bridges it to the
 * incoming domain's disk server. A blockdev-mirror job (sync=full) copies
 * the disk while the guest runs, then keeps the copy in sync until
 * migdisk_finish() ends it without pivot (block-job-cancel once ready).
 */
#ifndef DOMUS_DAEMON_MIGDISK_H
#define DOMUS_DAEMON_MIGDISK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/domain.h"
#include "relocation/tlschan.h"

struct migdisk;

/* Opens a new TLS connection to the migration's target: *RET_FD (the
 * socket) and *RET. 0 or -errno with ERRBUF filled. */
typedef int (*migdisk_connect_fn)(void *ctx, int *ret_fd, struct tlschan **ret, char *errbuf,
				  size_t errsize);

/* The LV disks of D as a JSON array of lvdisk_describe() objects. */
int migdisk_describe(struct domain *d, json_t **ret, char *errbuf, size_t errsize);

/* Start copying the disks of D that ANSWER ({vdev: "copy"|"shared"}) says
 * to copy, each over a connection from CONNECT(CTX) presenting TOKEN. With
 * no disk to copy, *RET is NULL. On failure nothing is left running. */
int migdisk_start(struct domain *d, json_t *answer, const char *token, migdisk_connect_fn connect,
		  void *ctx, struct migdisk **ret, char *errbuf, size_t errsize);

/* Wait until every copy is in sync (its job ready). 0 or -errno + ERRBUF. */
int migdisk_wait_ready(struct migdisk *m, char *errbuf, size_t errsize);

/* Bytes copied and to copy, over all disks (M may be NULL: zeros). */
void migdisk_progress(struct migdisk *m, uint64_t *ret_done, uint64_t *ret_total);

/* With the guest stopped: end each mirror without pivot once its copy is
 * complete. 0 when every disk on the target equals the source's. */
int migdisk_finish(struct migdisk *m, char *errbuf, size_t errsize);

/* Cancel what still runs (jobs, relays), remove QEMU's target nodes and
 * free M (NULL is fine). */
void migdisk_free(struct migdisk *m);

/* Target side: bridge T (over socket FD), a connection that asked for disk
 * VDEV of the incoming domain NAME, to that disk's server, until either
 * end closes. Answers {"ok"} or {"error"} first. The domain may still be
 * starting: its server is waited for while WANTED(CTX) holds (the
 * migration is still under way). */
void migdisk_bridge(struct tlschan *t, int fd, const char *name, const char *vdev,
		    bool (*wanted)(void *ctx), void *ctx);

#endif
