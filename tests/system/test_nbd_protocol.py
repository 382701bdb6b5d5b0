"""`domus nbd-serve` spoken to byte by byte: what the NBD protocol says a
server must answer or refuse, and clients that misbehave (bad magic,
oversized lengths, requests past the end, vanishing mid-request, hundreds
of idle connections). After each abuse the server must still serve."""
import os
import socket
import struct
import time

import pytest

from test_nbd import Server, make_image, SIZE

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPLY_MAGIC = 0x3E889045565A9
REQ_MAGIC, SIMPLE_MAGIC, CHUNK_MAGIC = 0x25609513, 0x67446698, 0x668E33EF
OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_STARTTLS = 1, 2, 3, 5
OPT_INFO, OPT_GO, OPT_STRUCTURED, OPT_LIST_META, OPT_SET_META = 6, 7, 8, 9, 10
REP_ACK, REP_SERVER, REP_INFO, REP_META = 1, 2, 3, 4
ERR = 1 << 31
REP_ERR_UNSUP, REP_ERR_INVALID, REP_ERR_UNKNOWN, REP_ERR_TOO_BIG = ERR + 1, ERR + 3, ERR + 6, ERR + 9
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM, CMD_CACHE, CMD_ZEROES, CMD_BS = range(8)
FLAG_FUA, FLAG_NO_HOLE, FLAG_DF, FLAG_REQ_ONE, FLAG_FAST_ZERO = 1, 2, 4, 8, 16
EPERM, EINVAL, ENOSPC = 1, 22, 28
TF_READ_ONLY, TF_MULTI_CONN = 1 << 1, 1 << 8


class Client:
    """A minimal NBD client over a Unix socket."""

    def __init__(self, path, flags=3):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(20)
        self.s.connect(str(path))
        magic, opt, hflags = struct.unpack(">QQH", self.recv(18))
        assert (magic, opt) == (NBDMAGIC, IHAVEOPT) and hflags & 1
        self.s.sendall(struct.pack(">I", flags))
        self.structured = False

    def recv(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise EOFError(f"server closed after {len(buf)} of {n} bytes")
            buf += chunk
        return buf

    def closed(self):
        """True if the server hung up (end of stream, or a reset)."""
        try:
            return self.s.recv(1) == b""
        except ConnectionResetError:
            return True

    def option(self, opt, data=b""):
        self.s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)

    def reply(self):
        magic, opt, typ, length = struct.unpack(">QIII", self.recv(20))
        assert magic == REPLY_MAGIC
        return opt, typ, self.recv(length)

    def replies(self):
        """Option replies up to the final ACK or error."""
        out = []
        while True:
            out.append(self.reply())
            if out[-1][1] == REP_ACK or out[-1][1] & ERR:
                return out

    def go(self, name=b"", structured=False, meta=False):
        if structured:
            self.option(OPT_STRUCTURED)
            assert self.reply()[1] == REP_ACK
            self.structured = True
        if meta:
            q = b"base:allocation"
            self.option(OPT_SET_META, struct.pack(">I", len(name)) + name +
                        struct.pack(">II", 1, len(q)) + q)
            assert [r[1] for r in self.replies()] == [REP_META, REP_ACK]
        self.option(OPT_GO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
        reps = self.replies()
        assert reps[-1][1] == REP_ACK, reps
        info = [r[2] for r in reps if r[1] == REP_INFO and r[2][:2] == b"\0\0"][0]
        self.size, self.tflags = struct.unpack(">QH", info[2:])
        return self

    def request(self, cmd, offset=0, length=0, flags=0, data=b"", cookie=7):
        self.s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, flags, cmd, cookie, offset, length)
                       + data)

    def simple(self, length=0, cookie=7):
        magic, err, got = struct.unpack(">IIQ", self.recv(16))
        assert magic == SIMPLE_MAGIC and got == cookie
        return err, (self.recv(length) if err == 0 else b"")

    def simples(self, lengths):
        """Simple replies in any order (requests in flight may complete in
        any order): LENGTHS maps each cookie to its read length (0 for
        other commands); returns {cookie: (error, payload)}."""
        out = {}
        while len(out) < len(lengths):
            magic, err, got = struct.unpack(">IIQ", self.recv(16))
            assert magic == SIMPLE_MAGIC and got in lengths and got not in out
            out[got] = (err, self.recv(lengths[got]) if err == 0 else b"")
        return out

    def chunks(self, cookie=7):
        out = []
        while True:
            magic, flags, typ, got, length = struct.unpack(">IHHQI", self.recv(20))
            assert magic == CHUNK_MAGIC and got == cookie
            out.append((typ, self.recv(length)))
            if flags & 1:
                return out

    def cmd(self, cmd, offset=0, length=0, flags=0, data=b""):
        """Send one request; returns (error, payload) from a simple reply."""
        self.request(cmd, offset, length, flags, data)
        return self.simple(length if cmd == CMD_READ else 0)

    def close(self):
        self.s.close()


