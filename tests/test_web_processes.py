"""The service's processes (issue 17, items 13 and 14), on real ``lipsteeth serve`` servers.

Item 14: the job fork server (and the resource tracker) ran ``python -c`` with the
directory ``serve`` was started in at the head of ``sys.path``, so a ``token.py``
there was executed.  They start with a clean path now, whatever the working directory.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from .web_live import SERVE, TINY_PARAMS, LiveServer, wait_run

TINY_RUN = {"scenario": "baseline-2016", "years": 0.25, "replicates": 2, "params": TINY_PARAMS}

#: a planted stdlib name: it leaves a mark, then becomes the real module (nothing breaks)
PLANTED = """
import importlib.util, os, sysconfig
_here = os.path.dirname(os.path.abspath(__file__))
open(os.path.join(_here, "executed-%s-%d" % (__name__, os.getpid())), "w").close()
_spec = importlib.util.spec_from_file_location(
    __name__, os.path.join(sysconfig.get_paths()["stdlib"], __name__ + ".py")
)
_real = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_real)
globals().update({k: v for k, v in vars(_real).items() if not k.startswith("__")})
"""


def test_modules_in_the_working_directory_are_not_imported(tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    for name in ("token", "tokenize"):
        (cwd / f"{name}.py").write_text(PLANTED)
    srv = LiveServer(tmp_path / "state", workers=1, command=SERVE, cwd=cwd).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as client:
            run_id = client.post("/api/runs", json=TINY_RUN).json()["id"]
            status = wait_run(client, run_id, timeout=90)["status"]
    finally:
        srv.stop()
    executed = sorted(p.name for p in cwd.glob("executed-*"))
    assert executed == [], executed
    assert status == "succeeded", srv.log()
