/* migrate.h - live migration between Domus hosts (`domus migrate`). */
#ifndef DOMUS_MIGRATE_H
#define DOMUS_MIGRATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/domcfg.h"
#include "daemon/domain.h"

#define RELOCATION_DEFAULT_PORT 8002

/* Move D to the Domus host at HOST[:PORT], through its relocation service
 * (mutual TLS), or with SSHCMD (xl's -s; NULL for none) through
 * "SSHCMD HOST domus migrate-receive" (just "HOST" if SSHCMD is ""). LIVE: pre-copy while the guest
 * runs (else it is paused first). CFG (not taken) replaces its config on the
 * target. Until the target confirms it holds a complete copy, any failure
 * leaves D running here as before; after that, the target owns it and D is
 * destroyed here. Disks on LVs the target does not share are copied to LVs
 * it creates (migdisk.h). While it runs, D->migration holds its progress.
 * *RET_REPORT gets {total_ms, downtime_ms, switchover_ms, qemu: {...},
 * disks: {size, copied, sync_ms} (with copied disks)}. */
int domain_migrate(struct domain *d, const char *host, const char *sshcmd, bool live,
		   const struct domcfg *cfg, json_t **ret_report, char *errbuf, size_t errsize);

/* Serve one incoming migration on FD, the connection of `domus
 * migrate-receive` that the source ran through ssh: no TLS and no
 * allowlist, ssh authenticated the source. Returns when it is over. */
void relocation_serve_local(int fd);

#endif