@pytest.fixture
def server(instance):
    img = instance.root / "disk.img"
    make_image(img)
    sock = instance.root / "nbd.sock"
    srv = Server(instance, img, "--unix", sock)
    srv.wait_unix(sock)
    srv.sock, srv.img = sock, img
    try:
        yield srv
        # Whatever the test did, the server must still serve a clean client.
        c = Client(sock).go()
        assert c.cmd(CMD_READ, 0, 4096) == (0, bytes(4096))
        c.request(CMD_DISC)
        assert c.closed()
        assert srv.proc.poll() is None, "the server died"
    finally:
        srv.stop()


@pytest.fixture
def ro_server(instance):
    img = instance.root / "ro.img"
    make_image(img)
    sock = instance.root / "ro.sock"
    srv = Server(instance, img, "--unix", sock, extra=["--readonly"])
    srv.wait_unix(sock)
    srv.sock = sock
    try:
        yield srv
    finally:
        srv.stop()


def test_bad_client_flags_close(server):
    c = Client(server.sock, flags=0x80)
    assert c.closed()


def test_bad_option_magic_closes(server):
    c = Client(server.sock)
    c.s.sendall(struct.pack(">QII", 0x1234, OPT_LIST, 0))
    assert c.closed()


def test_option_errors(server):
    c = Client(server.sock)
    c.option(0x4242)
    assert c.reply()[1] == REP_ERR_UNSUP
    c.option(OPT_STARTTLS)
    assert c.reply()[1] == REP_ERR_UNSUP
    c.option(OPT_LIST, b"junk")
    assert c.reply()[1] == REP_ERR_INVALID
    c.option(OPT_GO, struct.pack(">I", 4) + b"nope" + struct.pack(">H", 0))
    assert c.reply()[1] == REP_ERR_UNKNOWN
    c.option(OPT_GO, struct.pack(">I", 400) + b"short")
    assert c.reply()[1] == REP_ERR_INVALID
    c.option(OPT_SET_META, struct.pack(">II", 0, 0))  # before structured replies
    assert c.reply()[1] == REP_ERR_INVALID
    c.option(OPT_LIST, bytes(100_000))  # oversized: skipped and refused
    assert c.reply()[1] == REP_ERR_TOO_BIG
    c.option(OPT_LIST)
    reps = c.replies()
    assert [r[1] for r in reps] == [REP_SERVER, REP_ACK]
    c.option(OPT_ABORT)
    assert c.reply()[1] == REP_ACK and c.closed()


def test_huge_option_length_closes(server):
    c = Client(server.sock)
    c.s.sendall(struct.pack(">QII", IHAVEOPT, OPT_LIST, 0xFFFFFFFF))
    assert c.closed()


def test_export_name_unknown_closes(server):
    c = Client(server.sock)
    c.option(OPT_EXPORT_NAME, b"nope")
    assert c.closed()


def test_export_name_old_style_and_no_zeroes(server):
    c = Client(server.sock, flags=1)  # fixed newstyle, zero padding wanted
    c.option(OPT_EXPORT_NAME, b"")
    size, tflags = struct.unpack(">QH", c.recv(10))
    assert size == SIZE and c.recv(124) == bytes(124)
    assert c.cmd(CMD_READ, 0, 512) == (0, bytes(512))


def test_info_reports_block_sizes_and_name(server):
    c = Client(server.sock)
    c.option(OPT_INFO, struct.pack(">IH", 0, 2) + struct.pack(">HH", 1, 3))
    reps = {r[2][:2]: r[2][2:] for r in c.replies() if r[1] == REP_INFO}
    assert struct.unpack(">QH", reps[b"\0\0"])[0] == SIZE
    assert struct.unpack(">III", reps[b"\0\3"]) == (1, 4096, 32 << 20)
    assert reps[b"\0\1"] == b""


