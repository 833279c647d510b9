"""Fixtures of the HW2P2 tests: one tiny demo data set per session (about two seconds)."""
import pytest

from common.demo.faces import write_hw2p2


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory):
    return write_hw2p2(tmp_path_factory.mktemp("faces"), size="tiny", seed=0)
