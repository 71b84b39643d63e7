"""Checks that the system libraries Qt's X11 (xcb) platform plugin needs are installed,
and prints the command that installs the missing ones: `make run` runs it first
(`python console/system_check.py`), and `python -m console` when the plugin does
not load.

Why: where one is missing, Qt prints "xcb-cursor0 or libxcb-cursor0 is needed to
load the Qt xcb platform plugin" whatever the missing one is (on the first day
it was libxcb-icccm4 and libxcb-keysyms1, with xcb-cursor0 installed) and
aborts. `LIBRARIES` is what PySide6's `libqxcb.so`, `libQt6XcbQpa.so.6` and the
Qt libraries it loads name as NEEDED (`readelf -d`) and do not bundle;
tests/console/test_system_check.py reads those entries from the installed wheel,
so a PySide6 upgrade that needs another library fails a test, not an operator.

Libraries are looked up by soname in the dynamic linker's cache (`ldconfig -p`)
and in LD_LIBRARY_PATH, without loading them: loading one fails when any of its
own dependencies is missing, which would blame the wrong package again. Where
the check cannot run (no ldconfig), it says so and lets the app start.

Standard library only, and no import of the `console` package (which loads
PySide6): the Makefile runs this file with the system's python3 before the
virtual environment exists, so a missing library is named before minutes of
installing.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO


@dataclass(frozen=True)
class Library:
    soname: str
    debian: str  # Debian and Ubuntu (apt-get)
    fedora: str  # Fedora, RHEL and the like (dnf)


LIBRARIES = (
    Library("libxcb-cursor.so.0", "libxcb-cursor0", "xcb-util-cursor"),
    Library("libxcb-icccm.so.4", "libxcb-icccm4", "xcb-util-wm"),
    Library("libxcb-image.so.0", "libxcb-image0", "xcb-util-image"),
    Library("libxcb-keysyms.so.1", "libxcb-keysyms1", "xcb-util-keysyms"),
    Library("libxcb-render-util.so.0", "libxcb-render-util0", "xcb-util-renderutil"),
    Library("libxcb-util.so.1", "libxcb-util1", "xcb-util"),
    Library("libxcb.so.1", "libxcb1", "libxcb"),
    Library("libxcb-randr.so.0", "libxcb-randr0", "libxcb"),
    Library("libxcb-render.so.0", "libxcb-render0", "libxcb"),
    Library("libxcb-shape.so.0", "libxcb-shape0", "libxcb"),
    Library("libxcb-shm.so.0", "libxcb-shm0", "libxcb"),
    Library("libxcb-sync.so.1", "libxcb-sync1", "libxcb"),
    Library("libxcb-xfixes.so.0", "libxcb-xfixes0", "libxcb"),
    Library("libxcb-xkb.so.1", "libxcb-xkb1", "libxcb"),
    Library("libX11-xcb.so.1", "libx11-xcb1", "libX11-xcb"),
    Library("libX11.so.6", "libx11-6", "libX11"),
    Library("libxkbcommon.so.0", "libxkbcommon0", "libxkbcommon"),
    Library("libxkbcommon-x11.so.0", "libxkbcommon-x11-0", "libxkbcommon-x11"),
    Library("libGL.so.1", "libgl1", "libglvnd-glx"),
    Library("libEGL.so.1", "libegl1", "libglvnd-egl"),
    Library("libfontconfig.so.1", "libfontconfig1", "fontconfig"),
    Library("libfreetype.so.6", "libfreetype6", "freetype"),
    # libglib2.0-0t64 from Debian 13 and Ubuntu 24.04 on (`T64_RENAMED`).
    Library("libglib-2.0.so.0", "libglib2.0-0", "glib2"),
    Library("libgthread-2.0.so.0", "libglib2.0-0", "glib2"),
    Library("libz.so.1", "zlib1g", "zlib"),
    Library("libzstd.so.1", "libzstd1", "libzstd"),
)

# The 64-bit time_t transition renamed these packages (and no other one here).
T64_RENAMED = {"libglib2.0-0": "libglib2.0-0t64"}
T64_FROM = {"debian": (13,), "ubuntu": (24, 4)}  # the first release with the new names

Lookup = Callable[[str], bool]  # is the library of this soname installed?
# The dynamic linker's cache flags each entry with its ABI: a 32-bit copy is no use.
_ABI = {"x86_64": "x86-64", "aarch64": "AArch64", "ppc64le": "64bit", "s390x": "64bit"}


def uses_xcb(environ: Mapping[str, str], system: str = sys.platform) -> bool:
    """Whether Qt will load its xcb plugin: on Linux, unless QT_QPA_PLATFORM names
    another platform first (offscreen, wayland) or the session is Wayland's (Qt then
    tries wayland first, and xcb only if that fails)."""
    if not system.startswith("linux"):
        return False
    requested = environ.get("QT_QPA_PLATFORM", "").strip()
    if requested:
        return requested.split(";")[0].split(":")[0].strip() == "xcb"
    if environ.get("XDG_SESSION_TYPE") == "wayland":
        return False
    return not (environ.get("WAYLAND_DISPLAY") and not environ.get("DISPLAY"))


def ldconfig_lookup(environ: Mapping[str, str]) -> Lookup | None:
    """A lookup in the linker's cache and LD_LIBRARY_PATH; None if there is no cache."""
    search = os.pathsep.join([environ.get("PATH", ""), "/sbin", "/usr/sbin"])
    ldconfig = shutil.which("ldconfig", path=search)
    if ldconfig is None:
        return None
    try:
        listing = subprocess.run([ldconfig, "-p"], capture_output=True, text=True,
                                 timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    abi = _ABI.get(platform.machine())
    cached: set[str] = set()
    for line in listing.splitlines()[1:]:  # the first line counts the entries
        name, _, rest = line.strip().partition(" (")
        flags = rest.partition(")")[0]
        if name and (abi is None or abi in flags):
            cached.add(name)
    if not cached:
        return None  # an empty cache (NixOS, a container): no way to tell
    dirs = [Path(d) for d in environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if d]
    return lambda soname: soname in cached or any((d / soname).exists() for d in dirs)


def missing(lookup: Lookup, libraries: Iterable[Library] = LIBRARIES) -> list[Library]:
    return [library for library in libraries if not lookup(library.soname)]


def distribution(os_release: Path = Path("/etc/os-release")) -> str:
    """"debian", "debian-t64" (its newer names), "fedora" or "" (unknown), from the
    ID, ID_LIKE and VERSION_ID of os-release."""
    try:
        text = os_release.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        fields[key.strip()] = value.strip().strip("\"'").lower()
    own = fields.get("ID", "")
    ids = [own, *fields.get("ID_LIKE", "").split()]
    if any(i in ("debian", "ubuntu") for i in ids):
        try:
            version = tuple(int(part) for part in fields.get("VERSION_ID", "").split("."))
        except ValueError:
            version = ()
        renamed = own in T64_FROM and version >= T64_FROM[own]
        return "debian-t64" if renamed else "debian"
    if any(i in ("fedora", "rhel", "centos") for i in ids):
        return "fedora"
    return ""


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def install_advice(absent: list[Library], distro: str) -> str:
    """What to tell the operator: the missing libraries and the command for them only."""
    lines = ["The console's window needs system libraries that are not installed: "
             + ", ".join(library.soname for library in absent) + ".", "Install them with:"]
    names = [T64_RENAMED.get(lib.debian, lib.debian) if distro == "debian-t64" else lib.debian
             for lib in absent]
    debian = "sudo apt-get install " + " ".join(_unique(names))
    fedora = "sudo dnf install " + " ".join(_unique(lib.fedora for lib in absent))
    if distro.startswith("debian"):
        lines.append(f"    {debian}")
    elif distro == "fedora":
        lines.append(f"    {fedora}")
    else:
        lines += [f"    {debian}    (Debian, Ubuntu)", f"    {fedora}    (Fedora)",
                  "or your distribution's packages that provide those files."]
    lines.append("then start it again (the README's set-up lists them all).")
    return "\n".join(lines)


def check(environ: Mapping[str, str] | None = None, *,
          lookup: Callable[[Mapping[str, str]], Lookup | None] = ldconfig_lookup,
          distro: str | None = None, system: str = sys.platform,
          out: TextIO | None = None) -> int:
    """0 when nothing is missing, when the check does not apply (no output) or cannot
    run (a warning); 1, with the install command printed, when libraries are missing.
    `lookup` makes the lookup for an environment (None: it cannot be made)."""
    environ = os.environ if environ is None else environ
    out = sys.stderr if out is None else out
    if not uses_xcb(environ, system):
        return 0
    found = lookup(environ)
    if found is None:
        print("warning: could not check the system libraries the window needs (no "
              "ldconfig); if it does not open, see \"System packages\" in the README.",
              file=out)
        return 0
    absent = missing(found)
    if not absent:
        return 0
    print(install_advice(absent, distribution() if distro is None else distro), file=out)
    return 1


def xcb_plugin() -> Path | None:
    """PySide6's xcb platform plugin, found without importing PySide6."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    plugin = Path(next(iter(spec.submodule_search_locations)), "Qt", "plugins", "platforms",
                  "libqxcb.so")
    return plugin if plugin.exists() else None


def _dlopen(path: Path) -> None:
    ctypes.CDLL(str(path))


def check_before_qt(environ: Mapping[str, str] | None = None, *,
                    load: Callable[[Path], None] = _dlopen, plugin: Path | None = None,
                    lookup: Callable[[Mapping[str, str]], Lookup | None] = ldconfig_lookup,
                    distro: str | None = None,
                    system: str = sys.platform, out: TextIO | None = None) -> int:
    """For `python -m console`, before QApplication: when Qt would use xcb and its
    plugin does not load (Qt would abort with a misleading hint), the libraries check
    with its install command, and 2; else 0. Costs one dlopen of a library Qt loads
    a moment later anyway."""
    environ = os.environ if environ is None else environ
    out = sys.stderr if out is None else out
    if not uses_xcb(environ, system):
        return 0
    plugin = plugin or xcb_plugin()
    if plugin is None:
        return 0  # not the wheel's layout: Qt's own message will have to do
    try:
        load(plugin)
    except OSError as exc:
        if check(environ, lookup=lookup, distro=distro, system=system, out=out) == 0:
            print(f"Qt's X11 platform plugin does not load: {exc}", file=out)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(check())
