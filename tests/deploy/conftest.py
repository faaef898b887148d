"""Deploy tests share the results tests' experiments (synthetic and the real smoke sweep) and run torch on one thread."""
from tests.model.conftest import one_torch_thread  # noqa: F401 - autouse: two spinning threads on 2 cores are slower
from tests.results.conftest import artifacts, exp_a, real_experiment  # noqa: F401 - shared fixtures