def test_transmission_errors(server):
    c = Client(server.sock).go()
    assert c.tflags & TF_MULTI_CONN and not c.tflags & TF_READ_ONLY
    assert c.cmd(CMD_READ, SIZE - 512, 1024)[0] == EINVAL
    assert c.cmd(CMD_READ, 1 << 62, 512)[0] == EINVAL
    assert c.cmd(CMD_READ, 0, 0)[0] == EINVAL
    assert c.cmd(CMD_WRITE, SIZE - 512, 1024, data=bytes(1024))[0] == ENOSPC
    assert c.cmd(CMD_TRIM, SIZE, 4096)[0] == EINVAL
    assert c.cmd(CMD_ZEROES, SIZE - 1, 2)[0] == ENOSPC
    assert c.cmd(42)[0] == EINVAL
    assert c.cmd(CMD_READ, 0, 512, flags=0x100)[0] == EINVAL
    assert c.cmd(CMD_READ, 0, 512, flags=FLAG_DF)[0] == EINVAL  # DF needs structured
    assert c.cmd(CMD_FLUSH, 0, 1)[0] == EINVAL
    assert c.cmd(CMD_BS, 0, 4096)[0] == EINVAL  # no meta context
    # A write larger than the maximum block size: payload skipped, EINVAL.
    assert c.cmd(CMD_WRITE, 0, 40 << 20, data=bytes(40 << 20))[0] == EINVAL
    # The largest request there is, both ways (buffers grow, then shrink).
    big = os.urandom(32 << 20)
    assert c.cmd(CMD_WRITE, 16 << 20, len(big), data=big) == (0, b"")
    assert c.cmd(CMD_READ, 16 << 20, len(big)) == (0, big)
    assert c.cmd(CMD_WRITE, 4096, 4, data=b"abcd", flags=FLAG_FUA) == (0, b"")
    assert c.cmd(CMD_READ, 4096, 4) == (0, b"abcd")
    c.s.sendall(struct.pack(">IHHQQI", 0xDEADBEEF, 0, CMD_READ, 1, 0, 512))
    assert c.closed()
    time.sleep(0.1)
    assert "client connection ended: Protocol error" in server.logpath.read_text()


def test_readonly_refuses_writes(ro_server):
    c = Client(ro_server.sock).go()
    assert c.tflags & TF_READ_ONLY
    assert c.cmd(CMD_WRITE, 0, 512, data=bytes(512))[0] == EPERM
    assert c.cmd(CMD_TRIM, 0, 512)[0] == EPERM
    assert c.cmd(CMD_ZEROES, 0, 512)[0] == EPERM
    assert c.cmd(CMD_READ, 0, 512) == (0, bytes(512))


def test_structured_read_and_block_status(server):
    c = Client(server.sock).go(structured=True, meta=True)
    data = os.urandom(8192)
    assert c.cmd(CMD_WRITE, 1 << 20, 8192, data=data)[0] == 0
    c.request(CMD_READ, 1 << 20, 8192, flags=FLAG_DF)
    (typ, payload), = c.chunks()
    assert typ == 1 and payload == struct.pack(">Q", 1 << 20) + data
    c.request(CMD_READ, SIZE, 512)
    (typ, payload), = c.chunks()
    assert typ == 0x8001 and struct.unpack(">I", payload[:4])[0] == EINVAL
    c.request(CMD_BS, 0, 16 << 20)
    (typ, payload), = c.chunks()
    assert typ == 5 and struct.unpack(">I", payload[:4])[0] == 1
    ext = list(struct.iter_unpack(">II", payload[4:]))
    assert sum(e[0] for e in ext) <= 16 << 20 and ext[0] == (1 << 20, 3)
    assert ext[1][1] == 0  # the data just written
    c.request(CMD_BS, 0, 16 << 20, flags=FLAG_REQ_ONE)
    (typ, payload), = c.chunks()
    assert len(payload) == 12
    # WRITE_ZEROES with and without NO_HOLE / FAST_ZERO reads back zeroes.
    for flags in (0, FLAG_NO_HOLE, FLAG_FAST_ZERO, FLAG_FUA):
        assert c.cmd(CMD_WRITE, 1 << 20, 8192, data=data)[0] == 0
        c.request(CMD_ZEROES, 1 << 20, 8192, flags=flags)
        assert c.simple()[0] == 0
        c.request(CMD_READ, 1 << 20, 8192)
        assert c.chunks()[0][1][8:] == bytes(8192)


def test_multi_conn_flush_covers_other_connections(server):
    a = Client(server.sock).go()
    b = Client(server.sock).go()
    data = os.urandom(65536)
    assert a.cmd(CMD_WRITE, 2 << 20, len(data), data=data)[0] == 0
    assert b.cmd(CMD_FLUSH) == (0, b"")
    assert b.cmd(CMD_READ, 2 << 20, len(data)) == (0, data)
    with open(server.img, "rb") as f:
        f.seek(2 << 20)
        assert f.read(len(data)) == data


