"""`domus nbd-serve --tls`: STARTTLS with X.509 certificates made by certtool,
checked with nbdinfo, nbdcopy and qemu-img, and the TLS-required mode's
refusals spoken to byte by byte."""
import shutil
import struct
import subprocess

import pytest

from test_nbd import Server, make_image, need, run, sha256, SIZE
from test_nbd_protocol import Client, OPT_GO, OPT_LIST, OPT_EXPORT_NAME, OPT_STARTTLS, REP_ACK

REP_ERR_TLS_REQD = (1 << 31) + 5


def certtool(*args):
    subprocess.run(["certtool", *map(str, args)], check=True, capture_output=True)


@pytest.fixture
def certs(instance):
    """A CA and a server certificate for localhost, in qemu/nbdkit layout."""
    need("certtool")
    d = instance.root / "pki"
    d.mkdir()
    (d / "ca.info").write_text("cn = Domus test CA\nca\ncert_signing_key\nexpiration_days = 2\n")
    (d / "server.info").write_text("organization = Domus\ncn = localhost\ndns_name = localhost\n"
                                   "ip_address = 127.0.0.1\ntls_www_server\nencryption_key\n"
                                   "signing_key\nexpiration_days = 2\n")
    certtool("--generate-privkey", "--outfile", d / "ca-key.pem")
    certtool("--generate-self-signed", "--load-privkey", d / "ca-key.pem",
             "--template", d / "ca.info", "--outfile", d / "ca-cert.pem")
    certtool("--generate-privkey", "--outfile", d / "server-key.pem")
    certtool("--generate-certificate", "--load-ca-certificate", d / "ca-cert.pem",
             "--load-ca-privkey", d / "ca-key.pem", "--load-privkey", d / "server-key.pem",
             "--template", d / "server.info", "--outfile", d / "server-cert.pem")
    return d


def serve_tls(instance, certs, mode):
    img = instance.root / "disk.img"
    make_image(img)
    sock = instance.root / "tls.sock"
    srv = Server(instance, img, "--unix", sock,
                 extra=["--tls", mode, "--tls-certificates", certs])
    srv.wait_unix(sock)
    srv.sock, srv.img = sock, img
    return srv


def tls_uri(srv, certs):
    return f"nbds+unix:///?socket={srv.sock}&tls-certificates={certs}"


def test_tls_required_interop(instance, certs):
    need("nbdinfo")
    need("nbdcopy")
    srv = serve_tls(instance, certs, "require")
    try:
        uri = tls_uri(srv, certs)
        assert "with TLS" in run("nbdinfo", uri)
        out = instance.root / "out.raw"
        run("nbdcopy", uri, out)
        assert sha256(out) == sha256(srv.img)
        src = instance.root / "src.raw"
        src.write_bytes(bytes(range(256)) * (SIZE // 256))
        run("nbdcopy", src, uri)
        assert sha256(srv.img) == sha256(src)
        plain = subprocess.run(["nbdinfo", f"nbd+unix:///?socket={srv.sock}"],
                               capture_output=True, text=True, timeout=30)
        assert plain.returncode != 0
    finally:
        srv.stop()


def test_tls_qemu_img(instance, certs):
    need("qemu-img")
    srv = serve_tls(instance, certs, "on")
    try:
        out = instance.root / "out.raw"
        run("qemu-img", "convert", "--object",
            f"tls-creds-x509,id=tls0,dir={certs},endpoint=client", "--image-opts",
            f"driver=nbd,path={srv.sock},tls-creds=tls0,tls-hostname=localhost",
            "-O", "raw", out)
        assert sha256(out) == sha256(srv.img)
        # TLS "on" still serves clients that stay in clear.
        run("qemu-img", "info", f"nbd+unix:///?socket={srv.sock}")
    finally:
        srv.stop()


def test_tls_required_refusals(instance, certs):
    srv = serve_tls(instance, certs, "require")
    try:
        c = Client(srv.sock)
        c.option(OPT_LIST)
        assert c.reply()[1] == REP_ERR_TLS_REQD
        c.option(OPT_GO, struct.pack(">IH", 0, 0))
        assert c.reply()[1] == REP_ERR_TLS_REQD
        c.option(OPT_STARTTLS, b"x")
        assert c.reply()[1] == (1 << 31) + 3
        c.option(OPT_EXPORT_NAME)
        assert c.closed()
        # Bytes pushed behind STARTTLS, before the ACK, end the session.
        c = Client(srv.sock)
        c.s.sendall(struct.pack(">QII", 0x49484156454F5054, OPT_STARTTLS, 0) + b"junk")
        assert c.reply()[1] == REP_ACK and c.closed()
        # A failed TLS handshake too.
        c = Client(srv.sock)
        c.option(OPT_STARTTLS)
        assert c.reply()[1] == REP_ACK
        c.s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert c.closed()
    finally:
        srv.stop()


def test_tls_bad_certificates_dir(instance):
    img = instance.root / "disk.img"
    make_image(img, 1 << 20)
    p = instance.run("nbd-serve", img, "--unix", instance.root / "s.sock", "--tls", "require",
                     "--tls-certificates", instance.root / "nope", check=False)
    assert p.returncode == 1 and "cannot load TLS certificates" in p.stderr
    p = instance.run("nbd-serve", img, "--unix", instance.root / "s.sock", "--tls", "require",
                     check=False)
    assert p.returncode == 2
