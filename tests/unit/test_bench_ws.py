"""bench.ws measures with its own garbage collector paused, and gives it back afterwards."""

import gc

import pytest

from bench.ws import client_gc_paused


def test_the_collector_is_off_while_measuring_and_back_after_even_on_failure():
    assert gc.isenabled()
    with pytest.raises(RuntimeError), client_gc_paused():
        assert not gc.isenabled()
        assert gc.get_freeze_count() > 0  # what was alive is left out of later collections
        raise RuntimeError("a failed measurement")
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
