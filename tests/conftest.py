import os
import sys
from pathlib import Path

from mpn.pipeline.cpu import OPT_OUT, PINS

# Before torch and NumPy load: this process and every stage it starts compute as a
# stage does, and no stage subprocess spends seconds restarting itself to pin them
# (MPN_UNPINNED=1 runs the tests on the libraries' own choice, e.g. under other caps).
if os.environ.get(OPT_OUT) != "1":
    os.environ.update(PINS)

import pytest  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))  # tests/tiny.py and friends

from examples import LABELS, THREE_LABELS, TINY_CORPUS, classifier_dir  # noqa: E402
from mpn.model.classifier import Classifier, load_encoder  # noqa: E402
from libre import LibreServer  # noqa: E402
from tiny import make_tiny_encoder, make_tiny_tokenizer  # noqa: E402



@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> Path:
    """A tiny BERT encoder + tokenizer saved as a local model directory."""
    return make_tiny_encoder(tmp_path_factory.mktemp("tiny") / "encoder", TINY_CORPUS)


@pytest.fixture()
def model_and_tokenizer(tiny_encoder_dir):
    """A fresh tiny classifier (dropout 0.1, head seed 3) for SUPPORTS/REFUTES and its tokenizer."""
    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    return Classifier.from_encoder(encoder, LABELS, dropout=0.1, seed=3).eval(), tokenizer


@pytest.fixture
def server():
    """A LibreTranslate-speaking server on 127.0.0.1, stopped after the test."""
    srv = LibreServer().start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def tokenizer():
    """A tiny WordPiece tokenizer over TINY_CORPUS (for the Hugging Face classifiers)."""
    return make_tiny_tokenizer(TINY_CORPUS)


@pytest.fixture()
def model_dir(tokenizer, tmp_path):
    """A tiny XLM-R classifier for SUPPORTS, REFUTES, NOT ENOUGH INFO saved to a folder: (folder, model)."""
    return classifier_dir(tmp_path / "model", tokenizer, THREE_LABELS)
