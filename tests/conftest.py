import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/tiny.py and friends

from tiny import make_tiny_encoder  # noqa: E402

TINY_CORPUS = [
    "the currency of japan is the yen",
    "the currency of france is the euro",
    "paris is a city in france",
    "tokyo is a city in japan",
    "die währung von japan ist der yen",
    "la moneda de francia es el euro",
    "a man is playing a guitar",
    "nobody is playing music",
]


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> Path:
    """A tiny BERT encoder + tokenizer saved as a local model directory."""
    return make_tiny_encoder(tmp_path_factory.mktemp("tiny") / "encoder", TINY_CORPUS)
