/* daemon-fixture.h - the daemon state the fuzz targets of daemon paths
 * (api, relocation) run against. */
#ifndef DOMUS_FUZZ_DAEMON_FIXTURE_H
#define DOMUS_FUZZ_DAEMON_FIXTURE_H

/* Once per process: a daemon set up in a fresh temporary root
 * (/tmp/domus-fuzz-NAME-XXXXXX), with no domains and a QEMU binary that
 * does not exist (a request that gets as far as starting a domain fails at
 * the spawn); in a network namespace of its own when it may create one, so
 * network requests never touch the host's network; SIGTERM (daemon-stop)
 * and SIGPIPE ignored. Aborts if the daemon cannot be set up. */
void fuzz_daemon_setup(const char *name);

#endif
