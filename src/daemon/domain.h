/* domain.h - a running domain: one QEMU process supervised over QMP.
 *
 * A domain's runtime files live in ROOT/run/domus/dom/<domid>/: QEMU's
 * sockets, qemu.pid, qemu.log (its stderr), qmp.log (QMP traffic) and
 * state.json (what the daemon needs to re-attach after a restart).
 */
#ifndef DOMUS_DOMAIN_H
#define DOMUS_DOMAIN_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/domcfg.h"

struct qmp;
struct console_mux;
struct disk_server;
struct vif_attach;

/* What the guest did last, for list's state letters and on_* actions. */
enum dom_run_state {
	DOM_RUNNING,
	DOM_PAUSED,
	DOM_SHUTDOWN,   /* powered off or rebooted, action pending or preserved */
	DOM_CRASHED,    /* panicked, action pending or preserved */
	DOM_DYING,      /* being destroyed */
};

struct domain {
	int refs;                 /* guarded by daemon_state.lock */
	pthread_mutex_t lock;     /* guards the fields below */
	int domid;
	char *name;
	char **old_names;         /* names before renames, freed with the domain */
	size_t n_old_names;
	char *uuid;
	struct domcfg *cfg;
	json_t *cfg_json;         /* domcfg_to_json(cfg) */
	char *run_dir;
	pid_t pid;
	unsigned long long pid_start; /* /proc/pid/stat starttime, against pid reuse */
	double start_time;        /* wall clock of the last (re)start */
	uint64_t restarted_ms;    /* monotonic time of the last restart_in_place() */
	enum dom_run_state state;
	bool user_paused;
	bool migrating;           /* a migration of this domain is under way */
	json_t *migration;        /* its progress (migrate.c), or NULL */
	unsigned generation;      /* bumped each time a shutdown/reboot/crash is handled */
	bool gone;                /* QEMU exited and the domain left the list */
	bool ports_released;      /* its vifs' ports went before QEMU's exit */
	struct vif_attach *vif_attach; /* vifs going on their bridges in the
				   * background (incoming), until joined */
	struct qmp *qmp;
	struct console_mux *serial, *pvcon;
	struct disk_server *disk_servers; /* NBD servers of its LV disks (lvdisk.h) */
	size_t n_disk_servers;

	/* Events from the QMP reader, handled by the supervisor thread. */
	pthread_t supervisor;
	pthread_cond_t event_cond;
	char pending_event[32];   /* "shutdown", "reset", "panic", "closed" or "" */
	char pending_reason[32];
	bool qmp_closed;

	/* QEMU's migration status from its MIGRATION events (save.c waits on
	 * it): "" until one comes. Under lock; migration_cond is signalled. */
	char migration_status[24];
	pthread_cond_t migration_cond;
	/* now_ms() when QEMU last reported RESUME (the guest runs again;
	 * migrate.c tells the source how long ago). Under lock. */
	uint64_t resumed_at_ms;
};

/* Parameters of a create request. */
struct domain_create_args {
	const char *config_text;
	size_t config_len;
	const char *config_path;  /* for messages */
	const char *const *overrides; /* NULL-terminated "k=v" strings, or NULL */
	bool paused;
	/* restore and migration: a ready config instead of config_text (taken
	 * on success and failure), and a stream to load QEMU's state from
	 * instead of booting (INCOMING_FD, e.g. a pipe; -1 for none). With
	 * INCOMING_LATER (and INCOMING_FD -1) QEMU is left waiting for a
	 * stream the caller feeds later with save_receive() (migration: the
	 * target is ready before the source starts sending). */
	struct domcfg *cfg;
	int incoming_fd;
	bool incoming_later;
	/* With INCOMING_LATER: the stream comes over QEMU's own TLS; QEMU
	 * starts holding the server credentials in this directory as object
	 * INCOMING_TLS_ID, set as its migration's tls-creds. */
	const char *incoming_tls_dir, *incoming_tls_id;
	/* The scheduling priority (process_set_nice()) QEMU starts at, until
	 * it answers QMP; then, and with 0, the normal one. */
	int nice;
};

