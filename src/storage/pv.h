/* pv.h - physical volumes on disk: format a device as a PV, read its label
 * and committed metadata, and update metadata crash-safely.
 *
 * A metadata update is LVM's two-phase write: the new text goes after the
 * committed one in the circular buffer (never over it), then the area
 * header is rewritten (one sector) with the new location in the
 * precommitted slot, then again with it in the committed slot. Readers use
 * the committed slot only, so a crash or failed write at any point leaves
 * either the old or the new metadata.
 */
#ifndef DOMUS_STORAGE_PV_H
#define DOMUS_STORAGE_PV_H

#include "storage/format.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PV_DEFAULT_MDA_OFFSET 4096u
#define PV_DEFAULT_DATA_ALIGN (1024u * 1024u)
#define PV_EXT_USED 1u

struct pv_format_opts {
	uint64_t metadata_size;  /* bytes of metadata area; 0: to 1 MiB */
	const char *uuid;        /* 32 chars, or NULL for a random one */
};

/* Write a fresh PV label and an empty metadata area on the open device FD.
 * The data area starts at the next MiB after the metadata area. */
int pv_format(int fd, const struct pv_format_opts *o, struct lvm_pv_label *ret);

/* Rewrite the label (e.g. to set or clear PV_EXT_USED). */
int pv_write_label(int fd, const struct lvm_pv_label *label);

/* Zero the label sectors so the device is no longer a PV. */
int pv_wipe(int fd);

/* Read the label: 0, -ENOENT (not a PV), -EBADMSG. */
int pv_read_label(int fd, struct lvm_pv_label *ret);

/* Read the committed metadata text of metadata area I of LABEL. Returns 0
 * and a NUL-terminated text, -ENODATA if the area holds none (an orphan
 * PV), -EBADMSG if the header or the text checksum is bad. */
int pv_read_metadata(int fd, const struct lvm_pv_label *label, unsigned i,
		     char **ret_text, size_t *ret_len);

/* Phase 1 of an update of metadata area I: write TEXT (LEN bytes, NUL
 * included) after the committed text and record it as precommitted; on
 * success *RET_HDR is the header to pass to pv_mda_commit. A damaged
 * header is rebuilt from the label (the area then holds only TEXT).
 * -ENOSPC when the text does not fit next to the committed one. */
int pv_mda_precommit(int fd, const struct lvm_pv_label *label, unsigned i,
		     const char *text, size_t len, struct lvm_mda_header *ret_hdr);
/* Phase 2: make the precommitted text the committed one. */
int pv_mda_commit(int fd, const struct lvm_pv_label *label, unsigned i,
		  const struct lvm_mda_header *hdr);

/* Empty metadata area I (the PV leaves its VG). */
int pv_mda_clear(int fd, const struct lvm_pv_label *label, unsigned i);

#endif
