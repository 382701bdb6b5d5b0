/* paths.h - where an instance keeps its files (PRODUCT.md "Instance root").
 *
 * Every file of an instance lives under its root (DOMUS_ROOT, --root, or /):
 * etc/domus (configs), var/lib/domus (state), run/domus (sockets, runtime
 * state), var/log/domus (daemon and console logs).
 */
#ifndef DOMUS_PATHS_H
#define DOMUS_PATHS_H

struct domus_paths {
	char *root;        /* "" for "/", else an absolute path without trailing '/' */
	char *etc_dir;     /* ROOT/etc/domus */
	char *conf_file;   /* ROOT/etc/domus/domus.conf */
	char *auto_dir;    /* ROOT/etc/domus/auto */
	char *lib_dir;     /* ROOT/var/lib/domus */
	char *run_dir;     /* ROOT/run/domus */
	char *sock_path;   /* ROOT/run/domus/domusd.sock */
	char *log_dir;     /* ROOT/var/log/domus */
	char *daemon_log;  /* ROOT/var/log/domus/domusd.log */
	char *console_dir; /* ROOT/var/log/domus/console */
};

/* Fill P for ROOT (NULL: $DOMUS_ROOT, else "/"). ROOT is made absolute. */
int domus_paths_init(struct domus_paths *p, const char *root);
void domus_paths_release(struct domus_paths *p);

/* Create the instance's directories. */
int domus_paths_mkdirs(const struct domus_paths *p);

#endif
