"""Compiling generated Java into ``rules.jar``, with Gradle or plain javac.

Both builders compile the hand-written runtime (``java/``) and the generated
sources with ``--release 17`` into a jar with fixed timestamps and sorted
entries. Failures are wrapped in :class:`BuildError` with the tool's output.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

from pyengine import resources
from pyengine.errors import BuildError

BUILDERS = ("gradle", "javac")
TIMEOUT_SECONDS = 900
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def find_java_tool(name: str) -> Path:
    """A JDK tool (``javac``, ``java``) from JAVA_HOME, else from PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / name
        if candidate.exists():
            return candidate
        raise BuildError(f"JAVA_HOME={home} has no bin/{name}: point it at a JDK (not a JRE)")
    found = shutil.which(name)
    if found is None:
        raise BuildError(f"no '{name}' found: install a JDK 17 or newer, or set JAVA_HOME")
    return Path(found)


def compile_jar(generated: Path, workdir: Path, builder: str) -> Path:
    """Compile runtime + ``generated`` sources; returns the path of the built jar."""
    if builder == "gradle":
        return _gradle(generated, workdir)
    if builder == "javac":
        return _javac(generated, workdir)
    raise BuildError(f"unknown builder '{builder}' (choose {' or '.join(BUILDERS)})")


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    try:
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True,
                       timeout=TIMEOUT_SECONDS)
    except FileNotFoundError as exc:
        raise BuildError(f"{what} is not installed ({cmd[0]} not found)") from exc
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"{what} did not finish within {TIMEOUT_SECONDS} s") from exc
    except subprocess.CalledProcessError as exc:
        output = (exc.stdout or "") + (exc.stderr or "")
        origin = _too_large_origin(output)
        if origin:
            raise CodeTooLarge(origin) from exc
        tail = "\n".join(output.strip().splitlines()[-40:])
        raise BuildError(f"{what} failed (exit {exc.returncode}):\n{tail}") from exc


_TOO_LARGE = re.compile(r"^(.+\.java):(\d+): error: code too large$", re.MULTILINE)
_NAMED = re.compile(r"/\*\* ((?:rule|table) \S+ \([^)]*\))")


def _too_large_origin(output: str) -> str | None:
    """The rule or table, ``rule ID (FILE:LINE)``, of the first method javac found too
    large, from the comment the generator puts above each method; None if none was."""
    found = _TOO_LARGE.search(output)
    if found is None:
        return None
    try:
        lines = Path(found[1]).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    above = lines[max(0, int(found[2]) - 3):int(found[2]) - 1]
    named = [m[1] for line in above if (m := _NAMED.search(line))]
    return named[-1] if named else None


class CodeTooLarge(BuildError):
    """javac refused the method of a rule or a table: more than the 64 KB of bytecode the
    JVM allows. ``origin`` names it as the generator's comment above it does,
    ``rule ID (FILE:LINE)`` or ``table ID (FILE:LINE)``."""

    def __init__(self, origin: str):
        self.origin = origin
        super().__init__(f"{origin} compiles to a Java method larger than the JVM allows "
                         "(64 KB of bytecode): split it")


def _javac(generated: Path, workdir: Path) -> Path:
    classes = workdir / "classes"
    classes.mkdir(parents=True, exist_ok=True)
    sources = sorted(str(p) for root in (resources.java_runtime_dir(), generated)
                     for p in root.rglob("*.java"))
    argfile = workdir / "sources.txt"
    argfile.write_text("\n".join(f'"{s}"' for s in sources), encoding="utf-8")
    javac = find_java_tool("javac")
    _run([str(javac), "--release", "17", "-encoding", "UTF-8", "-nowarn", "-d", str(classes),
          f"@{argfile}"], workdir, "javac")
    jar = workdir / "rules.jar"
    _write_jar(classes, jar)
    return jar


def _write_jar(classes: Path, jar: Path) -> None:
    """A jar with sorted entries and fixed timestamps: same classes, same bytes."""
    with zipfile.ZipFile(jar, "w", zipfile.ZIP_DEFLATED) as zf:
        manifest = zipfile.ZipInfo("META-INF/MANIFEST.MF", _FIXED_TIME)
        zf.writestr(manifest, "Manifest-Version: 1.0\r\nCreated-By: pyengine\r\n\r\n")
        for path in sorted(classes.rglob("*.class")):
            info = zipfile.ZipInfo(path.relative_to(classes).as_posix(), _FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())


def gradle_project(project: Path, name: str, hint: str = "") -> str:
    """Make ``project`` a Gradle project of pyengine's build.gradle; returns the gradle
    executable (BuildError when there is none; ``hint`` says what else to do)."""
    gradle = shutil.which("gradle")
    if gradle is None:
        raise BuildError("Gradle is not installed: run 'make setup' (Debian: apt-get install "
                         f"gradle){hint}")
    project.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(resources.build_gradle(), project / "build.gradle")
    (project / "settings.gradle").write_text(f"rootProject.name = '{name}'\n", encoding="utf-8")
    return gradle


def _gradle(generated: Path, workdir: Path) -> Path:
    project = workdir / "gradle"
    gradle = gradle_project(project, "rules", ", or build with --builder javac")
    cmd = [gradle, "--offline", "--quiet", "--no-daemon",
           f"-PruntimeSrc={resources.java_runtime_dir()}", f"-PgeneratedSrc={generated}", "jar"]
    _run(cmd, project, "Gradle")
    jars = sorted((project / "build" / "libs").glob("*.jar"))
    if len(jars) != 1:
        raise BuildError(f"Gradle produced {len(jars)} jars in build/libs, expected one")
    return jars[0]
