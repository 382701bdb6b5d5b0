/* remotedisk.h - domain disks on a storage host, reached over NBD.
 *
 * A disk target that is an NBD URI (nbd://HOST[:PORT]/EXPORT,
 * nbd+unix:///EXPORT?socket=PATH; config/domcfg.h) is opened by QEMU's own
 * NBD client. Before anything is created the daemon asks the server about
 * the export (connect, NBD_OPT_INFO, NBD_OPT_ABORT; 5 s at most), so that a
 * storage host that is down, a wrong export name or a read-only export
 * attached read-write is refused with a clear message, on create as on the
 * target of a migration.
 */
#ifndef DOMUS_DAEMON_REMOTEDISK_H
#define DOMUS_DAEMON_REMOTEDISK_H

#include <stddef.h>

#include "config/domcfg.h"
#include "qemu/cmdline.h"

/* If disk S names a remote NBD export: check it is there and returns 1 with
 * *RET_NBD filled (release with disk_nbd_release) and *RET_DISK pointing at
 * it; 0 if S is not an NBD URI; -errno with ERRBUF filled, e.g. "disk
 * 'xvda2': NBD server 10.0.0.9:10809: Connection refused". */
int remotedisk_plan(const struct disk_spec *s, struct disk_nbd *ret_nbd,
		    struct qemu_disk *ret_disk, char *errbuf, size_t errsize);

#endif
