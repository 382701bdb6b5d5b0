#!/bin/bash
# Build the Domus guest kit: a Debian cloud kernel, a busybox initramfs (newc
# cpio, lz4-compressed: it unpacks faster than gzip under TCG) that
# loads the virtio/IDE modules and names disks after their xl.cfg vdev, an ext4
# root filesystem (mke2fs -d, no mounting) and a bootable raw disk for HVM
# tests (MBR + FAT + syslinux, assembled with dd, no mounting).
#
#   guest/build-guest.sh OUTDIR
#
# Every step compares its output with its inputs and is skipped when up to
# date, so a second run takes a fraction of a second.
set -euo pipefail

OUT=${1:?usage: build-guest.sh OUTDIR}
SRC=$(cd "$(dirname "$0")/.." && pwd)
GUEST_SRC=$SRC/guest
AGENT_SRC=$SRC/src/guest-agent
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
CACHE=$OUT/cache
WORK=$OUT/work

# Kernel modules the guest loads at boot, in this order (dependencies are
# added in front of each from modules.dep).
GUEST_MODULES=(
	virtio_pci virtio_blk virtio_net virtio_console virtio_balloon virtio_scsi
	virtio-rng pvpanic-pci pvpanic-mmio ata_piix sd_mod vmxnet3 button evdev
	qemu_fw_cfg
)

log() { echo "guest: $*" >&2; }

# stale TARGET INPUT...: true when TARGET is missing or older than an input.
stale() {
	local target=$1 input
	shift
	[[ -e $target ]] || return 0
	for input in "$@"; do
		[[ $input -nt $target ]] && return 0
	done
	return 1
}

