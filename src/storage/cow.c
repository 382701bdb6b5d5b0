/* cow.c - the dm persistent exception store of classic snapshots (cow.h). */
#include "storage/cow.h"

#include "common/cleanup.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t meta_chunk(const struct cow_store *s, uint64_t area)
{
	return 1 + area * (s->per_area + 1);
}

/* Data chunks skip the metadata chunks, as dm's allocator does. */
static void skip_metadata(struct cow_store *s)
{
	if ((s->next_free - 1) % (s->per_area + 1) == 0)
		s->next_free++;
}

static int write_header(const struct lvmap *dev, uint64_t chunk, bool valid)
{
	_cleanup_free_ uint8_t *buf = calloc(1, chunk);
	uint32_t h[4] = { htole32(COW_MAGIC), htole32(valid), htole32(1),
			  htole32((uint32_t)(chunk / 512)) };

	if (!buf)
		return -ENOMEM;
	memcpy(buf, h, sizeof(h));
	return lvmap_io(dev, buf, chunk, 0, true);
}

int cow_format(const struct lvmap *dev, uint64_t chunk)
{
	_cleanup_free_ uint8_t *zero = calloc(1, chunk);
	int r;

	if (!zero)
		return -ENOMEM;
	if (dev->size < 2 * chunk)
		return -ENOSPC;
	r = lvmap_io(dev, zero, chunk, chunk, true);
	if (r == 0)
		r = write_header(dev, chunk, true);
	return r == 0 ? lvmap_sync(dev) : r;
}

static uint64_t hash(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	return k ^ (k >> 33);
}