/* For a domain created with INCOMING_LATER: its vifs go on their bridges
 * (antispoofing rules, rates) in the background while QEMU loads the
 * stream. Wait for that: 0, or -errno with ERRBUF (may be NULL with ERRSIZE
 * 0) filled. Call it before telling the source the domain is complete. */
int domain_wait_vifs(struct domain *d, char *errbuf, size_t errsize);

/* Parse xl.cfg TEXT (LEN bytes, read from PATH) with OVERRIDES ("k=v",
 * NULL-terminated, or NULL) into *RET. Returns 0, or -errno with ERRBUF
 * holding "PATH:LINE:COL: ..." for the user. */
int domain_config_parse(const char *text, size_t len, const char *path,
			const char *const *overrides, struct domcfg **ret, char *errbuf, size_t errsize);

/* Create and start a domain. On success *RET_DOM is a new reference. On
 * failure nothing is left behind and ERRBUF holds the one message to show. */
int domain_create(const struct domain_create_args *a, struct domain **ret_dom,
		  json_t **ret_warnings, char *errbuf, size_t errsize);

/* The MAC of vif DEVID of VM NAME without mac=: generated once, then kept
 * (var/lib/domus/mac/NAME). NULL on allocation failure. */
char *domain_stable_mac(const char *name, size_t devid);

/* Check what can be checked before starting CFG here (kernel, disks,
 * bridges, memory), as domain_create() does first. 0 or -errno + ERRBUF. */
int domain_check(const struct domcfg *cfg, char *errbuf, size_t errsize);

/* Re-attach to the domains a previous daemon left running. */
void domain_reattach_all(void);

/* Find by name or numeric id; a new reference or NULL. */
struct domain *domain_lookup(const char *name_or_id);
void domain_unref(struct domain *d);

/* A snapshot of the list: new references in *RET (free with domain_list_free). */
size_t domain_list(struct domain ***ret);
void domain_list_free(struct domain **v, size_t n);

/* Operations; each returns 0 or -errno with ERRBUF filled. */
int domain_destroy(struct domain *d, char *errbuf, size_t errsize);
/* The same for a domain whose guest must never run again: a migration's
 * source after the commit, a domain saved to a file, its state gone and its
 * disks flushed and released by QEMU when that migration completed. Nothing in
 * QEMU is worth its clean exit (~20 ms): it gets SIGKILL, and the vifs'
 * ports are taken away while the kernel ends it. */
int domain_destroy_stopped(struct domain *d, char *errbuf, size_t errsize);
int domain_shutdown(struct domain *d, char *errbuf, size_t errsize);
int domain_reboot(struct domain *d, bool force, char *errbuf, size_t errsize);
int domain_pause(struct domain *d, bool pause, char *errbuf, size_t errsize);
int domain_rename(struct domain *d, const char *new_name, char *errbuf, size_t errsize);

/* Wait until D's generation differs from GEN or D is gone. TIMEOUT_MS < 0:
 * forever. Returns 0 or -ETIMEDOUT. */
int domain_wait_change(struct domain *d, unsigned gen, int timeout_ms);

/* xl's six state letters ("r-----", "-b----"...) into BUF[7]. */
void domain_state_letters(struct domain *d, char buf[7]);

/* CPU seconds the domain's QEMU process has used. */
double domain_cpu_seconds(struct domain *d);

/* Start ARGV (searched in PATH) detached: in its own session, working
 * directory RUN_DIR, stdout/stderr appended to LOG_NAME there, stdin
 * /dev/null, environment ENVP (NULL: the daemon's). Its pid or -errno (a
 * program that cannot run is such an error). The daemon, a child subreaper,
 * reaps it. */
pid_t spawn_detached(char **argv, char **envp, const char *run_dir, const char *log_name);

/* The start time of PID (/proc/PID/stat), or 0 if it is gone or a zombie. */
unsigned long long proc_start_time(pid_t pid);

/* Rewrite D's state.json (after its disk servers changed); logs failures. */
void domain_persist(struct domain *d);

/* JSON description for `list -l`. */
json_t *domain_to_json(struct domain *d);

#endif
