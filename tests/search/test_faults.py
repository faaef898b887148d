"""The one test-fault switch: parsed strictly, and each fault fires only where it is keyed."""
import pytest

from search import faults
from search.faults import Fault


def test_parse_reads_every_kind_and_ignores_empty_parts():
    assert faults.parse("oom:batch_size=128; hang:batch_size=64;;fail_once:epoch=1") == (
        Fault("oom", 128), Fault("hang", 64), Fault("fail_once", 1))
    assert faults.parse("") == () and faults.active({}) == ()


@pytest.mark.parametrize("spec", ["oom", "oom:epoch=1", "boom:batch_size=1", "hang:batch_size=x"])
def test_parse_refuses_what_it_does_not_know(spec):
    with pytest.raises(ValueError, match=faults.ENV):
        faults.parse(spec)


class _Trainer:
    step_hook = None


def test_arm_hooks_only_the_keyed_batch_size():
    trainer = _Trainer()
    faults.arm(trainer, 64, faults.parse("oom:batch_size=128"))
    assert trainer.step_hook is None
    faults.arm(trainer, 128, faults.parse("oom:batch_size=128"))
    with pytest.raises(Exception, match="simulated by EDGETUNE_FAULTS") as err:
        trainer.step_hook(trainer, None)
    assert type(err.value).__name__ == "OutOfMemoryError"


def test_fail_once_raises_once_per_trial_folder(tmp_path):
    spec = faults.parse("fail_once:epoch=2")
    faults.after_report({"epoch": 1}, 32, str(tmp_path), spec)
    with pytest.raises(RuntimeError, match="injected failure after epoch 2"):
        faults.after_report({"epoch": 2}, 32, str(tmp_path), spec)
    faults.after_report({"epoch": 2}, 32, str(tmp_path), spec)  # the retry from the checkpoint goes through
