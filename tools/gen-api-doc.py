#!/usr/bin/python3
"""Write docs/api.md from the daemon's method table (domusd --describe-api).

Usage: tools/gen-api-doc.py BUILD_DIR [OUTPUT]   (OUTPUT '-' = stdout)
tests/system/test_api.py checks that the committed file is current.
"""
import json
import subprocess
import sys


def render(build):
    methods = json.loads(subprocess.run([f"{build}/domusd", "--describe-api"],
                                        capture_output=True, text=True, check=True).stdout)
    out = ["# The domusd management API", "",
           "Generated from `src/daemon/api-methods.def` by `tools/gen-api-doc.py`;",
           "do not edit by hand.", "",
           "`domus` talks to `domusd` over the Unix socket `run/domus/domusd.sock` under",
           "the instance root. Each message is one JSON object on one line. A request is",
           '`{"method": M, "params": {...}}`; the reply is `{"result": ...}` or',
           '`{"error": {"code": -errno, "message": "..."}}`. Requests on one',
           "connection are answered in order; `console` turns the connection into a raw",
           "byte stream after its reply.", "",
           "| method | params | result | what it does |", "|---|---|---|---|"]
    for m in methods:
        out.append(f"| `{m['method']}` | `{m['params']}` | `{m['result']}` | {m['summary']} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    text = render(sys.argv[1])
    if len(sys.argv) > 2 and sys.argv[2] != "-":
        open(sys.argv[2], "w").write(text)
    else:
        sys.stdout.write(text)
