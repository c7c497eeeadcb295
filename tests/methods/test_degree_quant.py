import pytest
import torch
import torch.nn.functional as F

from dqbench.errors import DQBenchError
from dqbench.methods.degree_quant import DegreeQuant, protection_probability, sample_protection
from dqbench.quant.observers import MomentumObserver, PercentileObserver
from dqbench.quant.quantizer import FakeQuantize
from dqbench.registry import ARCHS, METHODS

NUM_FEATURES, NUM_CLASSES = 8, 3  # the shape of conftest.py's tiny graphs


def test_registered():
    assert METHODS.get("degree_quant") is DegreeQuant


def test_probability_monotone_in_degree_and_within_bounds():
    deg = torch.tensor([5.0, 0.0, 3.0, 3.0, 9.0, 1.0, 3.0])
    p = protection_probability(deg, 0.1, 0.2)
    order = torch.argsort(deg)
    assert (p[order].diff() >= 0).all()
    assert p.min() == pytest.approx(0.1) and p.max() == pytest.approx(0.2)
    assert p[2] == p[3] == p[6]  # equal in-degree, equal probability
    assert ((p >= 0.1) & (p <= 0.2)).all()


def test_probability_is_rank_based_not_value_based():
    a = protection_probability(torch.tensor([1.0, 2.0, 3.0]), 0.0, 1.0)
    b = protection_probability(torch.tensor([1.0, 2.0, 1000.0]), 0.0, 1.0)
    assert torch.equal(a, b)


def test_transform_uses_in_degree_and_leaves_input_alone(node_graph):
    method = DegreeQuant(bits=8)
    out = method.transform(node_graph)
    assert not hasattr(node_graph, "dq_prob") or node_graph.dq_prob is None
    assert out.dq_prob.shape == (node_graph.num_nodes,)
    hub = 0  # the conftest graph's hub has the largest in-degree
    assert out.dq_prob[hub] == pytest.approx(0.1)
    assert out.dq_prob.min() >= 0.0 and out.dq_prob.max() <= 0.1


def test_directed_in_degree_counts_targets():
    from torch_geometric.data import Data

    data = Data(edge_index=torch.tensor([[0, 0, 0, 1], [1, 2, 3, 2]]), num_nodes=4)
    p = DegreeQuant(bits=4).transform(data).dq_prob  # in-degrees: 0, 1, 2, 1
    assert p[0] == pytest.approx(0.1) and p[2] == pytest.approx(0.2) and p[1] == p[3]


@pytest.mark.parametrize("bits,p,tail", [(8, (0.0, 0.1), 0.001), (4, (0.1, 0.2), 0.01), (2, (0.1, 0.2), 0.01)])
def test_defaults_by_bit_width(bits, p, tail):
    m = DegreeQuant(bits=bits)
    assert (m.p_min, m.p_max) == p and m.tail == tail


def test_user_overrides():
    m = DegreeQuant(bits=8, p_min=0.2, p_max=0.5, tail=0.05)
    assert (m.p_min, m.p_max, m.tail) == (0.2, 0.5, 0.05)


@pytest.mark.parametrize("kwargs", [{"p_min": 0.3, "p_max": 0.2}, {"p_max": 1.5}, {"p_min": -0.1},
                                    {"bits": 9}, {"bits": 1}, {"tail": 0.7}, {"momentum": 0.0}])
def test_bad_options_are_user_errors(kwargs):
    with pytest.raises(DQBenchError):
        DegreeQuant(**kwargs)


def test_sample_protection_follows_probabilities():
    from torch_geometric.data import Data

    torch.manual_seed(0)
    data = Data(dq_prob=torch.tensor([0.0, 0.5, 1.0]).repeat(2000), num_nodes=6000)
    freq = torch.stack([sample_protection(data) for _ in range(10)]).float().mean(0).view(2000, 3).mean(0)
    assert freq[0] == 0.0 and freq[2] == 1.0 and abs(float(freq[1]) - 0.5) < 0.03


def test_missing_probabilities_is_user_error(node_graph):
    model = DegreeQuant(bits=8).prepare(ARCHS.get("gcn")(in_channels=NUM_FEATURES, out_channels=NUM_CLASSES,
                                                         task="node"))
    model.train()
    with pytest.raises(DQBenchError, match="transform"):
        model(node_graph)


def _gcn():
    torch.manual_seed(0)
    return ARCHS.get("gcn")(in_channels=NUM_FEATURES, out_channels=NUM_CLASSES, task="node", hidden=16)


def test_prepare_installs_percentile_clip_quantizers_and_protector():
    model = DegreeQuant(bits=4).prepare(_gcn())
    for p in model.quant_points():
        q = model.get_quantizer(p.path, p.role)
        assert isinstance(q, FakeQuantize) and q.bits == 4 and q.backward == "clip"
        if p.kind != "param":
            assert isinstance(q.observer, PercentileObserver)
            assert q.observer.tail == (0.0 if (p.role, p.kind) == ("input", "node") else 0.01)
        assert q.signed == (p.kind != "edge")
    assert model.protector is sample_protection


@pytest.mark.parametrize("percentile", [True, False])
def test_observe_protected_reaches_every_activation_quantizer(percentile):
    for observe in (False, True):
        model = DegreeQuant(bits=8, percentile=percentile, observe_protected=observe).prepare(_gcn())
        flags = {model.get_quantizer(p.path, p.role).observe_protected for p in model.quant_points()
                 if p.kind != "param"}
        assert flags == {observe}


