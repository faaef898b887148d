"""Model tests run torch on one thread: on a shared 2-core machine two spinning threads are several times slower."""
import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