def test_pipelined_requests_keep_cookies(server):
    """64 writes, then 64 reads, each sent in one go: every reply carries its
    request's cookie (in any order: requests in flight may complete in any
    order, so reads wait for the writes' replies)."""
    BASE = 16 << 20
    c = Client(server.sock).go()
    blocks = [os.urandom(4096) for _ in range(64)]
    batch = b""
    for i, blk in enumerate(blocks):
        batch += struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_WRITE, i, BASE + i * 4096, 4096) + blk
    c.s.sendall(batch)
    writes = c.simples({i: 0 for i in range(64)})
    assert all(r == (0, b"") for r in writes.values())
    batch = b""
    for i in range(64):
        batch += struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_READ, 1000 + i, BASE + i * 4096, 4096)
    c.s.sendall(batch)
    reads = c.simples({1000 + i: 4096 for i in range(64)})
    assert reads == {1000 + i: (0, blocks[i]) for i in range(64)}


def test_client_vanishing_mid_request(server):
    for cut in (10, 28 + 1000):
        c = Client(server.sock).go()
        c.s.sendall((struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_WRITE, 1, 0, 1 << 20)
                     + bytes(1 << 20))[:cut])
        c.close()
    # A reader that leaves before taking its replies (SIGPIPE territory).
    c = Client(server.sock).go()
    for i in range(32):
        c.request(CMD_READ, 0, 1 << 20, cookie=i)
    c.close()
    time.sleep(0.2)


def test_slow_client_gets_every_reply(server):
    slow = Client(server.sock).go()
    for i in range(48):  # 48 MiB of replies the client does not read yet
        slow.request(CMD_READ, (i % 32) << 20, 1 << 20, cookie=i)
    other = Client(server.sock).go()  # others are served meanwhile
    assert other.cmd(CMD_READ, 0, 4096) == (0, bytes(4096))
    time.sleep(1)
    got = slow.simples({i: 1 << 20 for i in range(48)})
    assert all(err == 0 and len(data) == 1 << 20 for err, data in got.values())


def test_concurrent_writers_on_many_connections(server):
    import threading
    blocks = {i: os.urandom(65536) for i in range(64)}

    def writer(k):
        c = Client(server.sock).go()
        for i in range(k, 64, 8):
            assert c.cmd(CMD_WRITE, (32 << 20) + i * 65536, 65536, data=blocks[i])[0] == 0
        assert c.cmd(CMD_FLUSH) == (0, b"")
        c.close()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reader = Client(server.sock).go()
    for i in range(64):
        assert reader.cmd(CMD_READ, (32 << 20) + i * 65536, 65536) == (0, blocks[i])


def fds_and_threads(pid):
    with open(f"/proc/{pid}/status") as f:
        threads = next(int(line.split()[1]) for line in f if line.startswith("Threads:"))
    return len(os.listdir(f"/proc/{pid}/fd")), threads


def settled(pid):
    """fds_and_threads once it held still for half a second (the previous
    test's connections may still be winding down)."""
    last, still = fds_and_threads(pid), 0
    for _ in range(100):
        time.sleep(0.05)
        now = fds_and_threads(pid)
        still = still + 1 if now == last else 0
        if still >= 10:
            break
        last = now
    return last


def test_hundreds_of_idle_connections(server):
    before = settled(server.proc.pid)
    idle = []
    for _ in range(300):
        idle.append(Client(server.sock))
    half_done = [Client(server.sock).go() for _ in range(50)]
    c = Client(server.sock).go()
    assert c.cmd(CMD_READ, 0, 4096) == (0, bytes(4096))
    assert fds_and_threads(server.proc.pid)[0] >= before[0] + 351
    for x in idle + half_done + [c]:
        x.close()
    # Every connection's fd and thread goes away again: nothing leaks (a
    # thread of an earlier test that was still ending may be gone too).
    for _ in range(100):
        after = fds_and_threads(server.proc.pid)
        if after[0] == before[0] and after[1] <= before[1]:
            break
        time.sleep(0.05)
    assert after[0] == before[0] and after[1] <= before[1], (before, after)


