"""The security probes' shared world: users of every role over one small round (tests/security/hardening_world.py)."""

import pytest

from tests.security.hardening_world import World, build_world


@pytest.fixture
def world(db) -> World:
    return build_world()
