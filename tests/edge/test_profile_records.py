"""`profiles detect` from the /proc/cpuinfo and device-tree records of other devices.

The records in tests/edge/records/ follow those devices' formats (64-bit Raspberry Pi OS on a Pi 4
and a Pi 5, Android on a Snapdragon 8 Gen 2, macOS's sysctl brand string of an Apple M2).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.errors import ProfileError
from edge.profiles import detect, host_from_records, parse_cpuinfo
from tests.conftest import run_cli

RECORDS = Path(__file__).with_name("records")


def _text(name: str) -> str:
    return (RECORDS / name).read_bytes().decode()


@pytest.mark.parametrize(("cpuinfo", "tree", "os_name", "expected"), [
    ("pi4-cpuinfo.txt", "pi4-model.bin", "linux", "raspberry-pi-4"),
    ("pi5-cpuinfo.txt", "pi5-model.bin", "linux", "raspberry-pi-5"),
    ("pi4-cpuinfo.txt", None, "linux", "raspberry-pi-4"),  # cpuinfo's own Model line is enough
    ("sm8550-cpuinfo.txt", None, "android", "android-npu-qnn"),
])
def test_recorded_boards_pick_their_profile(cpuinfo, tree, os_name, expected):
    host = host_from_records(_text(cpuinfo), _text(tree) if tree else None, os_name=os_name)
    assert host.arch == "aarch64"
    assert detect(host).profile.name == expected


def test_the_pi_records_parse_to_their_cores_flags_and_model():
    flags, models, n = parse_cpuinfo(_text("pi5-cpuinfo.txt"))
    assert n == 4 and {"asimd", "asimddp"} <= flags and models == ["Raspberry Pi 5 Model B Rev 1.0"]
    host = host_from_records(_text("pi4-cpuinfo.txt"), _text("pi4-model.bin"))
    assert host.cores == 4 and "asimddp" not in host.cpu_flags
    assert host.model.startswith("Raspberry Pi 4 Model B Rev 1.4 |") and "\0" not in host.model


def test_a_pi_5_without_its_model_strings_is_not_taken_for_a_pi():
    text = "\n".join(line for line in _text("pi5-cpuinfo.txt").splitlines() if not line.startswith("Model"))
    assert not detect(host_from_records(text)).profile.name.startswith("raspberry-pi")


def test_a_snapdragon_without_its_hardware_line_is_an_android_cpu():
    text = "\n".join(line for line in _text("sm8550-cpuinfo.txt").splitlines() if not line.startswith("Hardware"))
    host = host_from_records(text, os_name="android")
    assert host.cores == 8 and "i8mm" in host.cpu_flags
    assert detect(host).profile.name == "android-arm64-cpu"


def test_an_apple_m_chip_picks_the_apple_profile():
    host = host_from_records("", _text("apple-m2-brand.txt").strip(), os_name="darwin", arch="arm64", ram_mb=16384)
    assert host.arch == "aarch64" and detect(host).profile.name == "apple-m-series"


def test_records_without_an_architecture_are_refused():
    with pytest.raises(ProfileError, match="names no architecture"):
        host_from_records("processor : 0\n")


def test_profiles_detect_cli_on_recorded_pi_files():
    for board in ("pi4", "pi5"):
        r = run_cli("profiles", "detect", "--cpuinfo", str(RECORDS / f"{board}-cpuinfo.txt"),
                    "--device-tree", str(RECORDS / f"{board}-model.bin"), "--json")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["profile"] == f"raspberry-pi-{board[-1]}" and out["host"]["arch"] == "aarch64"
