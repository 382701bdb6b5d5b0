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

/* Claim D for a save or migration (WHAT: "save", "migration") that is to
 * carry CFG (NULL: D's own): -EBUSY if one is already under way,
 * -EOPNOTSUPP if its NICs changed by hot plug and CFG is given or D is
 * HVM; ERRBUF says so. Release with save_release(). */
int save_claim(struct domain *d, const char *what, const struct domcfg *cfg, char *errbuf,
	       size_t errsize);
void save_release(struct domain *d);

/* The config to carry with D's state: CFG (if not NULL) or D's own, with
 * D's UUID (unless CFG names one) and generated MACs written in and its
 * NICs as they are now (hot plug). JSON text, malloc'd; NULL on failure. */
char *save_config_text(struct domain *d, const struct domcfg *cfg);

/* Whether D's memory must go over in a single pass. Under TCG, QEMU
 * before 9.0 loses the guest's writes made, after a sync of its dirty
 * bitmap, through TLB entries the translated code already holds (fixed
 * upstream by "physmem: Fix migration dirty bitmap coherency with TCG
 * memory access"): a sync while the guest runs hands the target stale
 * pages (a guest kernel that crashes, a virtqueue that double-frees). With
 * downtime-limit 0, QEMU syncs when the migration starts, sends the whole
 * memory once while the guest runs, then stops it and sends what it
 * dirtied meanwhile: the only other sync is made with the guest stopped. */
bool migration_one_pass(struct domain *d);

/* A pipe for a migration stream, as large as the system allows (1 MiB by
 * default): fewer wake-ups between QEMU and the daemon. */
int save_pipe(int p[2]);

/* Hand FD (not closed) to D's QEMU as its next migration's stream,
 * INCOMING or outgoing, and turn its migration events on: what
 * save_receive() and save_stream_fd() do first, for a caller that wants it
 * done before it can start them. */
int save_give_fd(struct domain *d, int fd, bool incoming, char *errbuf, size_t errsize);

/* Make D's QEMU close the outgoing stream given with save_give_fd() and not
 * used. */
void save_drop_fd(struct domain *d);

/* For domain creation: load QEMU's state from the stream on FD (a pipe;
 * passed to QEMU, not closed; -1: the one given with save_give_fd()) into
 * the paused, just-started domain D. */
int save_receive(struct domain *d, int fd, char *errbuf, size_t errsize);

/* Send D's state (a migration stream) to WRITE, a function called with
 * each chunk; the config is not included. Stops D at the end as QEMU's
 * migration does. Returns 0 once QEMU reports the migration complete. */
int save_stream(struct domain *d, int (*write)(void *ctx, const void *buf, size_t len),
		void *ctx, char *errbuf, size_t errsize);

/* The same straight into FD (a connected socket; passed to QEMU, not
 * closed; -1: the one given with save_give_fd()), with whatever TLS
 * parameters D's QEMU has been given. */
int save_stream_fd(struct domain *d, int fd, char *errbuf, size_t errsize);

#endif
