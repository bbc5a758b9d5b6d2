"""The resident worker: `lbguard serve` keeps an interpreter with the CLI, Pulumi,
pulumi_aws, moto, botocore's models and the policy pack's modules imported; every
`lbguard` command finds it and runs in a child forked from it (issue 15).

Why a fork per command: the child starts from the parent's imports and caches but from
no run's state. The parent runs at most one warm-up preflight (:func:`warm_up`) and
leaves it as a second run in one process starts: moto's backends and the Pulumi runtime
reset, the program's and the pack's own modules purged (``components/`` is imported from
disk in each child), no thread alive; whatever a command does dies with its child. The
policy pack runs in the child's own interpreter (``InProcessPack``), so no thread or gRPC
server exists when the parent forks.

Protocol (a Unix socket only this user can open, one command per connection): the client
sends a length-prefixed JSON request (argv, cwd, environment) with its standard input,
output and error attached (``SCM_RIGHTS``), so the child writes to the user's terminal or
pipe directly and sees the same width, colour and ``isatty`` a local run sees. The child
answers ``{"pid": N}`` when it starts and ``{"rc": N}`` when it ends; a Ctrl-C in the
client is passed on to the child as SIGINT.

Staleness: when a file of the loaded ``lbguard`` package changed after the worker started
(an upgrade, an edit in a checkout), the worker answers ``{"stale": true}`` and exits; the
client then runs the command itself. ``LBGUARD_WORKER=0`` never uses a worker.

This module's top level imports only the standard library: the console script's client
side runs before click or anything heavy is imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import struct
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
DEFAULT_IDLE = 900.0  # seconds without a command before the worker exits


def socket_path() -> Path:
    """One worker per interpreter and lbguard installation, in a directory only this user can read."""
    key = hashlib.sha1(f"{sys.prefix}\0{PACKAGE_DIR}".encode()).hexdigest()[:12]
    base = os.environ.get("LBGUARD_WORKER_DIR") or os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    return Path(base) / f"lbguard-{os.getuid()}" / f"worker-{key}.sock"


def checked_socket_path() -> Path:
    path = socket_path()
    if len(os.fsencode(path)) > 107:  # sun_path holds 108 bytes with its terminating NUL (unix(7))
        from lbguard.core.model import LbguardError

        raise LbguardError(f"{path}: a Unix socket path can be at most 107 bytes; "
                      "set LBGUARD_WORKER_DIR to a shorter directory")
    return path


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        from lbguard.core.model import LbguardError

        raise LbguardError(f"{path}: not private to this user (owner uid {st.st_uid}, mode {oct(st.st_mode & 0o777)}); "
                      "remove it or set LBGUARD_WORKER_DIR")


# -- client (the console script, before click is imported) -------------------------------

def _send_request(conn: socket.socket, argv: list[str]) -> None:
    body = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    data = struct.pack("!I", len(body)) + body
    sent = socket.send_fds(conn, [data], [0, 1, 2])
    if sent < len(data):
        conn.sendall(data[sent:])


def run_through_worker(argv: list[str]) -> int | None:
    """The command's exit code when a worker ran it; None when there is no usable worker
    (the caller then runs the command itself)."""
    if os.environ.get("LBGUARD_WORKER", "1") == "0" or "serve" in argv[:2]:
        return None
    path = socket_path()
    if not path.exists():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
        _send_request(conn, argv)
        replies = conn.makefile("rb")
        first = json.loads(replies.readline() or b"null")
    except (OSError, ValueError):
        conn.close()
        return None
    if not isinstance(first, dict) or "pid" not in first:
        conn.close()
        return None  # stale (the worker exited) or not a worker
    pid, interrupts = int(first["pid"]), 0
    while True:
        try:
            line = replies.readline()
            break
        except KeyboardInterrupt:
            interrupts += 1
            try:
                os.kill(pid, signal.SIGINT if interrupts == 1 else signal.SIGKILL)
            except ProcessLookupError:
                pass
    conn.close()
    try:
        return int(json.loads(line)["rc"])
    except (ValueError, KeyError, TypeError):
        sys.stderr.write("lbguard: error: the worker's child ended without an exit status "
                         "(LBGUARD_WORKER=0 runs the command without the worker)\n")
        return 2


def worker_pid() -> int | None:
    """The running worker's pid (read from its pid file), or None."""
    path = socket_path()
    try:
        pid = int(path.with_suffix(".pid").read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid if path.exists() else None


# -- server --------------------------------------------------------------------------------

PRELOAD_MODULES = (
    "lbguard.cli.app", "lbguard.offline.emulator", "lbguard.offline.emulator.runner", "lbguard.offline.policy_runner", "lbguard.offline.preview",
    "lbguard.offline.impact", "lbguard.core.snapshot", "lbguard.live.rollback", "lbguard.live.diagnose",
    "pulumi", "pulumi.runtime", "pulumi_policy", "pulumi_aws",
    # what the shipped components use (pulumi_aws imports its sub-packages lazily)
    "pulumi_aws.autoscaling", "pulumi_aws.cloudwatch", "pulumi_aws.ec2", "pulumi_aws.iam", "pulumi_aws.lambda_",
    "pulumi_aws.lb", "pulumi_aws.s3", "pulumi_aws.sns", "pulumi_aws.ssm", "pulumi_aws.vpc",
    # moto's backends for those services (moto imports them on the first request)
    "moto.ec2.models", "moto.ec2.responses", "moto.elbv2.models", "moto.elbv2.responses",
    "moto.autoscaling.models", "moto.autoscaling.responses", "moto.cloudwatch.models", "moto.cloudwatch.responses",
    "moto.s3.models", "moto.s3.responses", "moto.iam.models", "moto.iam.responses", "moto.sns.models",
    "moto.sns.responses", "moto.awslambda.models", "moto.awslambda.responses", "moto.ssm.models",
    "moto.ssm.responses", "moto.sts.models", "moto.sts.responses",
    # moto's URL tables (read on a backend's first request), the certificate stand-in's ACM,
    # KMS for encrypted volumes, the ELB dispatcher's classic half
    "moto.ec2.urls", "moto.elb.urls", "moto.elb.responses", "moto.autoscaling.urls", "moto.cloudwatch.urls",
    "moto.s3.urls", "moto.iam.urls", "moto.iam.access_control", "moto.iam.policy_conditions", "moto.sns.urls",
    "moto.awslambda.urls", "moto.ssm.urls", "moto.sts.urls", "moto.acm.models", "moto.acm.responses",
    "moto.acm.urls", "moto.kms.models",
    # what the project's own modules import (they are imported fresh in each child)
    "pydantic", "pydantic.main", "pydantic.fields", "pydantic.types", "pydantic.functional_validators",
    "pydantic.json_schema", "pydantic.alias_generators", "annotated_types", "yaml", "ipaddress",
    "lbguard.core.profile", "rich._emoji_codes",
)
BOTOCORE_SERVICES = ("ec2", "elbv2", "autoscaling", "cloudwatch", "s3", "iam", "sns", "lambda", "ssm", "sts")


def preload() -> list[str]:
    """Import what a command needs and decode botocore's models once, then exempt all of it
    from the garbage collector (lbguard.accel.gcpause.freeze: forked children never walk it);
    returns what could not be imported."""
    from lbguard.accel import gcpause

    with gcpause.paused():
        from lbguard.offline.emulator.runner import emulator_accelerations

        # Imported and decoded under botocore's and moto's accelerations (restored after), as
        # a command's emulator applies them: what they cache is what the children find.
        with emulator_accelerations():
            missing = _preload()
    gcpause.freeze()
    return missing


def _preload() -> list[str]:
    import importlib

    missing = []
    for name in PRELOAD_MODULES:
        try:
            module = importlib.import_module(name)
            # pulumi_aws's sub-packages are lazy modules: the first attribute access loads them
            getattr(module, "_lbguard_preload", None)
        except ImportError:
            missing.append(name)
    try:
        import boto3
        from moto.core.utils import get_service_model

        # Decode the models once here (boto3 clients: models, endpoints, partitions; moto's
        # own cached copy of each service model): forked children start with them decoded.
        session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="preload",
                                        aws_secret_access_key="preload")
        for service in BOTOCORE_SERVICES:
            session.client(service)
            get_service_model(service)
    except Exception:  # noqa: BLE001 - only a warm-up: the child loads what is missing
        missing.append("botocore models")
    try:
        import pydantic

        class _Warm(pydantic.BaseModel):  # pydantic imports its schema builder on the first model
            model_config = pydantic.ConfigDict(extra="forbid")
            name: str = "warm"
            size: int | None = None
    except Exception:  # noqa: BLE001
        missing.append("pydantic models")
    try:
        from moto.ec2.models.instance_types import INSTANCE_TYPE_OFFERINGS

        for by_region in INSTANCE_TYPE_OFFERINGS.values():  # the default region's, read once here
            by_region.get("us-east-1")
    except Exception:  # noqa: BLE001
        missing.append("instance-type offerings")
    try:
        from lbguard.offline.emulator.services.elbv2 import _self_signed

        _self_signed()  # the emulator's stand-in TLS certificate, once per process
    except Exception:  # noqa: BLE001
        missing.append("emulator certificate")
    return missing


