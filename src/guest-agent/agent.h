/* domus-agent: a small QEMU guest agent (qemu-ga protocol subset) for the
 * Domus guest kit. Shared declarations of the agent's modules. */
#ifndef DOMUS_GUEST_AGENT_H
#define DOMUS_GUEST_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <poll.h>
#include <sys/types.h>
#include <jansson.h>

#define AGENT_VERSION "domus-agent 1.0"

/* Longest request accepted (guest-exec input-data travels inline). */
#define AGENT_MAX_REQUEST (24u << 20)
/* Output kept per stream of a guest-exec child, like qemu-ga. */
#define AGENT_MAX_OUTPUT (16u << 20)
/* guest-exec children tracked at once (running or not yet collected). */
#define AGENT_MAX_PROCS 64

/* Script that stops the guest cleanly: halt poweroff|halt|reboot. */
#define AGENT_HALT_SCRIPT "/etc/domus/halt"

/* base64.c */

/* Encode LEN bytes of DATA as a NUL-terminated base64 string (malloc'd), or
 * NULL when out of memory. */
char *base64_encode(const void *data, size_t len);

/* Decode the base64 string TEXT (whitespace ignored, padding optional) into a
 * malloc'd buffer. Returns 0 and sets *ret_data and *ret_len, or -EINVAL on bad
 * input, -ENOMEM. */
int base64_decode(const char *text, unsigned char **ret_data, size_t *ret_len);

/* frame.c: cut a byte stream into top-level JSON objects. */

struct frame {
	char *buf;
	size_t len, cap;
	int depth;
	bool in_string, escaped, overflow;
};

/* Feed one byte; returns true when the byte completed an object, which is
 * then in f->buf[0..f->len) (call frame_reset after use). A 0xFF byte resets
 * the frame, as the qemu-ga protocol asks. Bytes outside objects are
 * dropped. An object longer than AGENT_MAX_REQUEST completes with
 * f->overflow set and its contents dropped. */
bool frame_feed(struct frame *f, unsigned char c);
void frame_reset(struct frame *f);
void frame_release(struct frame *f);

/* exec.c: guest-exec children. */

/* Start a child for the guest-exec ARGS; returns its pid or -errno, with a
 * message in *ret_error (malloc'd) on failure. */
pid_t exec_start(json_t *args, char **ret_error);

/* The guest-exec-status reply for PID (and forget PID when it is reported
 * as exited), or NULL when PID is unknown. */
json_t *exec_status(pid_t pid);

/* Add the child pipe fds to watch to FDS (at most MAX), return the count. */
size_t exec_poll_fds(struct pollfd *fds, size_t max);

/* Read whatever the child pipes in FDS[0..N) have for us. */
void exec_handle_fds(const struct pollfd *fds, size_t n);

/* Collect exited children (after SIGCHLD). */
void exec_reap(void);

/* files.c: the guest-file-* commands; each takes the request's
 * "arguments" (may be NULL) and returns the complete reply. */
json_t *cmd_file_open(json_t *args);
json_t *cmd_file_close(json_t *args);
json_t *cmd_file_read(json_t *args);
json_t *cmd_file_write(json_t *args);
json_t *cmd_file_seek(json_t *args);
json_t *cmd_file_flush(json_t *args);

/* main.c */

/* In a forked child before exec: undo the agent's signal setup (SIGCHLD
 * blocked for the signalfd, SIGPIPE ignored), which exec would keep. */
void agent_child_signals(void);

/* commands.c */

/* Handle one request (the bytes of a JSON object). Returns the reply to
 * send, or NULL when there is none (guest-shutdown). *ret_delimit is set
 * when the reply must be preceded by a 0xFF byte. */
json_t *agent_dispatch(const char *req, size_t len, bool *ret_delimit);

/* Run the halt script with ACTION (poweroff, halt, reboot) in the
 * background, in its own session. Returns 0 or -errno. */
int agent_halt(const char *action);

#endif