def test_clamp_protected_reaches_every_activation_quantizer():
    for clamp in (False, True):
        model = DegreeQuant(bits=4, clamp_protected=clamp).prepare(_gcn())
        flags = {model.get_quantizer(p.path, p.role).clamp_protected for p in model.quant_points()
                 if p.kind != "param"}
        assert flags == {clamp}


def test_ablation_switches_fall_back_to_qat_parts(node_graph):
    model = DegreeQuant(bits=8, masking=False, percentile=False, clip_grad=False).prepare(_gcn())
    assert model.protector is None
    for p in model.quant_points():
        q = model.get_quantizer(p.path, p.role)
        assert q.backward == "ste"
        if p.kind != "param":
            assert type(q.observer) is MomentumObserver
    assert DegreeQuant(bits=8, masking=False).transform(node_graph) is node_graph


def test_no_masking_at_eval_and_all_nodes_quantized(node_graph):
    method = DegreeQuant(bits=8, p_min=1.0, p_max=1.0)  # training: every node protected
    data = method.transform(node_graph)
    model = method.prepare(_gcn())
    model.train()
    assert model.protect_mask(data).all()
    model(data)
    first = model.convs[0]
    assert not bool(first.quant["input"].observer.initialized)  # protected rows never reach the observer
    model.eval()
    assert model.protect_mask(data) is None
    model.train()
    method2 = DegreeQuant(bits=8, masking=False)
    model2 = method2.prepare(_gcn())
    model2.train()
    model2(data)
    model2.eval()
    x = data.x
    out = model2.convs[0].quant["input"](x)
    assert not torch.equal(out, x)  # eval quantizes every node


def test_protected_nodes_skip_quantization_in_training(node_graph):
    method = DegreeQuant(bits=2)
    data = method.transform(node_graph)
    model = method.prepare(_gcn())
    q = model.convs[0].quant["input"]
    q.train()
    q(data.x)  # initialise the range
    protect = torch.zeros(data.num_nodes, dtype=torch.bool)
    protect[:5] = True
    out = q(data.x, protect)
    assert torch.equal(out[:5], data.x[:5]) and not torch.equal(out[5:], data.x[5:])


@pytest.mark.parametrize("arch", ["gcn", "gat", "gin"])
def test_trains_on_every_arch(arch, node_graph):
    if arch not in ARCHS:
        pytest.skip(f"arch '{arch}' not registered")
    torch.manual_seed(0)
    method = DegreeQuant(bits=4)
    data = method.transform(node_graph)
    no_dropout = {"dropout": 0.0, **({"attn_dropout": 0.0} if arch == "gat" else {})}
    model = method.prepare(ARCHS.get(arch)(in_channels=NUM_FEATURES, out_channels=NUM_CLASSES, task="node",
                                           hidden=16, **no_dropout))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(30):
        model.train()
        opt.zero_grad()
        loss = F.cross_entropy(model(data), data.y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert min(losses[-5:]) < losses[0]


def test_percentile_ranges_keep_running_extremes_by_default():
    model = DegreeQuant(bits=8).prepare(_gcn())
    obs = model.convs[0].quant["input"].observer
    assert obs.momentum is None
    ema = DegreeQuant(bits=8, momentum=0.1).prepare(_gcn()).convs[0].quant["input"].observer
    assert ema.momentum == 0.1
    fallback = DegreeQuant(bits=8, percentile=False).prepare(_gcn()).convs[0].quant["input"].observer
    assert fallback.momentum == 0.01


def test_node_input_roles_track_the_full_range_by_default():
    """Sparse raw features (bag-of-words) have a 1% tail of 0: the input role must not clip them to nothing."""
    model = DegreeQuant(bits=4).prepare(_gcn())
    for p in model.quant_points():
        q = model.get_quantizer(p.path, p.role)
        if p.role == "input" and p.kind == "node":
            assert q.observer.tail == 0.0
        elif p.kind != "param":
            assert q.observer.tail == 0.01
    x = (torch.rand(500, 100) < 0.01).float()
    q = model.convs[0].quant["input"].train()
    assert torch.equal(q(x), x)  # 0/1 features survive 4-bit quantization exactly
    custom = DegreeQuant(bits=4, input_tail=0.01).prepare(_gcn())
    assert custom.convs[0].quant["input"].observer.tail == 0.01


def test_edge_tail_sets_the_tail_of_edge_roles_only():
    model = DegreeQuant(bits=4, edge_tail=0.0).prepare(_gcn())
    tails = {(p.role, p.kind): model.get_quantizer(p.path, p.role).observer.tail
             for p in model.quant_points() if p.kind != "param"}
    assert tails[("message", "edge")] == 0.0
    assert tails[("aggregate", "node")] == 0.01 and tails[("input", "node")] == 0.0
    default = DegreeQuant(bits=4).prepare(_gcn())
    assert all(default.get_quantizer(p.path, p.role).observer.tail == 0.01
               for p in default.quant_points() if p.kind == "edge")
    with pytest.raises(DQBenchError):
        DegreeQuant(bits=4, edge_tail=0.7)