def warm_up(project_dir: Path, stack: str, timeout: float = 30.0) -> str:
    """One preflight of ``stack`` in this process, its result thrown away: what a first run
    in a process pays once (most of it botocore's and moto's first call of each operation;
    also modules imported on first use) is then paid here, before any child is forked.
    Measured on prod: 0.11-0.2 s of each command (paired children of a warmed and an
    unwarmed parent, 20 runs).

    The state a run leaves is the state a second run in one process starts from, which
    tests/offline/test_warm_identity.py shows gives identical results: the program's and the pack's
    own modules are purged after the run, moto's backends are reset, the Pulumi runtime is
    reset, and the run's threads are joined here. Ends with :func:`lbguard.accel.gcpause.freeze`
    (the run's garbage collected, not frozen into every child), so the process is ready to
    fork. Returns one line for the log; a failure (a project mid-edit) is reported, not
    raised: the children do not depend on it."""
    import contextlib
    import io
    import threading
    import time

    start = time.perf_counter()
    sink = io.StringIO()
    try:
        from lbguard.offline.preflight import run_preflight

        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            run, _violations = run_preflight(project_dir, stack, policy_pack=None, policy_config=None,
                                             timeout=timeout)
        said = f"warmed with a preflight of {stack} ({len(run.resources)} resources, {time.perf_counter() - start:.1f} s)"
    except Exception as err:  # noqa: BLE001 - only a warm-up
        text = " ".join(str(err).split())[:300]
        said = f"warm-up with {stack} failed, commands run unwarmed: {text or type(err).__name__}"
    for thread in threading.enumerate():  # the run's executor threads: none may be alive at a fork
        if thread is not threading.main_thread():
            thread.join(timeout=10)
    alive = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    if alive:
        said += f"; threads still alive: {', '.join(alive)}"
    from lbguard.accel import gcpause

    gcpause.freeze()
    return said


