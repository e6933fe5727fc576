"""Flame graphs of the import path, sampled with py-spy from the running server.

Two SVGs under bench/results/: first imports of a fresh report (import-first.svg) and
unchanged next runs (import-unchanged.svg), each over a few imports so that the
sampling sees enough of every phase. Sampling slows the server a little: these runs
are not the timed ones.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench import generator
from bench.harness import RESULTS, Context, Result, database, log, post_import
from bench.server import Server


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return found if Path(found).exists() else None


def run(ctx: Context) -> list[Result]:
    binary = py_spy()
    if binary is None:
        log("profile: py-spy is not installed (pip install '.[test]'); skipped")
        return [Result("import profile", "sqlite", "skipped", "py-spy missing", 0, "", None)]
    size, repeat = (2_000, 2) if ctx.quick else (10_000, 3)
    renderer = generator.Renderer()
    items = generator.initial_items(size)
    reports = [renderer.report(items, tag=str(n)) for n in range(repeat + 1)]
    prefix = "quick-" if ctx.quick else ""  # quick runs keep the full run's graphs
    outputs = {}
    with (
        database("sqlite", ctx.workdir, "profile") as url,
        Server(url) as server,
        server.client() as client,
    ):
        post_import(client, renderer.report(items[:100], tag="warmup"), "warmup", "CI-main-1")
        with _recording(binary, server.pid, RESULTS / f"{prefix}import-first.svg") as path:
            for n in range(repeat):
                post_import(client, reports[0], f"profile-{n}", "CI-main-1000")
        outputs["first"] = path
        with _recording(binary, server.pid, RESULTS / f"{prefix}import-unchanged.svg") as path:
            for n in range(1, repeat + 1):
                post_import(client, reports[n], "profile-0", f"CI-main-{1000 + n}")
        outputs["unchanged"] = path
    names = ", ".join(f"{path.relative_to(RESULTS.parents[1])}" for path in outputs.values())
    log(f"profile: {names}")
    return [
        Result(
            scenario=f"import profile ({size:,} findings, py-spy)",
            database="sqlite",
            figure="flame graphs",
            reference=names,
            value=0,
            target="",
            passed=None,
            details={key: str(path) for key, path in outputs.items()},
        )
    ]


class _recording:
    """py-spy record --pid … for the duration of a with-block."""

    def __init__(self, binary: str, pid: int, output: Path) -> None:
        self.command = [
            binary,
            "record",
            "--pid",
            str(pid),
            "--rate",
            "200",
            "--format",
            "flamegraph",
            "--function",  # one frame per function, not per line: easier to read
            "--nonblocking",  # sample without pausing the server
            "--output",
            str(output),
        ]
        self.output = output
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        time.sleep(1)  # let py-spy attach before the first request
        return self.output

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        _, error = self.process.communicate(timeout=60)
        if not self.output.exists():
            raise RuntimeError(f"py-spy wrote no profile: {error.decode()[-500:]}")
