"""Host-side client of the QEMU guest agent protocol, for system tests.

    agent = GuestAgent("/run/.../qga.sock")   # QEMU's chardev socket
    agent.ping()
    rc, out, err = agent.exec("uname -r", timeout=30)
    agent.write_file("/tmp/f", b"data"); agent.read_file("/tmp/f")
    agent.shutdown("powerdown")

Every command starts with guest-sync-delimited: the agent answers with a
0xFF byte before the reply, so whatever a previous client left in the
channel (a partial request, an unread reply) is skipped. Socket paths longer
than a sun_path holds are reached through /proc/self/fd/N/NAME of an
O_PATH descriptor on their directory.
"""
import base64
import json
import os
import random
import socket
import time

SUN_PATH_MAX = 107


class AgentError(Exception):
    """The agent answered with an error, or did not answer in time."""


class GuestAgent:
    def __init__(self, sock_path, connect_timeout=30.0):
        self.sock_path = str(sock_path)
        self.sock = None
        self.buf = b""
        self._connect(connect_timeout)

    def _connect(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self._connect_path(s)
                self.sock = s
                return
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _connect_path(self, s):
        path = self.sock_path
        if len(path.encode()) <= SUN_PATH_MAX:
            s.connect(path)
            return
        dfd = os.open(os.path.dirname(path) or ".", os.O_PATH)
        try:
            s.connect(f"/proc/self/fd/{dfd}/{os.path.basename(path)}")
        finally:
            os.close(dfd)

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- wire -------------------------------------------------------------

    def _send(self, execute, arguments=None):
        msg = {"execute": execute}
        if arguments is not None:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")

    def _recv_message(self, deadline):
        """Next JSON object the agent sent (objects are newline-terminated)."""
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AgentError("timed out waiting for the guest agent")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise AgentError("guest agent connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        line = line.strip()
        if not line:
            return self._recv_message(deadline)
        return json.loads(line)

    def sync(self, timeout=30.0):
        """Resynchronise: send guest-sync-delimited until its reply comes."""
        deadline = time.monotonic() + timeout
        while True:
            token = random.randrange(1, 2**31)
            # A 0xFF first makes the agent drop any partial request.
            self.sock.sendall(b"\xff")
            self._send("guest-sync-delimited", {"id": token})
            attempt_end = min(deadline, time.monotonic() + 2.0)
            try:
                while True:
                    self._skip_to_delimiter(attempt_end)
                    reply = self._recv_message(attempt_end)
                    if reply.get("return") == token:
                        return
            except AgentError:
                if time.monotonic() >= deadline:
                    raise

    def _skip_to_delimiter(self, deadline):
        while b"\xff" not in self.buf:
            self.buf = b""
            left = deadline - time.monotonic()
            if left <= 0:
                raise AgentError("timed out waiting for guest-sync-delimited")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise AgentError("guest agent connection closed")
            self.buf += chunk
        self.buf = self.buf[self.buf.index(b"\xff") + 1:]

    def command(self, execute, arguments=None, timeout=30.0):
        """Run one command and return its "return" value."""
        self.sync(timeout)
        self._send(execute, arguments)
        reply = self._recv_message(time.monotonic() + timeout)
        if "error" in reply:
            raise AgentError(f"{execute}: {reply['error'].get('desc', reply['error'])}")
        return reply.get("return")

    # -- commands ---------------------------------------------------------

    def ping(self, timeout=30.0):
        self.command("guest-ping", timeout=timeout)

    def info(self):
        return self.command("guest-info")

    def shutdown(self, mode="powerdown"):
        """Ask for a clean shutdown; on success the agent sends no reply."""
        self.sync()
        self._send("guest-shutdown", {"mode": mode})

    def read_file(self, path, chunk=1 << 20):
        """The contents of guest file PATH (bytes), via guest-file-*."""
        handle = self.command("guest-file-open", {"path": path, "mode": "r"})
        data = b""
        try:
            while True:
                r = self.command("guest-file-read", {"handle": handle, "count": chunk})
                data += base64.b64decode(r["buf-b64"])
                if r["eof"] or r["count"] == 0:
                    return data
        finally:
            self.command("guest-file-close", {"handle": handle})

    def write_file(self, path, data, chunk=1 << 20):
        """Create or replace guest file PATH with DATA (bytes or str)."""
        if isinstance(data, str):
            data = data.encode()
        handle = self.command("guest-file-open", {"path": path, "mode": "w"})
        try:
            for off in range(0, len(data), chunk):
                piece = data[off:off + chunk]
                self.command("guest-file-write", {
                    "handle": handle, "buf-b64": base64.b64encode(piece).decode()})
        finally:
            self.command("guest-file-close", {"handle": handle})

    def exec(self, cmd, timeout=60.0, input=None):
        """Run `/bin/sh -c CMD` in the guest; return (rc, stdout, stderr).

        rc is the exit code, or -SIGNAL when the command was killed."""
        args = {"path": "/bin/sh", "arg": ["-c", cmd], "capture-output": True}
        if input is not None:
            data = input.encode() if isinstance(input, str) else input
            args["input-data"] = base64.b64encode(data).decode()
        pid = self.command("guest-exec", args, timeout=timeout)["pid"]
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            st = self.command("guest-exec-status", {"pid": pid},
                              timeout=max(1.0, deadline - time.monotonic()))
            if st.get("exited"):
                break
            if time.monotonic() > deadline:
                raise AgentError(f"command timed out in the guest: {cmd}")
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        out = base64.b64decode(st.get("out-data", "")).decode(errors="replace")
        err = base64.b64decode(st.get("err-data", "")).decode(errors="replace")
        rc = st["exitcode"] if "exitcode" in st else -st.get("signal", 0)
        return rc, out, err
