"""Which GPUs a torch build has kernels for: machine code only, PTX named but never counted."""

from __future__ import annotations

import pytest

from imagegate import kernels
from imagegate.kernels import Kernels


@pytest.mark.parametrize(
    ("arch", "codes", "machine_code", "ptx"),
    [
        ("sm_89", "sm_80 sm_86 sm_90", "sm_86", None),  # same major, minor at or below
        ("sm_90", "sm_86 sm_120", None, None),  # a newer major never runs on an older one
        ("sm_100", "sm_90 sm_120", None, None),  # nor an older major on a newer one
        ("sm_120", "sm_90 compute_90", None, "compute_90"),  # PTX: JIT only, not counted
        ("sm_86", "sm_90 compute_90", None, None),  # PTX newer than the GPU: no use at all
        ("sm_90", "sm_90 compute_90", "sm_90", "compute_90"),
    ],
)
def test_which_code_serves_a_gpu(
    arch: str, codes: str, machine_code: str | None, ptx: str | None
) -> None:
    assert kernels.machine_code(arch, codes.split()) == machine_code
    assert kernels.ptx(arch, codes.split()) == ptx


def test_kernels_name_the_torch_build_when_a_gpu_has_none() -> None:
    torch = Kernels(build="2.14.1", codes=("sm_90", "compute_90"))

    assert torch.missing("sm_90") is None
    assert torch.missing("sm_89") == (
        "torch 2.14.1 (compiled for sm_90 compute_90) has no kernel image for sm_89"
    )
    why = torch.missing("sm_100")
    assert why is not None and "compute_90" in why and "torch 2.14.1" in why