# fetch_kernel: download the versioned kernel package the cloud metapackage
# depends on into the cache and extract it (once per version).
fetch_kernel() {
	local pkg deb lists=/var/lib/apt/lists
	mkdir -p "$CACHE"
	# apt-cache takes a second: ask again only after an apt-get update.
	if stale "$CACHE/kernel-package" "$lists" $(ls -d "$lists"/*Packages* 2>/dev/null); then
		pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
			sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1)
		[[ -n $pkg ]] || { log "cannot resolve linux-image-cloud-amd64 (apt-get update?)"; exit 1; }
		echo "$pkg" > "$CACHE/kernel-package"
	fi
	pkg=$(cat "$CACHE/kernel-package")
	deb=$(ls "$CACHE"/"${pkg}"_*.deb 2>/dev/null | head -n1 || true)
	if [[ -z $deb ]]; then
		log "downloading $pkg"
		(cd "$CACHE" && apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
		deb=$(ls "$CACHE"/"${pkg}"_*.deb 2>/dev/null | head -n1 || true)
		[[ -n $deb ]] || { log "apt-get download $pkg failed"; exit 1; }
	fi
	KDIR=$WORK/kernel
	if stale "$KDIR/.done" "$deb"; then
		log "extracting $(basename "$deb")"
		rm -rf "$KDIR"
		mkdir -p "$KDIR"
		dpkg-deb -x "$deb" "$KDIR"
		KVER=$(ls "$KDIR/lib/modules")
		depmod -b "$KDIR" "$KVER"
		touch "$KDIR/.done"
	fi
	KVER=$(ls "$KDIR/lib/modules")
	if stale "$OUT/vmlinuz" "$KDIR/.done"; then
		cp "$KDIR/boot/vmlinuz-$KVER" "$OUT/vmlinuz.tmp"
		mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
	fi
}

# resolve_modules: print the module files (relative to the module dir) to
# load, dependencies first, each once.
resolve_modules() {
	awk -v want="${GUEST_MODULES[*]}" '
		function norm(s) { gsub(/-/, "_", s); return s }
		function base(p) { sub(/.*\//, "", p); sub(/\.ko(\.[a-z]+)?$/, "", p); return norm(p) }
		function emit(p,   n, d, i) {
			if (p in done) return
			done[p] = 1
			n = split(deps[p], d, " ")
			for (i = n; i >= 1; i--) emit(d[i])
			print p
		}
		{ f = $1; sub(/:$/, "", f); $1 = ""; deps[f] = $0; byname[base(f)] = f }
		END {
			n = split(want, w, " ")
			for (i = 1; i <= n; i++) {
				m = norm(w[i])
				if (!(m in byname)) { print "missing module " w[i] > "/dev/stderr"; exit 1 }
				emit(byname[m])
			}
		}' "$KDIR/lib/modules/$KVER/modules.dep"
}

build_agent() {
	AGENT=$WORK/domus-agent
	if stale "$AGENT" "$AGENT_SRC"/*.c "$AGENT_SRC"/*.h "$0"; then
		log "building domus-agent"
		mkdir -p "$WORK"
		gcc -static -O2 -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes \
			-Wstrict-prototypes -o "$AGENT.tmp" \
			"$AGENT_SRC"/*.c /usr/lib/x86_64-linux-gnu/libjansson.a
		strip "$AGENT.tmp"
		mv "$AGENT.tmp" "$AGENT"
	fi
}

# stage_userland DIR: the busybox system shared by the initramfs and rootfs.
stage_userland() {
	local dir=$1 applet
	rm -rf "$dir"
	mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc/domus,dev,proc,sys,tmp,run,root,mnt,newroot,var}
	cp /bin/busybox "$dir/bin/busybox"
	for applet in $(/bin/busybox --list-full); do
		[[ -e $dir/$applet ]] || ln -s /bin/busybox "$dir/$applet"
	done
	install -m 0755 "$AGENT" "$dir/usr/sbin/domus-agent"
	install -m 0755 "$GUEST_SRC"/rc "$GUEST_SRC"/halt "$GUEST_SRC"/console \
		"$GUEST_SRC"/udhcpc.script "$GUEST_SRC"/hotplug "$dir/etc/domus/"
	install -m 0644 "$GUEST_SRC"/inittab "$dir/etc/inittab"
	echo 'root::0:0:root:/root:/bin/sh' > "$dir/etc/passwd"
	echo 'root:x:0:' > "$dir/etc/group"
	echo 'domus-guest' > "$dir/etc/hostname"
	printf '127.0.0.1 localhost\n::1 localhost\n' > "$dir/etc/hosts"
	printf 'export PATH=/bin:/sbin:/usr/bin:/usr/sbin\nexport PS1="\\h:\\w# "\n' > "$dir/etc/profile"
	ln -s /proc/mounts "$dir/etc/mtab"
	ln -s /run/resolv.conf "$dir/etc/resolv.conf"
	chmod 1777 "$dir/tmp"
	chmod 0700 "$dir/root"
}

GUEST_INPUTS=()

build_initrd() {
	local stage=$WORK/initrd mods m
	if ! stale "$OUT/initrd.img" "${GUEST_INPUTS[@]}"; then return; fi
	log "building initrd.img"
	stage_userland "$stage"
	mods=$(resolve_modules)
	mkdir -p "$stage/lib/modules"
	: > "$stage/lib/modules/load.order"
	for m in $mods; do
		cp "$KDIR/lib/modules/$KVER/$m" "$stage/lib/modules/"
		basename "$m" >> "$stage/lib/modules/load.order"
	done
	# Modules shipped compressed are stored decompressed: busybox insmod
	# takes plain ELF objects only.
	for m in "$stage"/lib/modules/*.ko.xz; do [[ -e $m ]] && xz -d "$m"; done
	for m in "$stage"/lib/modules/*.ko.zst; do [[ -e $m ]] && zstd -q --rm -d "$m"; done
	for m in "$stage"/lib/modules/*.ko.gz; do [[ -e $m ]] && gzip -d "$m"; done
	sed -i 's/\.ko\.\(xz\|zst\|gz\)$/.ko/' "$stage/lib/modules/load.order"
	install -m 0755 "$GUEST_SRC/init" "$stage/init"
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
		cpio --quiet -o -H newc -R 0:0 | lz4 -l -9 -q) > "$OUT/initrd.img.tmp"
	mv "$OUT/initrd.img.tmp" "$OUT/initrd.img"
}

build_rootfs() {
	local stage=$WORK/rootfs
	if ! stale "$OUT/rootfs.img" "${GUEST_INPUTS[@]}"; then return; fi
	log "building rootfs.img"
	stage_userland "$stage"
	rm -f "$OUT/rootfs.img.tmp"
	mke2fs -q -t ext4 -F -L domus-root -d "$stage" -E root_owner=0:0 \
		-O ^has_journal -N 2048 "$OUT/rootfs.img.tmp" 32M >/dev/null
	mv "$OUT/rootfs.img.tmp" "$OUT/rootfs.img"
}

# le32 N: N as 4 little-endian bytes (printf escapes).
le32() {
	printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) \
		$((($1 >> 16) & 255)) $((($1 >> 24) & 255))
}

# mbr_entry START SECTORS: the 64-byte partition table with one active FAT16
# partition (CHS fields saturated: the syslinux MBR boots by LBA), then the
# 0x55AA signature.
mbr_entry() {
	printf "\x80\xfe\xff\xff\x06\xfe\xff\xff$(le32 "$1")$(le32 "$2")"
	head -c 48 /dev/zero
	printf '\x55\xaa'
}

# build_hvm: a raw disk whose first partition (FAT16, bootable) holds
# syslinux, the kernel and the initramfs; the guest runs from the initramfs.
build_hvm() {
	local part=$WORK/hvm-part.img img=$OUT/hvm.img.tmp
	local part_start=2048 part_mib=24 part_sectors
	if ! stale "$OUT/hvm.img" "$OUT/vmlinuz" "$OUT/initrd.img" "$GUEST_SRC/syslinux.cfg" "$0"; then return; fi
	log "building hvm.img"
	part_sectors=$((part_mib * 2048))
	rm -f "$part" "$img"
	truncate -s "${part_mib}M" "$part"
	mformat -i "$part" -v DOMUSBOOT -T "$part_sectors" -h 64 -s 32 -H "$part_start" ::
	mcopy -i "$part" "$OUT/vmlinuz" "$OUT/initrd.img" "$GUEST_SRC/syslinux.cfg" \
		/usr/lib/syslinux/modules/bios/ldlinux.c32 ::
	syslinux --install "$part"
	truncate -s $(((part_start + part_sectors) * 512)) "$img"
	dd if=/usr/lib/syslinux/mbr/mbr.bin of="$img" bs=440 count=1 conv=notrunc status=none
	mbr_entry "$part_start" "$part_sectors" | dd of="$img" bs=1 seek=446 conv=notrunc status=none
	dd if="$part" of="$img" bs=1M seek=$((part_start * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
	rm -f "$part"
	mv "$img" "$OUT/hvm.img"
}

fetch_kernel
build_agent
GUEST_INPUTS=("$KDIR/.done" "$AGENT" "$0" "$GUEST_SRC"/init "$GUEST_SRC"/rc "$GUEST_SRC"/halt
	"$GUEST_SRC"/console "$GUEST_SRC"/udhcpc.script "$GUEST_SRC"/hotplug "$GUEST_SRC"/inittab /bin/busybox)
build_initrd
build_rootfs
build_hvm
log "kit ready in $OUT (kernel $KVER)"
