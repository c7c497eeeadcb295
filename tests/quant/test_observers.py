import pytest
import torch

from dqbench.errors import DQBenchError
from dqbench.quant.observers import MinMaxObserver, MomentumObserver, Observer, PercentileObserver


def test_observer_tracks_latest_tensor_only():
    obs = Observer()
    assert not bool(obs.initialized)
    obs(torch.tensor([-1.0, 4.0]))
    obs(torch.tensor([0.5, 2.0]))
    assert (float(obs.lo), float(obs.hi)) == (0.5, 2.0)
    assert bool(obs.initialized)


def test_minmax_keeps_extremes():
    obs = MinMaxObserver()
    obs(torch.tensor([-1.0, 4.0]))
    obs(torch.tensor([-3.0, 2.0]))
    assert (float(obs.lo), float(obs.hi)) == (-3.0, 4.0)


def test_momentum_update_rule():
    obs = MomentumObserver(momentum=0.1)
    obs(torch.tensor([-1.0, 4.0]))  # first batch initialises
    obs(torch.tensor([-3.0, 2.0]))
    assert float(obs.lo) == pytest.approx(0.9 * -1.0 + 0.1 * -3.0)
    assert float(obs.hi) == pytest.approx(0.9 * 4.0 + 0.1 * 2.0)


def test_momentum_none_is_running_mean():
    obs = MomentumObserver(momentum=None)
    for hi in (1.0, 2.0, 6.0):
        obs(torch.tensor([0.0, hi]))
    assert float(obs.hi) == pytest.approx(3.0)


@pytest.mark.parametrize("m", [0.0, -0.1, 1.5])
def test_momentum_out_of_range_is_user_error(m):
    with pytest.raises(DQBenchError, match="momentum"):
        MomentumObserver(m)


def test_protected_rows_are_not_observed():
    x = torch.tensor([[1.0, 2.0], [100.0, -100.0], [3.0, -4.0]])
    protect = torch.tensor([False, True, False])
    for obs in (Observer(), MinMaxObserver(), MomentumObserver(0.5), PercentileObserver(tail=0.0)):
        obs(x, protect)
        assert (float(obs.lo), float(obs.hi)) == (-4.0, 3.0), type(obs).__name__


def test_all_rows_protected_leaves_observer_untouched():
    obs = MinMaxObserver()
    obs(torch.ones(3, 2), torch.ones(3, dtype=torch.bool))
    assert not bool(obs.initialized)


def test_percentile_close_to_true_quantile_on_big_tensor():
    torch.manual_seed(0)
    x = torch.randn(200_000, 16)
    obs = PercentileObserver(tail=0.01, momentum=0.5, sample_size=16384)
    obs(x)
    true_lo, true_hi = torch.quantile(x.reshape(-1)[:1_000_000], torch.tensor([0.01, 0.99])).tolist()
    assert float(obs.lo) == pytest.approx(true_lo, abs=0.1)
    assert float(obs.hi) == pytest.approx(true_hi, abs=0.1)
    assert float(obs.hi) < float(x.max()) - 1.0  # the outliers are clipped


def test_percentile_sampling_respects_protection_on_big_tensor():
    x = torch.zeros(10_000, 8)
    x[::2] = 1000.0  # every other row is huge, and protected
    protect = torch.zeros(10_000, dtype=torch.bool)
    protect[::2] = True
    obs = PercentileObserver(tail=0.0, sample_size=256)
    obs(x, protect)
    assert float(obs.hi) == 0.0


