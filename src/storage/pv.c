/* pv.c - PV labels and crash-safe metadata area updates (pv.h). */
#include "storage/pv.h"

#include "storage/sio.h"

#include "common/cleanup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

int pv_read_label(int fd, struct lvm_pv_label *ret)
{
	uint8_t buf[LVM_LABEL_SCAN_SECTORS * LVM_SECTOR];
	int r = sio_pread(fd, buf, sizeof(buf), 0);

	if (r == -EIO)
		return -ENOENT; /* too small to be a PV */
	if (r < 0)
		return r;
	return lvm_label_decode(buf, sizeof(buf), ret);
}

int pv_write_label(int fd, const struct lvm_pv_label *label)
{
	uint8_t sec[LVM_SECTOR];
	int r = lvm_label_encode(label, sec);

	if (r < 0)
		return r;
	r = sio_pwrite(fd, sec, sizeof(sec), label->sector * LVM_SECTOR);
	return r < 0 ? r : sio_sync(fd);
}

int pv_wipe(int fd)
{
	uint8_t zero[LVM_LABEL_SCAN_SECTORS * LVM_SECTOR] = { 0 };
	int r = sio_pwrite(fd, zero, sizeof(zero), 0);

	return r < 0 ? r : sio_sync(fd);
}

static int write_header(int fd, const struct lvm_mda_header *h)
{
	uint8_t buf[LVM_MDA_HEADER_SIZE];
	int r;

	lvm_mda_header_encode(h, buf);
	r = sio_pwrite(fd, buf, sizeof(buf), h->start);
	return r < 0 ? r : sio_sync(fd);
}

int pv_format(int fd, const struct pv_format_opts *o, struct lvm_pv_label *ret)
{
	struct lvm_pv_label l = { .sector = 1, .n_data = 1, .n_mda = 1, .ext_version = 2 };
	uint64_t mda_size = o->metadata_size, pe_start;
	struct lvm_mda_header h = { .version = 1, .start = PV_DEFAULT_MDA_OFFSET };
	int r;

	r = sio_dev_size(fd, &l.device_size);
	if (r < 0)
		return r;
	if (mda_size == 0)
		mda_size = PV_DEFAULT_DATA_ALIGN - PV_DEFAULT_MDA_OFFSET;
	mda_size = align_up(mda_size, LVM_SECTOR);
	if (mda_size < 8 * LVM_SECTOR || mda_size > (1ull << 40))
		return -EINVAL;
	pe_start = align_up(PV_DEFAULT_MDA_OFFSET + mda_size, PV_DEFAULT_DATA_ALIGN);
	if (l.device_size < pe_start + PV_DEFAULT_DATA_ALIGN)
		return -ENOSPC;
	if (o->uuid)
		r = lvm_uuid_parse(o->uuid, l.uuid);
	else
		r = lvm_uuid_generate(l.uuid);
	if (r < 0)
		return r;
	l.data[0] = (struct lvm_area){ pe_start, 0 };
	l.mda[0] = (struct lvm_area){ PV_DEFAULT_MDA_OFFSET, mda_size };
	h.size = mda_size;
	r = pv_wipe(fd);
	if (r == 0)
		r = write_header(fd, &h);
	if (r == 0)
		r = pv_write_label(fd, &l);
	if (r < 0)
		return r;
	*ret = l;
	return 0;
}

static int read_header(int fd, const struct lvm_area *a, struct lvm_mda_header *ret)
{
	uint8_t buf[LVM_MDA_HEADER_SIZE];
	struct lvm_mda_header h;
	int r = sio_pread(fd, buf, sizeof(buf), a->offset);

	if (r < 0)
		return r == -EIO ? -EBADMSG : r;
	r = lvm_mda_header_decode(buf, sizeof(buf), &h);
	if (r < 0)
		return -EBADMSG;
	if (h.start != a->offset || h.size != a->size)
		return -EBADMSG;
	*ret = h;
	return 0;
}

/* Read LEN bytes at circular offset OFF of the area described by H. */
static int ring_read(int fd, const struct lvm_mda_header *h, uint64_t off, void *buf,
		     size_t len)
{
	uint64_t first = h->size - off < len ? h->size - off : len;
	int r = sio_pread(fd, buf, first, h->start + off);

	if (r < 0 || first == len)
		return r;
	return sio_pread(fd, (uint8_t *)buf + first, len - first,
			 h->start + LVM_MDA_HEADER_SIZE);
}

