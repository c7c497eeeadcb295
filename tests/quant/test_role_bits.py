"""Mixed precision: per-role and per-point widths, their checks, and what records count (average bits by
parameters and by activation elements, BitOPs with each linear's own input width)."""

from __future__ import annotations

import pytest
import torch

from dqbench.errors import DQBenchError
from dqbench.quant.role_bits import bits_for, check_points, check_role_bits
from dqbench.registry import ARCHS, METHODS


def test_a_point_takes_its_own_width_then_its_roles_then_the_default():
    rb = check_role_bits({"weight": 4, "convs.1.lin:weight": 2})
    assert bits_for(rb, 8, "convs.1.lin", "weight") == 2
    assert bits_for(rb, 8, "convs.0.lin", "weight") == 4
    assert bits_for(rb, 8, "convs.0", "aggregate") == 8


@pytest.mark.parametrize("value, says", [
    ({"weights": 4}, "unknown role"),
    ({"convs.0:agg": 4}, "unknown role"),
    ({":weight": 4}, "unknown role"),
    ({"weight": 9}, "from 2 to 8"),
    ({"weight": 1}, "from 2 to 8"),
    ({"weight": "4"}, "from 2 to 8"),
    ({"weight": True}, "from 2 to 8"),
    ([4], "must be a table"),
])
def test_bad_entries_are_refused_naming_them(value, says):
    with pytest.raises(DQBenchError, match=says):
        check_role_bits(value)


def test_a_point_key_must_exist_in_the_arch():
    check_points({"convs.0:aggregate": 4, "weight": 2}, {"convs.0:aggregate"}, "gcn")
    with pytest.raises(DQBenchError, match="gcn has no such quantization point"):
        check_points({"convs.7:aggregate": 4}, {"convs.0:aggregate"}, "gcn")


@pytest.mark.parametrize("method", ["qat", "degree_quant", "ptq"])
def test_methods_fill_each_point_at_its_width(method):
    model = ARCHS.get("gcn")(in_channels=6, out_channels=3, task="node", hidden=8)
    m = METHODS.get(method)(bits=8, role_bits={"weight": 4, "convs.1:aggregate": 2})
    model = m.prepare(model)
    if method == "ptq":
        m.calibrate(model, [])
    widths = {f"{p.path}:{p.role}": model.get_quantizer(p.path, p.role).bits for p in model.quant_points()}
    assert widths["convs.0.lin:weight"] == widths["convs.1.lin:weight"] == 4
    assert widths["convs.1:aggregate"] == 2 and widths["convs.0:aggregate"] == 8
    assert widths["convs.0:input"] == 8


def converted(role_bits):
    from torch_geometric.data import Data

    torch.manual_seed(0)
    data = Data(x=torch.randn(30, 6), edge_index=torch.randint(0, 30, (2, 90)))
    model = ARCHS.get("gcn")(in_channels=6, out_channels=3, task="node", hidden=8)
    m = METHODS.get("ptq")(bits=8, role_bits=role_bits)
    m.calibrate(m.prepare(model), [data])
    return m.convert(model.eval()), data


def test_average_bits_by_parameters_and_by_activation_elements():
    conv, data = converted({"weight": 4, "aggregate": 2})
    quantized = sum(w.values.numel() for w in conv.weights.values())
    floats = sum(v.numel() for k, v in conv.float_state.items() if k not in conv.weights and v.is_floating_point())
    assert conv.avg_bits() == pytest.approx((4 * quantized + 32 * floats) / (quantized + floats))
    act, inputs = conv.activation_profile([data])
    # per layer, elements seen: input n*F_in, linear n*F_out, message E', aggregate n*F_out, update n*F_out
    n, e = 30, int((data.edge_index[0] != data.edge_index[1]).sum()) + 30
    sizes = [(8, n * 6), (8, n * 8), (8, e), (2, n * 8), (8, n * 8), (8, n * 8), (8, n * 3), (8, e), (2, n * 3),
             (8, n * 3)]
    assert act == pytest.approx(sum(b * k for b, k in sizes) / sum(k for _, k in sizes))
    assert inputs == {"convs.0.lin.lin.weight": 8, "convs.1.lin.lin.weight": 8}


def test_bitops_use_each_linears_own_input_width():
    conv, data = converted({"convs.1:input": 3, "weight": 4})
    _, inputs = conv.activation_profile([data])
    assert inputs["convs.1.lin.lin.weight"] == 3
    assert conv.bitops(inputs) == 6 * 8 * 4 * 8 + 8 * 3 * 4 * 3
    assert conv.bitops() == (6 * 8 + 8 * 3) * 4 * 8  # without the profile: the model's nominal width


def test_an_fp32_model_profiles_at_32_bits():
    from torch_geometric.data import Data

    model = ARCHS.get("gin")(in_channels=6, out_channels=3, task="node", hidden=8)
    conv = METHODS.get("fp32")().convert(model.eval())
    act, inputs = conv.activation_profile([Data(x=torch.randn(5, 6), edge_index=torch.tensor([[0, 1], [1, 2]]))])
    assert act == 32.0 and set(inputs.values()) == {32} and len(inputs) == 4