def fingerprint() -> dict[str, int]:
    """Modification times of the loaded lbguard modules' files (a change makes the worker stale)."""
    out = {}
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and file.startswith(str(PACKAGE_DIR)):
            try:
                out[file] = os.stat(file).st_mtime_ns
            except OSError:
                out[file] = -1
    return out


def _stale(seen: dict[str, int]) -> bool:
    for file, mtime in seen.items():
        try:
            if os.stat(file).st_mtime_ns != mtime:
                return True
        except OSError:
            return True
    return False


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 3)
    while len(data) < 4:
        more = conn.recv(65536)
        if not more:
            raise EOFError("request cut short")
        data += more
    (size,) = struct.unpack("!I", data[:4])
    body = data[4:]
    while len(body) < size:
        more = conn.recv(max(65536, size - len(body)))
        if not more:
            raise EOFError("request cut short")
        body += more
    return json.loads(body[:size]), fds


def _run_child(conn: socket.socket) -> None:
    """In the forked child: become the client's process (its fds, directory, environment,
    argv), run the command, report its exit code. Never returns."""
    rc = 2
    try:
        request, fds = _receive(conn)
        if len(fds) != 3:
            raise EOFError("no standard streams attached")
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        argv = [str(a) for a in request["argv"]]
        sys.argv = ["lbguard", *argv]
        tty = os.isatty(1)
        sys.stdin = open(0, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False,  # noqa: SIM115
                          buffering=1 if tty else -1)
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)  # noqa: SIM115
        conn.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
        from lbguard.cli.app import main
        from lbguard.accel.gcpause import one_shot

        one_shot()

        try:
            main(args=argv, prog_name="lbguard")
            rc = 0
        except SystemExit as done:
            code = done.code
            rc = code if isinstance(code, int) else (0 if code is None else 2)
            if isinstance(code, str):
                sys.stderr.write(code + "\n")
    except BaseException as err:  # noqa: BLE001 - the child must always answer
        try:
            sys.stderr.write(f"lbguard: error: worker: {type(err).__name__}: {err}\n")
        except Exception:  # noqa: BLE001
            pass
        rc = 2
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        try:
            conn.sendall(json.dumps({"rc": rc}).encode() + b"\n")
        except OSError:
            pass
        os._exit(rc)


