"""Machine facts: the CPU's name and flags, read from /proc/cpuinfo's text."""

import pytest

from fmnist import machine

EPYC = """processor\t: 0
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 avx512_vnni
"""
SAPPHIRE = """model name\t: Intel(R) Xeon(R) Platinum 8488C
flags\t\t: avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile
"""


@pytest.fixture
def cpuinfo(monkeypatch):
    def use(text):
        monkeypatch.setattr(machine, "_cpuinfo", lambda: text)

    return use


def test_amd_without_amx(cpuinfo):
    cpuinfo(EPYC)
    assert machine.cpu_name() == "AMD EPYC 9R14"
    assert not machine.amx_available()
    facts = machine.describe_machine()
    assert facts["avx512_bf16"] and not facts["amx_bf16"]
    assert machine.flags_line(facts).endswith(
        "flags: avx2 fma avx512f avx512_bf16 avx512_vnni (no amx_bf16)"
    )


def test_xeon_with_amx(cpuinfo):
    cpuinfo(SAPPHIRE)
    assert machine.amx_available()
    assert "amx_bf16 amx_tile" in machine.flags_line() and "(no" not in machine.flags_line()


def test_no_cpuinfo_still_names_something(cpuinfo):
    cpuinfo("")
    assert machine.cpu_name() and machine.cpu_flags() == set()
    assert "flags: none (no amx_bf16, no avx512_bf16)" in machine.flags_line()


def test_versions_come_from_installed_packages():
    versions = machine.package_versions()
    assert versions["keras"] and versions["numpy"] and versions["tensorflow"]
    import keras

    assert versions["keras"] == keras.__version__