static int table_put(struct cow_store *s, uint64_t old, uint64_t new)
{
	if ((s->count + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		uint64_t *keys = malloc(cap * sizeof(uint64_t)), *vals = malloc(cap * sizeof(uint64_t));
		if (!keys || !vals) {
			free(keys);
			free(vals);
			return -ENOMEM;
		}
		memset(vals, 0, cap * sizeof(uint64_t)); /* new == 0 marks a free slot */
		for (size_t i = 0; i < s->cap; i++) {
			if (!s->vals[i])
				continue;
			size_t j = hash(s->keys[i]) & (cap - 1);
			while (vals[j])
				j = (j + 1) & (cap - 1);
			keys[j] = s->keys[i];
			vals[j] = s->vals[i];
		}
		free(s->keys);
		free(s->vals);
		s->keys = keys;
		s->vals = vals;
		s->cap = cap;
	}
	size_t j = hash(old) & (s->cap - 1);
	while (s->vals[j] && s->keys[j] != old)
		j = (j + 1) & (s->cap - 1);
	if (!s->vals[j])
		s->count++;
	s->keys[j] = old;
	s->vals[j] = new;
	return 0;
}

bool cow_lookup(const struct cow_store *s, uint64_t old, uint64_t *ret_new)
{
	if (!s->cap)
		return false;
	for (size_t j = hash(old) & (s->cap - 1); s->vals[j]; j = (j + 1) & (s->cap - 1))
		if (s->keys[j] == old) {
			*ret_new = s->vals[j];
			return true;
		}
	return false;
}

/* Read the table from entry K of area A on; stop at the end marker. */
static int scan_from(struct cow_store *s, uint64_t a, uint64_t k)
{
	for (;;) {
		int r = lvmap_io(&s->dev, s->area_buf, s->chunk, meta_chunk(s, a) * s->chunk, false);
		if (r < 0)
			return r;
		for (; k < s->per_area; k++) {
			uint64_t e[2];
			memcpy(e, s->area_buf + k * 16, 16);
			uint64_t old = le64toh(e[0]), new = le64toh(e[1]);
			if (new == 0)
				break;
			if (new >= s->nchunks || (new - 1) % (s->per_area + 1) == 0)
				return -EBADMSG;
			if (new >= s->next_free) {
				s->next_free = new + 1;
				skip_metadata(s);
			}
			r = table_put(s, old, new);
			if (r < 0)
				return r;
		}
		s->area = a;
		s->in_area = s->committed = k;
		if (k < s->per_area || meta_chunk(s, a + 1) >= s->nchunks)
			return 0;
		a++;
		k = 0;
	}
}

static int read_header(struct cow_store *s, uint32_t h[4])
{
	int r = lvmap_io(&s->dev, h, 16, 0, false);

	for (int i = 0; i < 4; i++)
		h[i] = le32toh(h[i]);
	return r;
}

int cow_load(struct cow_store *s, struct lvmap *dev, uint64_t chunk, bool write)
{
	uint32_t h[4];
	int r;

	*s = (struct cow_store){ .dev = *dev };
	*dev = (struct lvmap){ 0 };
	r = read_header(s, h);
	if (r < 0)
		return r;
	if (h[0] == 0 && write) {
		r = cow_format(&s->dev, chunk);
		if (r < 0)
			return r;
		h[0] = COW_MAGIC;
		h[1] = 1;
		h[3] = (uint32_t)(chunk / 512);
	} else if (h[0] == 0) {
		h[1] = 1;
		h[3] = (uint32_t)(chunk / 512);
	} else if (h[0] != COW_MAGIC || h[2] != 1) {
		return -EBADMSG;
	}
	s->chunk = (uint64_t)h[3] * 512;
	if (s->chunk < 4096 || s->chunk > 512 * 1024 || (s->chunk & (s->chunk - 1)))
		return -EBADMSG;
	s->per_area = s->chunk / 16;
	s->nchunks = s->dev.size / s->chunk;
	s->valid = h[1] != 0;
	s->next_free = 2;
	s->area_buf = calloc(1, s->chunk);
	if (!s->area_buf)
		return -ENOMEM;
	if (!s->valid || h[0] == 0)
		return 0;
	return scan_from(s, 0, 0);
}

void cow_release(struct cow_store *s)
{
	lvmap_release(&s->dev);
	free(s->area_buf);
	free(s->full_buf);
	free(s->keys);
	free(s->vals);
	*s = (struct cow_store){ 0 };
}

int cow_sync(struct cow_store *s)
{
	uint32_t h[4];
	int r;

	if (!s->valid)
		return 0;
	r = read_header(s, h);
	if (r < 0)
		return r;
	if (h[0] == COW_MAGIC && h[1] == 0) {
		s->valid = false;
		return 0;
	}
	return scan_from(s, s->area, s->committed);
}

/* The current area is full: keep it pending (if none is) and go on with the
 * next one in memory. */
static int next_area(struct cow_store *s)
{
	if (s->committed == s->in_area)
		return -ENOSPC; /* full and written: no area after it */
	if (s->full_buf || meta_chunk(s, s->area + 1) >= s->nchunks)
		return -EAGAIN;
	s->full_buf = s->area_buf;
	s->full_area = s->area;
	s->area_buf = calloc(1, s->chunk);
	if (!s->area_buf) {
		s->area_buf = s->full_buf;
		s->full_buf = NULL;
		return -ENOMEM;
	}
	s->area++;
	s->in_area = s->committed = 0;
	return 0;
}

int cow_alloc(struct cow_store *s, uint64_t old, uint64_t *ret_new)
{
	uint64_t new, e[2];
	int r;

	if (s->in_area == s->per_area) {
		r = next_area(s);
		if (r < 0)
			return r;
	}
	new = s->next_free;
	if (new >= s->nchunks)
		return -ENOSPC;
	r = table_put(s, old, new);
	if (r < 0)
		return r;
	e[0] = htole64(old);
	e[1] = htole64(new);
	memcpy(s->area_buf + s->in_area * 16, e, 16);
	s->in_area++;
	s->next_free++;
	skip_metadata(s);
	*ret_new = new;
	return 0;
}

int cow_commit(struct cow_store *s)
{
	bool full = s->in_area == s->per_area;
	bool next = full && meta_chunk(s, s->area + 1) < s->nchunks;
	int r = 0;

	if (s->committed == s->in_area && !s->full_buf)
		return 0;
	if (next) {
		/* The next area must read as empty before this one fills. */
		_cleanup_free_ uint8_t *zero = calloc(1, s->chunk);
		r = zero ? lvmap_io(&s->dev, zero, s->chunk, meta_chunk(s, s->area + 1) * s->chunk,
				    true) : -ENOMEM;
	}
	/* The current area (ending in zeros) before the full one before it,
	 * so a reader never runs from a full area into stale entries. */
	if (r == 0)
		r = lvmap_io(&s->dev, s->area_buf, s->chunk, meta_chunk(s, s->area) * s->chunk, true);
	if (r == 0 && s->full_buf)
		r = lvmap_io(&s->dev, s->full_buf, s->chunk, meta_chunk(s, s->full_area) * s->chunk,
			     true);
	if (r == 0)
		r = lvmap_sync(&s->dev);
	if (r < 0)
		return r;
	free(s->full_buf);
	s->full_buf = NULL;
	s->committed = s->in_area;
	if (next) {
		s->area++;
		s->in_area = s->committed = 0;
		memset(s->area_buf, 0, s->chunk);
	}
	return 0;
}

int cow_invalidate(struct cow_store *s)
{
	int r;

	s->valid = false;
	r = write_header(&s->dev, s->chunk, false);
	return r == 0 ? lvmap_sync(&s->dev) : r;
}

uint64_t cow_used_chunks(const struct cow_store *s)
{
	return s->valid ? s->next_free : s->nchunks;
}

int cow_foreach(const struct cow_store *s, int (*fn)(void *ctx, uint64_t old, uint64_t new),
		void *ctx)
{
	for (size_t i = 0; i < s->cap; i++)
		if (s->vals[i]) {
			int r = fn(ctx, s->keys[i], s->vals[i]);
			if (r < 0)
				return r;
		}
	return 0;
}
