"""The recording's plan and what is left of it: the table is what resumes (no Ray, no training)."""
import pandas as pd

from benchmarks.record import CONFIG, config_key, missing, planned_configs
from search.config import load_config

SPACE = load_config(str(CONFIG)).search.space


def test_the_plan_is_the_same_draws_every_time_and_covers_the_space():
    first, again = planned_configs(SPACE, 5), planned_configs(SPACE, 8)
    assert again[:5] == first and set(first[0]) == set(SPACE)
    assert len({config_key(c, list(SPACE)) for c in again}) == 8


def test_only_the_configurations_the_table_lacks_at_that_seed_are_left_and_a_parquet_round_trip_matches(tmp_path):
    plan = planned_configs(SPACE, 4)
    rows = [{"trial_id": f"t{i}", "seed": 0, "epoch": 1, **config} for i, config in enumerate(plan[:3])]
    rows.append({"trial_id": "r0", "seed": 1, "epoch": 1, **plan[0]})
    pd.DataFrame(rows).to_parquet(tmp_path / "t.parquet")
    table = pd.read_parquet(tmp_path / "t.parquet")
    assert missing(plan, table, seed=0) == plan[3:]
    assert missing(plan[:2], table, seed=1) == plan[1:2]
    assert missing(plan, pd.DataFrame(), seed=0) == plan
