"""`make test-fast` runs `-m "not integration"`: no test it keeps may reach a sweep, Ray or S3 through a shared fixture."""
import re

from tests.conftest import INTEGRATION_FIXTURES, ROOT


def test_every_user_of_a_sweep_ray_or_s3_fixture_is_integration(request):
    """Checks the tests collected in this session: the whole suite under `make test`."""
    unmarked = [item.nodeid for item in request.session.items
                if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ()))
                and item.get_closest_marker("integration") is None]
    assert not unmarked, unmarked


def test_the_fixtures_named_exist_in_the_suite():
    """A renamed fixture would silently drop its users back into `make test-fast`."""
    defined = {m.group(1) for path in ROOT.joinpath("tests").rglob("conftest.py")
               for m in re.finditer(r"^def (\w+)\(", path.read_text(), re.MULTILINE)}
    assert INTEGRATION_FIXTURES <= defined, INTEGRATION_FIXTURES - defined
