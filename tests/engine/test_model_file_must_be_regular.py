"""The attack: `--model` pointing at a FIFO (or a device). Before issue 14 opening it to read the GGUF
header blocked until a writer came, i.e. forever; now it is refused at once, in one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from glmchat.engine.gguf_check import check_model_file
from glmchat.engine.gguf_meta import read_gguf
from glmchat.errors import ModelError
from glmchat.regular_files import NotRegularFileError
from tests.fifo_support import call_within


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "model.gguf"
    os.mkfifo(path)
    return path


def test_check_model_file_refuses_a_fifo_at_once(fifo: Path) -> None:
    err = call_within(lambda: check_model_file(fifo), fifo)
    assert isinstance(err, ModelError)
    assert err.message == f"{fifo} is a FIFO (named pipe), not a model file." and err.hint


def test_the_header_reader_refuses_a_fifo_at_once(fifo: Path) -> None:
    err = call_within(lambda: read_gguf(fifo), fifo)
    assert isinstance(err, NotRegularFileError) and err.kind == "a FIFO (named pipe)"


def test_the_offload_plan_skips_a_fifo_at_once(fifo: Path) -> None:
    from glmchat.engine.factory import plan_placement
    from glmchat.settings import load_settings

    assert call_within(lambda: plan_placement(fifo, load_settings(), 2048), fifo) is None


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="no /dev/null")
def test_a_device_is_refused_too() -> None:
    with pytest.raises(ModelError, match="is a character device, not a model file"):
        check_model_file("/dev/null")
