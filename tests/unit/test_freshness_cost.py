"""`make cost`'s freshness line: what the catalogue version check costs at 1, 15 and 150 warm containers."""

from __future__ import annotations

import pytest

from scripts.planning import cost_model


def test_each_warm_container_reads_the_version_once_per_check_interval_at_half_a_read_unit() -> None:
    cost = cost_model.freshness_cost(1, check_seconds=10, changes_per_month=0)
    assert cost.version_reads_per_container_hour == 360
    assert cost.read_units_per_month == 360 * 0.5 * cost_model.HOURS_PER_MONTH
    assert cost.cost_per_month == pytest.approx(cost.read_units_per_month / 1e6 * 0.125)


def test_freshness_cost_grows_with_containers_and_changes_not_with_requests() -> None:
    one = cost_model.freshness_cost(1)
    many = cost_model.freshness_cost(150)
    assert many.read_units_per_month == pytest.approx(150 * one.read_units_per_month)
    busier = cost_model.freshness_cost(1, cost_model.Inputs(requests_per_month=2.6e9))
    assert busier.read_units_per_month == one.read_units_per_month
    assert cost_model.freshness_cost(1, changes_per_month=60).rescan_read_units_per_month == pytest.approx(
        2 * one.rescan_read_units_per_month
    )


def test_make_cost_prints_the_freshness_table_for_1_15_and_150_containers(capsys) -> None:
    assert cost_model.main(["--scenarios", "--xray"]) == 0
    printed = capsys.readouterr().out
    assert "Freshness:" in printed
    for containers in (1, 15, 150):
        assert f"\n| {containers} | 360 (180 RRU) |" in printed
