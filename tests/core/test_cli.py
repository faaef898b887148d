"""The CLI runner: a UserError is one line on stderr and exit code 2; a bug keeps its traceback."""
import pytest

from core.cli import command
from core.errors import UserError
from core.schema import ConfigError


@command
def main(argv=None):
    if argv == ["config"]:
        raise ConfigError("train.lr", 0.0, "must be > 0", source="x.yaml")
    if argv == ["user"]:
        raise UserError("no such experiment")
    if argv == ["bug"]:
        raise KeyError("bug")
    return None if argv is None else len(argv)


def test_user_errors_exit_2_with_one_line(capsys):
    assert main(["config"]) == 2
    assert capsys.readouterr().err == "error: x.yaml: train.lr is 0.0, but must be > 0\n"
    assert main(["user"]) == 2
    assert capsys.readouterr().err == "error: no such experiment\n"


def test_exit_codes_pass_through_and_bugs_are_raised():
    assert main() == 0 and main(["a", "b"]) == 2 and main(["a"]) == 1
    with pytest.raises(KeyError):
        main(["bug"])


def test_every_user_facing_error_is_a_user_error():
    from cluster.local import ClusterError
    from core.storage import ExperimentError
    from data_pipeline.sources import DataError
    from deploy.package import PackageError
    from model.weights import WeightsError

    for cls in (ConfigError, DataError, PackageError, WeightsError, ExperimentError, ClusterError):
        assert issubclass(cls, UserError), cls
