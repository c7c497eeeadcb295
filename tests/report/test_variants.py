import pandas as pd
import pytest

from dqbench.report.variants import variant_frame, variant_rows


def _rows(method, base, bits, scores, arch="gcn", arch_name="gcn", dataset="cora"):
    return pd.DataFrame({"dataset": dataset, "dataset_name": "cora", "arch": arch, "arch_name": arch_name,
                         "method": method, "method_name": base, "bits": bits, "seed": range(len(scores)), "fold": 0,
                         "test": scores})


def test_no_labelled_variants_no_table():
    df = pd.concat([_rows("qat", "qat", 4, [70.0, 72.0]), _rows("degree_quant", "degree_quant", 4, [80.0, 81.0])])
    assert variant_frame(df).empty


def test_method_variant_against_its_default_and_qat():
    df = pd.concat([_rows("fp32", "fp32", 32, [82.0, 83.0, 84.0]), _rows("qat", "qat", 4, [70.0, 72.0, 71.0]),
                    _rows("degree_quant", "degree_quant", 4, [80.0, 81.0, 82.0]),
                    _rows("dq_clip_only", "degree_quant", 4, [79.0, 80.0, 81.0])])
    v = variant_frame(df).set_index("method")
    assert set(v.index) == {"degree_quant", "dq_clip_only"}  # fp32 and the reference are not variants
    clip = v.loc["dq_clip_only"]
    assert clip["vs_qat"] == pytest.approx(9.0) and clip["vs_base"] == pytest.approx(-1.0)
    assert clip["vs_base_lo"] == pytest.approx(-1.0) and clip["vs_base_hi"] == pytest.approx(-1.0)  # no noise
    assert pd.isna(v.loc["degree_quant"].get("vs_base"))  # the default is not compared with itself
    rows = {r[2]: r for r in variant_rows(variant_frame(df))}
    assert rows["dq_clip_only"][4] == "80.00 ± 1.00 (3)"
    assert rows["dq_clip_only"][5] == "-1.00 [-1.00, -1.00]" and rows["degree_quant"][5] == ""
    assert rows["degree_quant"][6].startswith("+10.00")


def test_arch_and_dataset_variants_against_their_default():
    df = pd.concat([_rows("fp32", "fp32", 32, [70.0, 72.0], arch="gin", arch_name="gin"),
                    _rows("fp32", "fp32", 32, [75.0, 76.0], arch="gin_dropout0.8", arch_name="gin"),
                    _rows("fp32", "fp32", 32, [71.0, 71.0], arch="gin", arch_name="gin", dataset="cora_norm")])
    v = variant_frame(df)
    assert len(v) == 2  # the two variants; the default gin cell is not a row
    do = v[v["arch"] == "gin_dropout0.8"].iloc[0]
    assert do["varies"] == "arch" and do["vs_base"] == pytest.approx(4.5) and "vs_qat" not in do.dropna()
    norm = v[v["dataset"] == "cora_norm"].iloc[0]
    assert norm["varies"] == "dataset" and norm["vs_base"] == pytest.approx(0.0)


def test_variant_without_its_default_in_the_run():
    df = pd.concat([_rows("qat", "qat", 8, [70.0]), _rows("dq_ema", "degree_quant", 8, [75.0])])
    r = variant_frame(df).iloc[0]
    assert r["vs_qat"] == pytest.approx(5.0) and pd.isna(r["vs_qat_lo"])  # n = 1: no interval
    assert "vs_base" not in r or pd.isna(r["vs_base"])


def test_variant_with_other_training_settings_against_qat_trained_alike():
    lr = lambda rows, v: rows.assign(train_settings=f"lr={v}")  # noqa: E731
    df = pd.concat([lr(_rows("qat", "qat", 8, [70.0, 71.0]), 0.005),
                    lr(_rows("qat_lr0.001", "qat", 8, [74.0, 75.0]), 0.001),
                    lr(_rows("degree_quant", "degree_quant", 8, [69.0, 70.0]), 0.005),
                    lr(_rows("dq_lr0.001", "degree_quant", 8, [75.0, 75.0]), 0.001)])
    v = variant_frame(df).set_index("method")
    assert v.loc["dq_lr0.001", "vs_qat"] == pytest.approx(0.5)  # against qat_lr0.001, not plain qat (+4.5)
    assert v.loc["degree_quant", "vs_qat"] == pytest.approx(-1.0) and pd.isna(v.loc["degree_quant", "qat_ref"])
    rows = {r[2]: r for r in variant_rows(variant_frame(df))}
    assert rows["dq_lr0.001"][6].endswith("(`qat_lr0.001`)") and "`" not in rows["degree_quant"][6]


def test_variant_falls_back_to_plain_qat_when_no_qat_was_trained_alike():
    df = pd.concat([_rows("qat", "qat", 4, [60.0, 62.0]).assign(train_settings="lr=0.05"),
                    _rows("degree_quant", "degree_quant", 4, [80.0, 81.0]).assign(train_settings="lr=0.001"),
                    _rows("dq_ema", "degree_quant", 4, [85.0, 86.0]).assign(train_settings="lr=0.001")])
    v = variant_frame(df).set_index("method")
    assert v.loc["dq_ema", "vs_qat"] == pytest.approx(24.5) and "qat_ref" not in v


def test_labelled_method_on_a_dataset_variant_against_the_default_dataset_and_its_own_qat():
    df = pd.concat([_rows("qat", "qat", 4, [60.0, 62.0]), _rows("dq_ema", "degree_quant", 4, [80.0, 82.0]),
                    _rows("qat", "qat", 4, [50.0, 52.0], dataset="cora_std"),
                    _rows("dq_ema", "degree_quant", 4, [78.0, 81.0], dataset="cora_std")])
    v = variant_frame(df)
    both = v[(v["dataset"] == "cora_std") & (v["method"] == "dq_ema")].iloc[0]
    assert both["varies"] == "dataset" and both["vs_base"] == pytest.approx(-1.5)  # against dq_ema on cora
    assert both["vs_qat"] == pytest.approx(28.5)  # against qat on cora_std, not on cora
    assert pd.isna(v[(v["dataset"] == "cora_std") & (v["method"] == "qat")].iloc[0].get("vs_qat"))
