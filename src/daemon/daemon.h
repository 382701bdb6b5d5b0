/* daemon.h - state shared by the parts of domusd.
 *
 * One global struct daemon. The domain list is guarded by `lock`; each
 * domain has its own lock for its fields (take the list lock first when both
 * are needed). Domains are reference counted so a client thread can keep
 * using one while it is being removed from the list.
 */
#ifndef DOMUS_DAEMON_H
#define DOMUS_DAEMON_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/paths.h"
#include "qemu/cmdline.h"

struct domain;

struct daemon_conf {
	char *accel_setting;   /* "auto", "kvm" or "tcg" (domus.conf `accel`) */
	enum accel accel;      /* what domains get */
	char *qemu_binary;     /* domus.conf `qemu` */
	char *on_host_stop;    /* "save", "migrate" or "shutdown" (domus.conf `on_host_stop`) */
	char *host_stop_migrate_to; /* "HOST[:PORT]" for on_host_stop = "migrate", or NULL */
	unsigned host_stop_timeout; /* seconds (domus.conf `host_stop_timeout`) */
	char *relocation_listen;    /* "ADDR:PORT" or NULL: no relocation service */
	json_t *relocation_hosts_allow; /* array of "ADDR" or "ADDR/PREFIX" */
	char *relocation_tls_dir;   /* ca-cert.pem, cert.pem, key.pem */
	unsigned migration_max_downtime_ms;
	unsigned migration_bandwidth_mib; /* MiB/s, 0 = unlimited */
	unsigned migration_stream_buffer_kib; /* socket buffers of a direct
					       * stream, 0 = the kernel's */
	bool migration_relayed;     /* `migration_stream = "relayed"`: the memory
				     * through the daemons, not QEMU to QEMU */
	bool migration_write_blocking; /* `migration_disk_copy = "write-blocking"` */
	unsigned migration_incoming_priority; /* nice levels (0-20) above the
					       * normal an incoming domain's
					       * QEMU starts at */
	bool qemu_heap_hugetlb;     /* `qemu_heap_hugetlb = "auto"`: QEMU's heap
				     * on the host's hugetlb pool when it has room */
};

struct daemon {
	struct domus_paths paths;
	struct daemon_conf conf;
	char *dom_run_dir;     /* ROOT/run/domus/dom */
	char *mac_dir;         /* ROOT/var/lib/domus/mac */
	double start_time;

	pthread_mutex_t lock;  /* guards the list below and next_domid */
	pthread_cond_t changed;/* broadcast on any domain state change */
	struct domain **domains;
	size_t n_domains;
	bool stopping;
};

extern struct daemon daemon_state;

/* Fill daemon_state for the instance at ROOT: paths, directories, and
 * domus.conf. Returns 0 or -errno with ERRBUF saying why. */
int daemon_setup(const char *root, char *errbuf, size_t errsize);

/* Load domus.conf (KEY = VALUE, xl.cfg grammar) and pick the accelerator.
 * Returns 0 or -errno; ERRBUF says what is wrong with the file. */
int daemon_conf_load(struct daemon *d, char *errbuf, size_t errsize);

/* Bring the managed networks up (daemon start). */
void api_networks_restore(void);

/* Host facts for `list` and `info`. */
uint64_t host_mem_total_mb(void);
uint64_t host_mem_free_mb(void);
/* The free memory of the host's hugetlb pool (vm.nr_hugepages), when its
 * default huge page size is 2 MiB (the size glibc's malloc would take);
 * 0 otherwise. */
uint64_t host_hugetlb_free_mb(void);
unsigned host_cpus(void);
double host_cpu_seconds(void);
bool host_has_hw_virt(void);

/* Answer one request (a JSON object) from the client on FD. Returns the
 * reply, or NULL with *TOOK_FD set when the method took the connection over
 * (console) and sent its own reply. */
json_t *api_handle_request(json_t *req, int fd, bool *took_fd);

/* Handle one client connection until it closes (takes ownership of FD). */
void api_serve_client(int fd);

/* Host start (xendomains): on the first daemon start since the host booted
 * (no run/domus/host-started yet), restore the domains saved by host-stop
 * and start the VMs whose configs are in etc/domus/auto/. */
void host_start_domains(void);

/* Host stop: save (or shut down, per domus.conf) every running domain,
 * each within the configured time; a domain that will not stop in time is
 * destroyed. Returns how many domains could not be saved or shut down. */
int host_stop_domains(void);

/* Start the relocation listener if domus.conf asks for one. */
int relocation_start(char *errbuf, size_t errsize);

/* Print the API method table as JSON (docs/api.md is made from it). */
void api_describe(FILE *out);

#endif
