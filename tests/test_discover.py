"""The spec tree as the fuzzer left it: FIFOs, devices, sockets, symlinks in and out of the
root, unreadable folders and files, odd names and deep folders. Each is a diagnostic (or
works), never a hang, a crash, a huge read or a quote of a file outside the root."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import socket
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from compiler.diagnostics import Diagnostic
from compiler.discover import Root, Unreadable, discover, read_at_most
from compiler.load import MAX_FILE_BYTES, Sources, load, read_file
from tests.cli_helpers import EXE, run

PROJECT = (
    "apiVersion: modelkiln.dev/v1alpha1\nkind: Project\nmetadata:\n  name: p\nspec:\n"
    "  registry: gs://acme\n  environments:\n    - name: prod\n      namespace: ml\n"
    "      cloud: {provider: gcp, project: acme, region: us-central1}\n      cluster: c\n"
)
POOL = (
    "apiVersion: modelkiln.dev/v1alpha1\nkind: GpuPool\nmetadata:\n  name: {name}\nspec:\n"
    '  accelerator: nvidia-l4\n  gpusPerNode: "1"\n  maxNodes: 2\n'
)  # gpusPerNode is quoted: MK203 on line 7
SECRET = "TOPSECRET: hunter2\n"  # valid YAML: read, it would be parsed and quoted


@pytest.fixture
def root(tmp_path: Path) -> Path:
    spec_root = tmp_path / "specs"
    (spec_root / "models").mkdir(parents=True)
    (spec_root / "modelkiln.yaml").write_text(PROJECT)
    return spec_root


def _found(root: Path) -> list[tuple[str, int, str]]:
    sources = _load_within(root)
    return sorted((d.file, d.line, d.code) for d in sources.diagnostics)


def _load_within(root: Path, seconds: float = 20) -> Sources:
    """load(root), failing (not hanging) when it blocks."""
    result: list[Sources] = []
    worker = threading.Thread(target=lambda: result.append(load(root)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"load({root}) blocked for {seconds}s"
    assert result, "load() raised; see the thread's traceback above"
    return result[0]


def _message(root: Path, file: str) -> str:
    sources = load(root)
    (diagnostic,) = [d for d in sources.diagnostics if d.file == file]
    return diagnostic.message


def test_a_fifo_is_refused_without_blocking(root: Path) -> None:
    os.mkfifo(root / "models" / "pipe.yaml")
    (root / "models" / "pool.yaml").write_text(POOL.format(name="a"))
    sources = _load_within(root)
    assert [(d.file, d.code) for d in sources.diagnostics] == [("models/pipe.yaml", "MK115")]
    assert "FIFO" in sources.diagnostics[0].message
    assert sources.files == ["modelkiln.yaml", "models/pool.yaml"]  # the rest is read


def test_a_device_node_and_a_socket_are_refused(root: Path) -> None:
    try:
        os.mknod(root / "models" / "zero.yaml", stat.S_IFCHR | 0o600, os.makedev(1, 5))
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(root / "models" / "sock.yaml"))
        assert _found(root) == [
            ("models/sock.yaml", 1, "MK115"),
            ("models/zero.yaml", 1, "MK115"),
        ]
        assert "character device" in _message(root, "models/zero.yaml")
        assert "socket" in _message(root, "models/sock.yaml")
    finally:
        server.close()


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_symlink_to_an_endless_device_is_refused(root: Path, device: str) -> None:
    (root / "models" / "endless.yaml").symlink_to(device)
    assert _found(root) == [("models/endless.yaml", 1, "MK116")]


def test_a_read_stops_one_byte_past_the_limit() -> None:
    # what an endless file (a device, a file that grows) gets: limit + 1 bytes, then MK101
    fd = os.open("/dev/zero", os.O_RDONLY)
    try:
        with pytest.raises(Unreadable) as refused:
            read_at_most(fd, MAX_FILE_BYTES, 0)
    finally:
        os.close(fd)
    assert refused.value.code == "MK101"
    reader, writer = os.pipe()
    os.write(writer, b"x" * 100)
    os.close(writer)
    try:
        with pytest.raises(Unreadable):
            read_at_most(reader, 10, 0)
        assert len(os.read(reader, 1000)) == 100 - 11  # exactly limit + 1 bytes were read
    finally:
        os.close(reader)
    reader, writer = os.pipe()
    os.write(writer, b"a: 1\n")
    os.close(writer)
    try:
        assert read_at_most(reader, 100, 0) == b"a: 1\n"
    finally:
        os.close(reader)


def test_a_symlink_outside_the_root_is_refused_and_never_quoted(root: Path) -> None:
    secret = root.parent / "secret.yaml"
    secret.write_text(SECRET)
    (root / "models" / "leak.yaml").symlink_to(Path("..", "..", "secret.yaml"))
    (root / "modelkiln.yaml").rename(root / "project.txt")
    (root / "modelkiln.yaml").symlink_to("project.txt")  # inside: read as usual
    outputs = {}
    for fmt in ("text", "json", "github", "sarif"):
        proc = run("validate", root, "--format", fmt)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "TOPSECRET" not in proc.stdout + proc.stderr
        assert "hunter2" not in proc.stdout + proc.stderr
        assert "models/leak.yaml" in proc.stdout
        outputs[fmt] = proc.stdout
    payload = json.loads(outputs["json"])
    assert [(d["file"], d["code"]) for d in payload["diagnostics"]] == [
        ("models/leak.yaml", "MK116")
    ]


def test_a_symlink_inside_the_root_is_read_under_its_own_name(root: Path) -> None:
    (root / "shared").mkdir()
    (root / "shared" / "pool.txt").write_text(POOL.format(name="a"))
    (root / "models" / "pool.yaml").symlink_to(Path("..", "shared", "pool.txt"))
    sources = load(root)
    assert sources.files == ["modelkiln.yaml", "models/pool.yaml"]
    assert sources.texts["models/pool.yaml"][6] == '  gpusPerNode: "1"'
    assert [d.data["metadata"]["name"] for d in sources.documents[1:]] == ["a"]


def test_folder_symlinks_are_not_followed_and_outside_ones_are_reported(root: Path) -> None:
    outside = root.parent / "elsewhere"
    outside.mkdir()
    (outside / "pool.yaml").write_text(SECRET)
    (root / "models" / "pool.yaml").write_text(POOL.format(name="a"))
    (root / "away").symlink_to(outside)
    (root / "models.yaml").symlink_to("models")  # a folder link named like a spec file
    (root / "again").symlink_to("models")  # inside: its files are read once, as models/
    (root / "loop").symlink_to(".")
    (root / "models" / "up").symlink_to("..")
    sources = _load_within(root)
    assert sources.files == ["modelkiln.yaml", "models/pool.yaml"]
    assert [(d.file, d.code) for d in sources.diagnostics] == [("away", "MK116")]


def test_a_folder_named_like_a_spec_file_is_a_folder(root: Path) -> None:
    (root / "models" / "extra.yaml").mkdir()
    (root / "models" / "extra.yaml" / "pool.yaml").write_text(POOL.format(name="a"))
    assert load(root).files == ["modelkiln.yaml", "models/extra.yaml/pool.yaml"]


def test_dangling_and_looping_symlinks(root: Path) -> None:
    (root / "models" / "gone.yaml").symlink_to("nothing-here.yaml")
    (root / "models" / "self.yaml").symlink_to("self.yaml")
    (root / "models" / "ping.yaml").symlink_to("pong.yaml")
    (root / "models" / "pong.yaml").symlink_to("ping.yaml")
    assert _found(root) == [
        ("models/gone.yaml", 1, "MK117"),
        ("models/ping.yaml", 1, "MK117"),
        ("models/pong.yaml", 1, "MK117"),
        ("models/self.yaml", 1, "MK117"),
    ]
    assert _message(root, "models/gone.yaml") == "a symlink whose target does not exist"
    assert _message(root, "models/self.yaml") == "a symlink loop"


def test_a_file_that_vanishes_after_discovery(root: Path) -> None:
    (root / "models" / "pool.yaml").write_text(POOL.format(name="a"))
    spec_root = Root.of(root)
    problems: list[Diagnostic] = []
    found = list(discover(spec_root, "deploy", [], problems))
    assert found == ["modelkiln.yaml", "models/pool.yaml"] and problems == []
    (root / "models" / "pool.yaml").unlink()
    sources = Sources(root=root)
    assert read_file(spec_root, "models/pool.yaml", sources) == []
    (diagnostic,) = sources.diagnostics
    assert (diagnostic.file, diagnostic.code) == ("models/pool.yaml", "MK117")
    assert "disappeared" in diagnostic.message


def _nest(root: Path, name: str, depth: int) -> None:
    """depth folders called name, one inside the other, made one level at a time from a
    file descriptor: no recursion, and no path longer than PATH_MAX is ever spelled."""
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
    finally:
        os.close(fd)


def test_deep_folders_are_walked_without_recursion(root: Path) -> None:
    depth = 1500  # deeper than Python's recursion limit
    _nest(root, "d", depth)
    bottom = root.joinpath(*["d"] * depth)
    (bottom / "pool.yaml").write_text(POOL.format(name="a"))
    try:
        assert load(root).files[-1] == "d/" * depth + "pool.yaml"
    finally:  # shutil.rmtree (and so pytest's own cleanup) recurses: remove it level by level
        (bottom / "pool.yaml").unlink()
        for level in range(depth, 0, -1):
            root.joinpath(*["d"] * level).rmdir()


def test_a_path_too_long_to_open_is_a_diagnostic(root: Path) -> None:
    name = "n" * 200
    _nest(root, name, 25)  # 5,000 characters: longer than PATH_MAX
    try:
        ((file, line, code),) = _found(root)
        assert code == "MK117" and file.startswith(name + "/") and line == 1
    finally:
        shutil.rmtree(root / name)  # by file descriptors: works below PATH_MAX too


def _unprintable_names(root: Path) -> None:
    folder = os.fsencode(root / "models")
    for raw in (b"caf\xe9.yaml", b"new\nline.yaml"):
        with open(os.path.join(folder, raw), "w") as handle:
            handle.write(POOL.format(name="p" + str(len(raw))))


def test_unprintable_file_names_are_escaped_in_every_format(root: Path) -> None:
    _unprintable_names(root)
    names = {"models/caf\\xe9.yaml", "models/new\\nline.yaml"}
    text = run("validate", root)
    assert text.returncode == 1 and text.stderr == "", text.stderr
    assert {line.split(":")[0] for line in text.stdout.splitlines() if "MK203" in line} == names
    payload = json.loads(run("validate", root, "--format", "json").stdout)
    assert {d["file"] for d in payload["diagnostics"]} == names
    github = run("validate", root, "--format", "github").stdout.splitlines()
    assert len(github) == 2 and all(line.startswith("::error file=models/") for line in github)
    sarif = json.loads(run("validate", root, "--format", "sarif").stdout)
    locations = [r["locations"][0]["physicalLocation"] for r in sarif["runs"][0]["results"]]
    assert {where["artifactLocation"]["uri"] for where in locations} == names


# --- unreadable folders and files: root reads everything unless it gives up its capability


def _without_read_override() -> None:
    """In the child before exec: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the
    bounding set, so even root obeys the permission bits after exec."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _validate_as_mortal(root: Path) -> subprocess.CompletedProcess[str]:
    command = [EXE, "validate", str(root), "--format", "json"]
    if os.geteuid() != 0:
        return subprocess.run(command, capture_output=True, text=True, timeout=60)
    try:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=60, preexec_fn=_without_read_override
        )
    except subprocess.SubprocessError as err:
        pytest.skip(f"cannot drop CAP_DAC_OVERRIDE for the child: {err}")


def test_unreadable_folder_and_file_are_diagnostics(root: Path) -> None:
    locked = root / "models" / "locked"
    locked.mkdir()
    (locked / "pool.yaml").write_text(POOL.format(name="a"))
    (root / "models" / "secret.yaml").write_text(SECRET)
    locked.chmod(0)
    (root / "models" / "secret.yaml").chmod(0)
    try:
        proc = _validate_as_mortal(root)
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr
    diagnostics = json.loads(proc.stdout)["diagnostics"]
    assert [(d["file"], d["code"], d["message"]) for d in diagnostics] == [
        ("models/locked", "MK117", "cannot read this folder: permission denied"),
        ("models/secret.yaml", "MK117", "cannot read the file: permission denied"),
    ]
    assert "TOPSECRET" not in proc.stdout