def test_percentile_sample_draws_the_elements_records_were_made_with():
    """The sample is part of every Degree-Quant record: the same random draw must pick the same elements as the
    plain indexing it was first written with (idx[~protect[idx // row_len]], then flat[idx])."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(3000, 16, generator=gen)
    protect = torch.rand(3000, generator=gen) < 0.2
    obs = PercentileObserver(sample_size=512)
    for p in (protect, None):
        torch.manual_seed(11)
        got = obs.sample(x, p)
        torch.manual_seed(11)
        idx = torch.randint(0, x.numel(), (512,))
        kept = idx if p is None else idx[~p[idx // 16]]
        assert torch.equal(got, x.reshape(-1)[kept]) and got.numel() == kept.numel()


def test_percentile_tail_and_momentum_validated():
    with pytest.raises(DQBenchError, match="tail"):
        PercentileObserver(tail=0.6)
    with pytest.raises(DQBenchError, match="momentum"):
        PercentileObserver(momentum="ema")


def test_percentile_default_keeps_running_extremes_of_batch_quantiles():
    obs = PercentileObserver(tail=0.0)
    obs(torch.tensor([-1.0, 4.0]))
    obs(torch.tensor([-3.0, 2.0]))
    obs(torch.tensor([-2.0, 3.0]))
    assert (float(obs.lo), float(obs.hi)) == (-3.0, 4.0)


def test_percentile_ema_and_mean_modes():
    ema = PercentileObserver(tail=0.0, momentum=0.25)
    mean = PercentileObserver(tail=0.0, momentum="mean")
    for hi in (4.0, 8.0, 0.0):
        ema(torch.tensor([0.0, hi]))
        mean(torch.tensor([0.0, hi]))
    assert float(ema.hi) == pytest.approx((4.0 * 0.75 + 8.0 * 0.25) * 0.75)
    assert float(mean.hi) == pytest.approx(4.0)


def test_observer_state_round_trips_through_state_dict():
    a = PercentileObserver(tail=0.0)
    a(torch.tensor([-2.0, 5.0]))
    b = PercentileObserver(tail=0.0)
    b.load_state_dict(a.state_dict())
    assert (float(b.lo), float(b.hi), bool(b.initialized)) == (-2.0, 5.0, True)


def test_percentile_on_sparse_data_keeps_the_non_zero_side():
    """Under 1% non-zero: a 1% tail would give the range [0, 0]; the collapsed side falls back to the extreme."""
    x = torch.zeros(5000)  # under sample_size: every value is seen
    x[:25] = torch.linspace(0.1, 3.0, 25)
    x[25:30] = -torch.linspace(0.1, 2.0, 5)
    obs = PercentileObserver(tail=0.01)
    obs(x)
    assert float(obs.hi) == pytest.approx(3.0)
    assert float(obs.lo) == pytest.approx(-2.0)


def test_percentile_on_dense_data_still_clips_tails():
    x = torch.arange(1.0, 1001.0)
    obs = PercentileObserver(tail=0.01)
    obs(x)
    assert 980 <= float(obs.hi) <= 995 and 5 <= float(obs.lo) <= 20


def _ops_range(obs, x, protect):
    """batch_range through the PyTorch ops (the compiled kernel switched off)."""
    from unittest import mock

    with mock.patch("dqbench.quant.observers.compiled_percentile", return_value=None):
        return obs.batch_range(x, protect)


def _awkward(gen, rows, cols, kind):
    x = torch.randn(rows, cols, generator=gen)
    if kind == "ties":
        x = torch.round(x * 2) / 2  # few distinct values, -0.0 among them
    elif kind == "sparse":
        x = x * (torch.rand(rows, cols, generator=gen) < 0.004)  # the sparse-data rule applies
    elif kind == "nan":
        x.view(-1)[::97] = float("nan")
    return x


@pytest.mark.parametrize("rows,cols", [(1, 1), (7, 3), (300, 64), (5000, 17)])  # below and above the sample size
@pytest.mark.parametrize("kind", ["normal", "ties", "sparse", "nan"])
@pytest.mark.parametrize("tail", [0.0, 0.001, 0.01, 0.3])
@pytest.mark.parametrize("protected", [None, 0.2, 1.0])
def test_compiled_percentile_gives_the_ops_values(rows, cols, kind, tail, protected):
    from dqbench.quant.observers import compiled_percentile

    x = _awkward(torch.Generator().manual_seed(rows * cols), rows, cols, kind)
    if compiled_percentile(x) is None:
        pytest.skip("compiled kernels not built (or DQBENCH_ENGINE=torch)")
    protect = None if protected is None else torch.rand(rows, generator=torch.Generator().manual_seed(1)) < protected
    obs = PercentileObserver(tail, sample_size=2048)
    torch.manual_seed(5)
    compiled = obs.batch_range(x, protect)
    after_compiled = torch.rand(1)
    torch.manual_seed(5)
    ops = _ops_range(obs, x, protect)
    assert torch.equal(torch.rand(1), after_compiled)  # the same draws from torch's generator
    if ops is None:
        assert compiled is None and protected == 1.0
        return
    for a, b in zip(compiled, ops):
        assert a.dtype == b.dtype == torch.float32 and a.shape == b.shape == ()
        assert (a.isnan() and b.isnan()) or a.item() == b.item()


def test_compiled_percentile_refuses_a_protect_mask_of_the_wrong_length():
    from dqbench.quant.observers import compiled_percentile

    x = torch.randn(20000, 2)
    if compiled_percentile(x) is None:
        pytest.skip("compiled kernels not built (or DQBENCH_ENGINE=torch)")
    with pytest.raises(ValueError, match="one element per row"):
        PercentileObserver(0.01).batch_range(x, torch.zeros(19999, dtype=torch.bool))
