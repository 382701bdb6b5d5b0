/* console.h - the console multiplexer.
 *
 * QEMU's console chardev accepts one connection; a console_mux holds that
 * connection while at least one client is attached and copies guest output
 * to every client and client input to the guest. QEMU itself writes the
 * console log (chardev logfile=), so output is logged whether or not anyone
 * is attached, and across daemon restarts.
 */
#ifndef DOMUS_CONSOLE_H
#define DOMUS_CONSOLE_H

struct console_mux;

/* A mux for the chardev socket at SOCK_PATH (not connected until a client
 * attaches). NULL on allocation failure. */
struct console_mux *console_mux_new(const char *sock_path);

/* Hand CLIENT_FD (a connected stream) to the mux. Returns 0 (the mux owns
 * the fd) or -errno (the caller still owns it). */
int console_mux_attach(struct console_mux *m, int client_fd);

/* Disconnect every client and free. NULL is fine. */
void console_mux_free(struct console_mux *m);

#endif