class _Stop(BaseException):
    """SIGTERM or SIGINT in the worker: stop accepting, clean up the socket."""


def serve(idle: float = DEFAULT_IDLE, log=None, warm: tuple[Path, str] | None = None) -> int:
    """Run the worker in this process until it has been idle for ``idle`` seconds, gets
    SIGTERM, or finds itself stale. ``warm`` (project directory, stack): :func:`warm_up`
    with it before the first command. Returns the number of commands it ran."""
    path = checked_socket_path()
    _private_dir(path.parent)
    if worker_pid() is not None:
        from lbguard.core.model import LbguardError

        raise LbguardError(f"{path}: a worker already runs (pid {worker_pid()}); lbguard serve --stop ends it")
    path.unlink(missing_ok=True)
    missing = preload()
    if missing and log:
        log(f"not preloaded (the commands import them when needed): {', '.join(missing)}")
    if warm is not None:
        said = warm_up(*warm)
        if log:
            log(said)
    seen = fingerprint()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    os.chmod(path, 0o600)
    server.listen(16)
    server.settimeout(idle)
    ino = path.stat().st_ino
    path.with_suffix(".pid").write_text(str(os.getpid()))

    def stop(*_):
        raise _Stop

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    served = 0
    if log:
        log(f"worker ready: {path} (pid {os.getpid()}, exits after {idle:g} s idle)")
    try:
        while True:
            try:
                conn, _ = server.accept()
            except (TimeoutError, socket.timeout):
                if log:
                    log(f"idle for {idle:g} s: exiting")
                break
            except _Stop:
                if log:
                    log("stopped")
                break
            with conn:
                if _peer_uid(conn) != os.getuid():
                    continue
                if _stale(seen):
                    conn.sendall(b'{"stale": true}\n')
                    if log:
                        log("lbguard's files changed since the worker started: exiting (start it again)")
                    break
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    server.close()
                    for sig, handler in previous.items():
                        signal.signal(sig, handler)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    _run_child(conn)
                served += 1
                if log:
                    log(f"command {served}: child pid {pid}")
    finally:
        server.close()
        try:
            if path.stat().st_ino == ino:
                path.unlink()
                path.with_suffix(".pid").unlink(missing_ok=True)
        except OSError:
            pass
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    return served