def test_parallel_overlapping_writes_match_a_model(server):
    """8 connections, each rewriting its own 4 MiB lane in bursts: a 1 MiB
    write (run by a worker), 4 KiB writes (on the connection thread, some
    FUA), a write-zeroes, all sent in one go; each burst overlaps the
    previous one's bytes and waits for its replies, so the result is
    defined. Then a flush, and every byte must match the model."""
    import random
    import threading
    BASE, LANE = 24 << 20, 4 << 20
    model = bytearray(8 * LANE)
    errors = []

    def lane(k):
        try:
            run_lane(k)
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append((k, e))

    def run_lane(k):
        rnd = random.Random(k)
        c = Client(server.sock).go()
        mine = model[k * LANE:(k + 1) * LANE]
        for burst in range(6):
            reqs, lengths = [], {}
            big = rnd.randrange(0, LANE - (1 << 20), 512)
            reqs.append((CMD_WRITE, big, os.urandom(1 << 20), 0))
            for i in range(24):  # disjoint 4 KiB blocks inside or around it
                reqs.append((CMD_WRITE, (rnd.randrange(0, LANE // 8192)) * 8192, os.urandom(4096),
                             FLAG_FUA if i % 5 == 0 else 0))
            zoff = rnd.randrange(0, LANE - 65536, 8192) | 4096
            reqs.append((CMD_ZEROES, zoff, b"", 0))
            # Within a burst requests may run in any order: keep them disjoint.
            taken, batch = [], b""
            for n, (cmd, off, data, flags) in enumerate(reqs):
                length = len(data) if cmd == CMD_WRITE else 65536
                if any(off < e and s < off + length for s, e in taken):
                    continue
                taken.append((off, off + length))
                batch += struct.pack(">IHHQQI", REQ_MAGIC, flags, cmd, n, BASE + k * LANE + off,
                                     length) + data
                mine[off:off + length] = data if cmd == CMD_WRITE else bytes(length)
                lengths[n] = 0
            c.s.sendall(batch)
            if any(r != (0, b"") for r in c.simples(lengths).values()):
                errors.append((k, burst))
        assert c.cmd(CMD_FLUSH) == (0, b"")
        model[k * LANE:(k + 1) * LANE] = mine
        c.close()

    threads = [threading.Thread(target=lane, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with open(server.img, "rb") as f:
        f.seek(BASE)
        assert f.read(len(model)) == bytes(model)
    reader = Client(server.sock).go()
    for off in range(0, len(model), 1 << 20):
        assert reader.cmd(CMD_READ, BASE + off, 1 << 20) == (0, bytes(model[off:off + (1 << 20)]))


def test_disc_waits_for_requests_in_flight(server):
    """Large writes and reads, a flush and DISC sent in one go: every request
    is answered before the server closes, and the writes are in the file."""
    BASE = 40 << 20
    c = Client(server.sock).go()
    blocks = [os.urandom(1 << 20) for _ in range(8)]
    batch, lengths = b"", {}
    for i, blk in enumerate(blocks):
        batch += struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_WRITE, i, BASE + (i << 20), 1 << 20) + blk
        lengths[i] = 0
    for i in range(8):  # reads of other bytes, run by workers meanwhile
        batch += struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_READ, 100 + i, (8 << 20) + (i << 19),
                             1 << 19)
        lengths[100 + i] = 1 << 19
    batch += struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_FLUSH, 200, 0, 0)
    lengths[200] = 0
    batch += struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_DISC, 300, 0, 0)
    c.s.sendall(batch)
    got = c.simples(lengths)
    assert all(err == 0 for err, _ in got.values())
    with open(server.img, "rb") as f:
        f.seek(8 << 20)
        disk = f.read(4 << 20)
        for i in range(8):
            assert got[100 + i][1] == disk[i << 19:(i + 1) << 19]
        f.seek(BASE)
        assert f.read(8 << 20) == b"".join(blocks)
    assert c.closed()


def test_slow_request_does_not_hold_up_the_connection(server):
    """A client that never reads the replies to its 1 MiB reads on one
    connection does not stop a small read on the same export from being
    answered on another, nor a small read queued behind them on the same
    connection once it reads."""
    slow = Client(server.sock).go()
    for i in range(24):
        slow.request(CMD_READ, i << 20, 1 << 20, cookie=i)
    slow.request(CMD_READ, 0, 4096, cookie=99)
    other = Client(server.sock).go()
    t0 = time.monotonic()
    assert other.cmd(CMD_READ, 4096, 4096) == (0, bytes(4096))
    assert time.monotonic() - t0 < 5
    lengths = {i: 1 << 20 for i in range(24)}
    lengths[99] = 4096
    got = slow.simples(lengths)
    assert all(err == 0 for err, _ in got.values())
