"""The set-up check `make run` runs first: it names the packages of the missing X11
libraries only, stays quiet where X11 is not used, never blocks when it cannot look,
and its list is what the installed Qt plugin really needs."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from console import system_check
from console.system_check import LIBRARIES, check, check_before_qt

REPO = Path(__file__).resolve().parents[2]
X11 = {"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11"}
ICCCM_AND_KEYSYMS = {"libxcb-icccm.so.4", "libxcb-keysyms.so.1"}


def all_but(absent: set[str]):
    return lambda _environ: (lambda soname: soname not in absent)


def run_check(environ, **kwargs) -> tuple[int, str]:
    out = io.StringIO()
    status = check(environ, out=out, system="linux", **kwargs)
    return status, out.getvalue()


@pytest.mark.parametrize(("distro", "command"), [
    ("debian", "sudo apt-get install libxcb-icccm4 libxcb-keysyms1"),
    ("fedora", "sudo dnf install xcb-util-wm xcb-util-keysyms"),
])
def test_the_missing_libraries_are_named_with_the_command_for_them_only(distro, command):
    status, text = run_check(X11, lookup=all_but(ICCCM_AND_KEYSYMS), distro=distro)
    assert status == 1
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in text
    commands = [line.strip() for line in text.splitlines() if "sudo" in line]
    assert commands == [command]
    assert "cursor" not in text  # Qt's own hint named this one, which was installed


def test_an_unknown_distribution_gets_both_commands():
    status, text = run_check(X11, lookup=all_but({"libxcb-cursor.so.0"}), distro="")
    assert status == 1
    assert "sudo apt-get install libxcb-cursor0    (Debian, Ubuntu)" in text
    assert "sudo dnf install xcb-util-cursor    (Fedora)" in text


def test_a_package_shared_by_several_missing_libraries_is_named_once():
    status, text = run_check(X11, lookup=all_but({"libxcb-shm.so.0", "libxcb-sync.so.1"}),
                             distro="fedora")
    assert status == 1 and "sudo dnf install libxcb\n" in text


def test_nothing_missing_says_nothing():
    assert run_check(X11, lookup=all_but(set()), distro="debian") == (0, "")


@pytest.mark.parametrize("environ", [
    {"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"},
    {"QT_QPA_PLATFORM": "wayland"},
    {"WAYLAND_DISPLAY": "wayland-0"},  # Wayland only
    {"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"},
])
def test_off_x11_it_is_skipped_without_a_word(environ):
    assert run_check(environ, lookup=all_but(ICCCM_AND_KEYSYMS), distro="debian") == (0, "")


def test_xcb_asked_for_by_name_is_checked_even_in_a_wayland_session():
    environ = {"QT_QPA_PLATFORM": "xcb", "XDG_SESSION_TYPE": "wayland"}
    assert run_check(environ, lookup=all_but(ICCCM_AND_KEYSYMS), distro="debian")[0] == 1


def test_other_systems_are_skipped():
    out = io.StringIO()
    assert check({}, lookup=all_but(ICCCM_AND_KEYSYMS), system="darwin", out=out) == 0
    assert out.getvalue() == ""


def test_without_ldconfig_it_warns_and_does_not_block():
    status, text = run_check(X11, lookup=lambda _environ: None, distro="debian")
    assert status == 0 and text.startswith("warning: could not check")


def test_the_linkers_cache_and_ld_library_path_are_read(tmp_path):
    lookup = system_check.ldconfig_lookup({"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH":
                                           str(tmp_path)})
    if lookup is None:
        pytest.skip("no ldconfig cache on this machine")
    assert lookup("libc.so.6")
    assert not lookup("libnot-a-library.so.9")
    (tmp_path / "libnot-a-library.so.9").touch()
    assert lookup("libnot-a-library.so.9")


def test_python_m_console_names_the_packages_when_the_plugin_does_not_load(tmp_path):
    def load(path: Path) -> None:
        raise OSError("libxcb-icccm.so.4: cannot open shared object file")

    out = io.StringIO()
    status = check_before_qt(X11, load=load, plugin=tmp_path / "libqxcb.so",
                             lookup=all_but(ICCCM_AND_KEYSYMS), distro="debian",
                             system="linux", out=out)
    assert status == 2
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in out.getvalue()


def test_a_plugin_that_loads_costs_no_check_and_no_output(tmp_path):
    out = io.StringIO()
    looked: list[object] = []
    status = check_before_qt(X11, load=lambda path: None, plugin=tmp_path / "libqxcb.so",
                             lookup=lambda env: looked.append(env), system="linux", out=out)
    assert status == 0 and out.getvalue() == "" and looked == []


def _needed(library: Path) -> set[str]:
    dump = subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True,
                          check=True).stdout
    return {line.split("[", 1)[1].rstrip("]") for line in dump.splitlines()
            if "(NEEDED)" in line}


@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs binutils' readelf")
def test_the_list_is_what_the_installed_qt_plugin_needs():
    plugin = system_check.xcb_plugin()
    assert plugin is not None
    qt = plugin.parents[2]  # PySide6/Qt
    loaded = [plugin, *(qt / "lib" / name for name in (
        "libQt6XcbQpa.so.6", "libQt6Gui.so.6", "libQt6Core.so.6", "libQt6Widgets.so.6"))]
    needed = set().union(*(_needed(library) for library in loaded))
    bundled = {path.name for path in (qt / "lib").iterdir()}
    toolchain = {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1",
                 "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}
    assert needed - bundled - toolchain == {library.soname for library in LIBRARIES}


def test_make_run_checks_before_installing_and_starting():
    dry_run = subprocess.run(["make", "-n", "-B", "run"], capture_output=True, text=True,
                             cwd=REPO, check=True).stdout.splitlines()
    check_line = dry_run.index("python3 console/system_check.py")
    install = next(i for i, line in enumerate(dry_run) if "pip install" in line)
    start = next(i for i, line in enumerate(dry_run) if line.endswith("-m console"))
    assert check_line < install < start


def test_the_makefile_runs_it_with_the_systems_python_and_no_venv():
    """Runnable as a file by any python3 (no `console` package, so no PySide6)."""
    result = subprocess.run([sys.executable, "-I", str(REPO / "console" / "system_check.py")],
                            capture_output=True, text=True,
                            env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize(("os_release", "distro"), [
    ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nID=debian\n', "debian"),
    ('ID=debian\nVERSION_ID="13"\n', "debian-t64"),
    ('ID=ubuntu\nID_LIKE=debian\nVERSION_ID="22.04"\n', "debian"),
    ('ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n', "debian-t64"),
    ('ID=linuxmint\nID_LIKE="ubuntu debian"\nVERSION_ID="21.3"\n', "debian"),
    ('ID=fedora\nVERSION_ID=41\n', "fedora"),
    ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', "fedora"),
    ("ID=arch\n", ""),
])
def test_the_distribution_is_read_from_os_release(tmp_path, os_release, distro):
    path = tmp_path / "os-release"
    path.write_text(os_release, encoding="utf-8")
    assert system_check.distribution(path) == distro


def test_glib_has_its_new_name_where_the_time_t_transition_renamed_it():
    absent = {"libglib-2.0.so.0", "libgthread-2.0.so.0"}
    assert "sudo apt-get install libglib2.0-0t64\n" in run_check(
        X11, lookup=all_but(absent), distro="debian-t64")[1]
    assert "sudo apt-get install libglib2.0-0\n" in run_check(
        X11, lookup=all_but(absent), distro="debian")[1]