static int ring_write(int fd, const struct lvm_mda_header *h, uint64_t off, const void *buf,
		      size_t len)
{
	uint64_t first = h->size - off < len ? h->size - off : len;
	int r = sio_pwrite(fd, buf, first, h->start + off);

	if (r < 0 || first == len)
		return r;
	return sio_pwrite(fd, (const uint8_t *)buf + first, len - first,
			  h->start + LVM_MDA_HEADER_SIZE);
}

int pv_read_metadata(int fd, const struct lvm_pv_label *label, unsigned i,
		     char **ret_text, size_t *ret_len)
{
	struct lvm_mda_header h;
	_cleanup_free_ char *text = NULL;
	int r;

	if (i >= label->n_mda)
		return -EINVAL;
	r = read_header(fd, &label->mda[i], &h);
	if (r < 0)
		return r;
	if (h.committed.offset == 0 || (h.committed.flags & LVM_RAW_LOCN_IGNORED))
		return -ENODATA;
	text = malloc(h.committed.size + 1);
	if (!text)
		return -ENOMEM;
	r = ring_read(fd, &h, h.committed.offset, text, h.committed.size);
	if (r < 0)
		return r == -EIO ? -EBADMSG : r;
	if (lvm_crc(LVM_INITIAL_CRC, text, h.committed.size) != h.committed.checksum)
		return -EBADMSG;
	text[h.committed.size] = 0;
	*ret_len = h.committed.size;
	*ret_text = TAKE_PTR(text);
	return 0;
}

int pv_mda_precommit(int fd, const struct lvm_pv_label *label, unsigned i,
		     const char *text, size_t len, struct lvm_mda_header *ret_hdr)
{
	struct lvm_mda_header h;
	const struct lvm_raw_locn *old;
	uint64_t ring, off, gap;
	int r;

	if (i >= label->n_mda)
		return -EINVAL;
	if (read_header(fd, &label->mda[i], &h) < 0)
		h = (struct lvm_mda_header){ .version = 1, .start = label->mda[i].offset,
					     .size = label->mda[i].size };
	if (h.size <= LVM_MDA_HEADER_SIZE)
		return -ENOSPC;
	ring = h.size - LVM_MDA_HEADER_SIZE;
	old = &h.committed;
	off = LVM_MDA_HEADER_SIZE;
	gap = ring;
	if (old->offset) {
		off = align_up(old->offset + old->size, LVM_SECTOR);
		if (off >= h.size)
			off = LVM_MDA_HEADER_SIZE + (off - h.size);
		/* Free ring space from OFF up to the start of the old text. */
		gap = (old->offset + ring - off) % ring;
		if (gap == 0)
			gap = ring;
	}
	if (len > gap || (old->offset && len + old->size > ring))
		return -ENOSPC;
	r = ring_write(fd, &h, off, text, len);
	if (r == 0)
		r = sio_sync(fd);
	if (r < 0)
		return r;
	h.precommitted = (struct lvm_raw_locn){ off, len, lvm_crc(LVM_INITIAL_CRC, text, len), 0 };
	if (!h.committed.offset) {
		/* An empty slot 0 ends the list on disk: commit directly. */
		*ret_hdr = h;
		return 0;
	}
	r = write_header(fd, &h);
	if (r < 0)
		return r;
	*ret_hdr = h;
	return 0;
}

int pv_mda_commit(int fd, const struct lvm_pv_label *label, unsigned i,
		  const struct lvm_mda_header *hdr)
{
	struct lvm_mda_header h = *hdr;

	h.committed = h.precommitted;
	h.precommitted = (struct lvm_raw_locn){ 0 };
	return write_header(fd, &h);
}

int pv_mda_clear(int fd, const struct lvm_pv_label *label, unsigned i)
{
	struct lvm_mda_header h = { .version = 1 };

	if (i >= label->n_mda)
		return -EINVAL;
	h.start = label->mda[i].offset;
	h.size = label->mda[i].size;
	return write_header(fd, &h);
}
