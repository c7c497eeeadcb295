import pandas as pd
import pytest

from dqbench.variants import variant_frame, variant_rows


def _rows(method, base, bits, scores):
    return pd.DataFrame({"dataset": "cora", "arch": "gcn", "method": method, "method_name": base, "bits": bits,
                         "seed": range(len(scores)), "fold": 0, "test": scores})


def test_no_labelled_variants_no_table():
    df = pd.concat([_rows("qat", "qat", 4, [70.0, 72.0]), _rows("degree_quant", "degree_quant", 4, [80.0, 81.0])])
    assert variant_frame(df).empty


def test_variant_against_qat_and_its_default():
    df = pd.concat([_rows("fp32", "fp32", 32, [82.0, 83.0, 84.0]), _rows("qat", "qat", 4, [70.0, 72.0, 71.0]),
                    _rows("degree_quant", "degree_quant", 4, [80.0, 81.0, 82.0]),
                    _rows("dq_clip_only", "degree_quant", 4, [79.0, 80.0, 81.0])])
    v = variant_frame(df).set_index("method")
    assert set(v.index) == {"degree_quant", "dq_clip_only"}  # fp32 and the reference are not variants
    clip = v.loc["dq_clip_only"]
    assert clip["vs_qat"] == pytest.approx(9.0) and clip["vs_base"] == pytest.approx(-1.0)
    assert clip["vs_base_lo"] == pytest.approx(-1.0) and clip["vs_base_hi"] == pytest.approx(-1.0)  # no noise
    assert pd.isna(v.loc["degree_quant"].get("vs_base"))  # the default is not compared with itself
    rows = {r[3]: r for r in variant_rows(variant_frame(df))}
    assert rows["dq_clip_only"][4] == "80.00 ± 1.00 (3)"
    assert rows["dq_clip_only"][6] == "-1.00 [-1.00, -1.00]" and rows["degree_quant"][6] == ""


def test_variant_without_its_default_in_the_run():
    df = pd.concat([_rows("qat", "qat", 8, [70.0]), _rows("dq_ema", "degree_quant", 8, [75.0])])
    r = variant_frame(df).iloc[0]
    assert r["vs_qat"] == pytest.approx(5.0) and pd.isna(r["vs_qat_lo"])  # n = 1: no interval
    assert "vs_base" not in r or pd.isna(r["vs_base"])
