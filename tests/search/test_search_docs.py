"""Every example in docs/search.md parses (or, for error examples, fails with exactly that message)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelyard.errors import MalformedFilter
from modelyard.search import parse_filter, parse_order_by

DOC = Path(__file__).resolve().parents[2] / "docs" / "search.md"


def _blocks(label: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(rf"^```text {label}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_the_doc_has_examples_of_every_kind():
    for label in ("runs", "experiments", "order_by", "error"):
        assert _blocks(label), label


@pytest.mark.parametrize("line", _blocks("runs"))
def test_run_filter_examples_parse(line):
    assert parse_filter(line, "runs") is not None


@pytest.mark.parametrize("line", _blocks("experiments"))
def test_experiment_filter_examples_parse(line):
    assert parse_filter(line, "experiments") is not None


@pytest.mark.parametrize("line", _blocks("order_by"))
def test_order_by_examples_parse(line):
    assert len(parse_order_by([line], "runs")) == 1


@pytest.mark.parametrize("message", _blocks("error"))
def test_error_examples_are_exact(message):
    source = re.match(r"Invalid (?:filter|order_by clause) '(.*)': ", message)
    assert source is not None
    with pytest.raises(MalformedFilter) as info:
        if message.startswith("Invalid filter"):
            parse_filter(source.group(1), "runs")
        else:
            parse_order_by([source.group(1)], "runs")
    assert info.value.message == message
