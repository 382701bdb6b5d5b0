"""The management API contract: docs/api.md matches the method table, and
every reply of a running daemon has the documented shape."""
import json
import socket
import subprocess
import sys

from conftest import BUILD, REPO, pv_cfg

sys.path.insert(0, str(REPO / "tools"))
import importlib.util
spec = importlib.util.spec_from_file_location("gen", REPO / "tools/gen-api-doc.py")
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)


def test_api_doc_is_current():
    assert (REPO / "docs/api.md").read_text() == gen.render(BUILD), \
        "docs/api.md is stale: run tools/gen-api-doc.py build docs/api.md"


def call(instance, method, params=None):
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(instance.root / "run/domus/domusd.sock"))
    s.sendall(json.dumps({"method": method, "params": params or {}}).encode() + b"\n")
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(65536)
        assert chunk, "daemon closed the connection"
        data += chunk
    s.close()
    return json.loads(data)


def test_replies_follow_the_contract(instance):
    methods = {m["method"] for m in json.loads(subprocess.run(
        [str(BUILD / "domusd"), "--describe-api"], capture_output=True, text=True).stdout)}
    instance.run("daemon", "start")
    assert set(call(instance, "ping")["result"]) == {"version", "pid"}
    listing = call(instance, "list")["result"]
    assert listing["host"]["name"] == "Domain-0" and listing["domains"] == []
    instance.run("create", "-p", pv_cfg(instance, "api"))
    dom = call(instance, "list")["result"]["domains"][0]
    for key in ("domid", "name", "mem_mb", "vcpus", "state", "cpu_time", "uuid", "start_time",
                "config"):
        assert key in dom, key
    err = call(instance, "destroy", {"domain": "nope"})["error"]
    assert err["code"] < 0 and "nope" in err["message"]
    err = call(instance, "no-such-method")["error"]
    assert "unknown method" in err["message"]
    for m in ("ping", "list", "info", "create", "destroy", "console", "wait"):
        assert m in methods
    assert call(instance, "destroy", {"domain": "api"}) == {"result": {}}
