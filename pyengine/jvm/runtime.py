"""Starting the JVM (once per process) and loading rule jars.

The JDK is found through ``JAVA_HOME``, then ``java`` on PATH. Each jar gets
its own ``URLClassLoader`` whose parent is the platform loader, so two versions
of the rules (and their runtime classes) can live side by side in one JVM.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any

from pyengine.errors import JvmError

_start_lock = threading.Lock()


def java_home() -> Path:
    """The JDK/JRE home: JAVA_HOME, else resolved from ``java`` on PATH."""
    env = os.environ.get("JAVA_HOME")
    if env:
        home = Path(env)
        if not (home / "bin" / "java").exists():
            raise JvmError(f"JAVA_HOME={env} does not contain bin/java")
        return home
    java = shutil.which("java")
    if java is None:
        raise JvmError("no Java found: install a JDK 17 or newer, or set JAVA_HOME")
    return Path(java).resolve().parent.parent


def java_feature_version(home: Path) -> int:
    """The feature release (17, 21, 25...) read from the JDK's ``release`` file."""
    try:
        text = (home / "release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 17
    m = re.search(r'JAVA_VERSION="(\d+)(?:\.(\d+))?', text)
    if not m:
        return 17
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def _libjvm(home: Path) -> Path:
    for candidate in ("lib/server/libjvm.so", "jre/lib/amd64/server/libjvm.so",
                      "lib/server/libjvm.dylib", "bin/server/jvm.dll"):
        path = home / candidate
        if path.exists():
            return path
    raise JvmError(f"no libjvm found under {home}: is it a complete JDK?")


# Options by which a user sizes the heap (PYENGINE_JVM_OPTIONS).
_HEAP_SIZES = ("-Xmx", "-Xmn", "-XX:MaxHeapSize", "-XX:NewSize", "-XX:MaxNewSize")


def jvm_options(feature: int) -> list[str]:
    """JVM flags for this JDK release."""
    # -Xrs: SIGINT, SIGTERM and SIGHUP stay Python's. The JVM's own handlers ran its
    # shutdown while worker threads were in Java calls (a JVMNotRunning traceback on
    # `kill`), and would take these signals from an application that embeds pyengine.
    options = ["-Xrs", "-Xss8m", "-XX:+UseParallelGC"]
    # JPype calls System.gc() after a Python collection that found Python's heap grown,
    # in case Java holds Python memory; a full collection stops every worker's Java,
    # and when it ends JPype runs a full Python collection under the GIL. pyengine gives
    # Java no Python memory to hold (jvm/rules.unowned_buffer), and those pauses cost
    # two workers 10-25% of evaluate_batch (docs/benchmarks.md).
    options.append("-XX:+DisableExplicitGC")
    extra = os.environ.get("PYENGINE_JVM_OPTIONS", "").split()
    if not any(o.startswith(_HEAP_SIZES) for o in extra):
        # Java now collects only when its young generation is full, and until then
        # touches new pages of it: a small one keeps the memory a long run touches the
        # same as a short run's. With 128 MiB a 10M-record run never collected and
        # ended with 40 MiB more of it touched than after 1M records; with 32 MiB it
        # collects two or three times, 0.3-0.7 ms each. A heap sized by the user is
        # left as they size it (a young generation larger than their heap would only
        # print a warning).
        options.append("-Xmn32m")
    if feature >= 22:
        # JPype's native bridge would otherwise print a restricted-method warning.
        options.append("--enable-native-access=ALL-UNNAMED")
    return options + extra


def start() -> None:
    """Start the JVM in this process if it is not running yet (thread-safe)."""
    import jpype

    with _start_lock:
        if jpype.isJVMStarted():
            return
        home = java_home()
        try:
            jpype.startJVM(str(_libjvm(home)), *jvm_options(java_feature_version(home)),
                           convertStrings=False, interrupt=False)  # (see -Xrs)
        except (OSError, RuntimeError) as exc:
            raise JvmError(f"could not start the JVM from {home}: {exc}") from exc


class JarLoader:
    """A jar loaded in a class loader of its own."""

    def __init__(self, jar: Path):
        import jpype

        start()
        self.jar = jar
        try:
            url = jpype.JClass("java.io.File")(str(jar.resolve())).toURI().toURL()
            urls = jpype.JArray(jpype.JClass("java.net.URL"))([url])
            platform = jpype.JClass("java.lang.ClassLoader").getPlatformClassLoader()
            self.loader = jpype.JClass("java.net.URLClassLoader")(urls, platform)
        except jpype.JException as exc:
            raise JvmError(f"could not load {jar}: {exc}") from exc

    def cls(self, name: str) -> Any:
        """The Java class ``name`` from this jar."""
        import jpype

        try:
            return jpype.JClass(name, loader=self.loader)
        except (jpype.JException, TypeError) as exc:
            raise JvmError(f"class {name} not found in {self.jar}: {exc}") from exc
