"""Learning-rate schedules of the training runtime."""

import pytest


def test_schedule_follows_the_clock_only_when_behind():
    import time

    from theraflow.training.schedules import BudgetProgress, one_cycle

    fast = BudgetProgress(total_steps=100, budget_seconds=3600, check_after=10)
    assert [fast(s) for s in (0, 10, 50, 100)] == [0.0, 0.1, 0.5, 1.0]  # step-based: reproducible
    slow = BudgetProgress(total_steps=100000, budget_seconds=0.2, check_after=10)
    time.sleep(0.05)
    assert slow(5) == 5 / 100000  # before the first check: still step-based
    assert slow(10) > 0.2 and slow.timed  # behind its budget: follows the clock from now on
    time.sleep(0.2)
    assert slow(11) == 1.0  # fully annealed when the budget ends
    assert one_cycle(0.0, 0.1) == pytest.approx(0.04) and one_cycle(0.1, 0.1) == pytest.approx(1.0)
    assert one_cycle(1.0, 0.1) == pytest.approx(1e-4)


def test_epoch_factor_poly_and_cosine():
    from theraflow.training.schedules import epoch_factor

    poly, cos = epoch_factor("poly", 0, 10), epoch_factor("cosine", 2, 12)
    assert poly(0) == 1.0 and poly(10) == 0.0 and poly(5) == pytest.approx(0.5 ** 0.9)
    assert cos(0) == pytest.approx(1 / 3) and cos(2) == pytest.approx(1.0) and cos(12) == pytest.approx(0.0)
