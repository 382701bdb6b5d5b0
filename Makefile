# Domus top-level Makefile: a thin wrapper around meson/ninja and the test runners.
#
#   make deps     install the Debian packages Domus needs (idempotent)
#   make          build build/domus and build/domusd
#   make guest    build the guest kit under build/guest/
#   make check    run every test (unit, fuzz corpus replay, system)
#   make demo     boot a demo domain on a private instance and show it
#   make install  install under PREFIX (default /usr/local)

BUILD      ?= build
ASAN_BUILD ?= build-asan
PREFIX     ?= /usr/local
PYTEST     ?= /usr/bin/python3 -m pytest

# Packages needed to build, test and run Domus. One list, one place.
DEB_PACKAGES := \
	build-essential meson ninja-build pkg-config clang libclang-rt-14-dev \
	libjansson-dev libcmocka-dev python3 python3-pytest \
	qemu-system-x86 qemu-utils seabios ipxe-qemu \
	busybox-static cpio lz4 e2fsprogs kmod \
	syslinux syslinux-common mtools \
	iproute2 bridge-utils iputils-ping procps psmisc util-linux \
	lvm2 nbdkit libnbd-bin libnbd-dev fio \
	libgnutls28-dev gnutls-bin \
	openvswitch-switch nftables dnsmasq-base iperf3

.PHONY: all deps build guest check check-unit check-system demo install clean distclean

all: build

# Only call apt-get when something is missing, so repeated runs are fast and
# need no network.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "deps: installing:" $$missing; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	else echo "deps: all Debian packages present"; fi

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized --prefix=$(PREFIX)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

guest: build
	guest/build-guest.sh $(BUILD)/guest

# Unit tests and fuzz corpus replay run under ASan/UBSan; system tests boot
# real guests with the regular build.
check-unit: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	meson test -C $(ASAN_BUILD) --print-errorlogs

check-system: build guest
	DOMUS_BUILD=$(abspath $(BUILD)) $(PYTEST) -v -ra tests/system

check: deps
	$(MAKE) check-unit
	$(MAKE) check-system

demo: deps build guest
	tools/demo.sh $(abspath $(BUILD))

install: build
	meson install -C $(BUILD) --destdir "$(DESTDIR)"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

distclean: clean
