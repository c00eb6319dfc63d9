"""Per-process devices under torchrun (glide.train.distributed.device_for_process), without a GPU:
``cuda`` and an explicit ``cuda:N`` both become ``cuda:<LOCAL_RANK>`` when several processes
run, so an explicit index no longer puts every process on one GPU."""

from __future__ import annotations

import pytest
import torch

from glide.errors import GlideError
from glide.train.distributed import DistInfo, device_for_process, dist_from_env

ONE = DistInfo()


def test_single_process_keeps_the_named_device() -> None:
    assert device_for_process("cpu", ONE, 0) == torch.device("cpu")
    assert device_for_process("cuda", ONE, 2) == torch.device("cuda", 0)
    assert device_for_process("cuda:1", ONE, 2) == torch.device("cuda", 1)


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:3"])
def test_under_torchrun_each_process_gets_its_local_rank(name: str) -> None:
    devices = [device_for_process(name, DistInfo(r, 4, r), 4) for r in range(4)]
    assert devices == [torch.device("cuda", r) for r in range(4)]
    # second node of two: global ranks 4..7, local ranks 0..3
    assert device_for_process(name, DistInfo(6, 8, 2), 4) == torch.device("cuda", 2)
    assert device_for_process("cpu", DistInfo(3, 4, 3), 0) == torch.device("cpu")


def test_local_rank_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("RANK", "5")
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert device_for_process("cuda:0", dist_from_env(), 4) == torch.device("cuda", 1)


def test_clear_refusals() -> None:
    with pytest.raises(GlideError, match=r"LOCAL_RANK=2 needs cuda:2, but only 2 CUDA"):
        device_for_process("cuda:0", DistInfo(2, 3, 2), 2)
    with pytest.raises(GlideError, match="asked for CUDA but none is available"):
        device_for_process("cuda", DistInfo(1, 2, 1), 0)
    with pytest.raises(GlideError, match=r"--device 'cuda:3': only 2 CUDA device\(s\)"):
        device_for_process("cuda:3", ONE, 2)
    with pytest.raises(GlideError, match="is not a device name"):
        device_for_process("gpu0", ONE, 2)
