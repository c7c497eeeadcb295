import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dqbench.errors import DQBenchError
from dqbench.report.document import accuracy_frame, gains, markdown_tables, summarize, write_report

REPO = Path(__file__).resolve().parents[2]


def _rec(method, bits, seed, test, status="ok"):
    cfg = {"dataset": "cora", "arch": "gcn", "method": method, "bits": bits, "seed": seed, "fold": 0}
    return {"schema": 1, "trial_id": f"{method}-{bits}-{seed}", "kind": "accuracy", "status": status,
            "config": cfg, "metrics": {"test": test, "val": test, "train": 1.0, "avg_bits": bits,
                                       "model_size_bytes": 1000 * bits, "epoch_time_s": 0.01},
            **({"error": "boom"} if status == "failed" else {})}


RECORDS = [_rec("fp32", 32, 0, 0.80), _rec("fp32", 32, 1, 0.82), _rec("qat", 4, 0, 0.50), _rec("qat", 4, 1, 0.54),
           _rec("degree_quant", 4, 0, 0.70), _rec("degree_quant", 4, 1, 0.74), _rec("ptq", 8, 0, 0, "failed")]


def test_summary_statistics_and_gain():
    s = summarize(accuracy_frame(RECORDS))
    row = s[(s.method == "qat") & (s.bits == 4)].iloc[0]
    assert row["mean"] == pytest.approx(52.0) and row["n"] == 2
    assert row["std"] == pytest.approx(2.8284, rel=1e-3)  # sample std over seeds
    assert row["delta_fp32"] == pytest.approx(-29.0)
    g = gains(s, accuracy_frame(RECORDS))
    assert g.iloc[0]["gain"] == pytest.approx(20.0)
    # paired over seeds 0 and 1: differences 20 and 20, so the interval is the point
    assert (g.iloc[0]["gain_lo"], g.iloc[0]["gain_hi"]) == (pytest.approx(20.0), pytest.approx(20.0))
    # to FP32: -30 (seed 0) and -28 (seed 1): mean -29, t(1) interval -29 +- 12.706 * 1.4142 / 1.4142
    assert row["delta_lo"] == pytest.approx(-29.0 - 12.7062, rel=1e-4)
    assert row["delta_hi"] == pytest.approx(-29.0 + 12.7062, rel=1e-4)


def _write_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"suite": {"name": "t"}, "environment": {"cpu": "x"}}))
    (run / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    return run


def test_write_report_files(tmp_path):
    path = write_report(_write_run(tmp_path), command="dqbench run t")
    text = path.read_text()
    assert "52.00 ± 2.83 (2)" in text and "+20.00" in text and "boom" in text and "dqbench run t" in text
    assert "[+20.00, +20.00]" in text and "[-41.71, -16.29]" in text  # paired 95% intervals
    for name in ("summary.csv", "gains.csv", "accuracy.png", "gains.png"):
        assert (path.parent / name).exists()
    assert "2.00×" not in text  # same epoch time for every method here: the dq/qat ratio is 1.00×
    assert "1.00×" in text


def test_report_lists_pieces_and_settings(tmp_path):
    run = _write_run(tmp_path)
    recs = [dict(r, config=dict(r["config"], arch_kwargs={"hidden": 64}, train={"epochs": 7},
                                method_kwargs={"p_min": 0.2} if r["config"]["method"] == "degree_quant" else {}))
            for r in RECORDS]
    (run / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    lines = [{"command": "dqbench run t --dataset cora", "git": "abc123", "started": "today", "to_run": 7,
              "piece": "p1"},
             {"command": "dqbench run t --dataset citeseer", "git": "abc123", "started": "today", "to_run": 5},
             {"piece": "p1", "ended": "today", "ran": 3, "failed": 1, "outcome": "interrupted"}]
    (run / "pieces.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    text = write_report(run, command="dqbench report run").read_text()
    assert "`dqbench run t --dataset cora`" in text and "abc123" in text and "Report written by" in text
    assert "ran 3, 1 failed, interrupted" in text  # an invocation cut short says so
    assert "| —" in text and "no end was logged" in text  # one with no end line is marked unknown
    assert "hidden=64" in text and "epochs=7" in text and "p_min=0.2" in text


def test_report_does_not_import_torch(tmp_path):
    run = _write_run(tmp_path)
    code = ("import sys; from dqbench.report.document import write_report; write_report(sys.argv[1]); "
            "assert 'torch' not in sys.modules, 'report imported torch'")
    subprocess.run([sys.executable, "-c", code, str(run)], check=True, cwd=REPO)


def test_missing_run_dir(tmp_path):
    with pytest.raises(DQBenchError, match="not a dqbench run directory"):
        write_report(tmp_path / "nothing")


def test_anchor_printed_beside_our_figure(tmp_path):
    records = []
    for seed, test in ((0, 0.60), (1, 0.64)):
        r = _rec("qat", 4, seed, test)
        r["config"].update(dataset="reddit-binary", arch="gin")
        records.append(r)
    run = tmp_path / "run"
    run.mkdir()
    (run / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    text = write_report(run).read_text()
    assert "Against published figures" in text and "56.20 ± 8.20" in text and "+5.80" in text


def test_single_record_has_no_spread(tmp_path):
    run = _write_run(tmp_path)
    (run / "trials.jsonl").write_text(json.dumps(RECORDS[2]) + "\n")
    text = write_report(run).read_text()
    assert "50.00 ± – (1)" in text and "± 0.00" not in text


def test_report_compares_labelled_variants(tmp_path):
    run = _write_run(tmp_path)
    variant = [dict(_rec("degree_quant", 4, s, t), trial_id=f"v{s}") for s, t in ((0, 0.60), (1, 0.66))]
    for r in variant:
        r["config"] = dict(r["config"], method="dq_masking_only", method_name="degree_quant")
    (run / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RECORDS + variant))
    text = write_report(run).read_text()
    assert "## Variants against" in text
    # dq_masking_only - qat: +10 and +12; - degree_quant: -10 and -8
    section = text.split("## Variants against")[1]
    row = next(line for line in section.splitlines() if "| dq_masking_only" in line)
    assert "+11.00" in row and "-9.00" in row


def test_partial_run_compares_matching_folds_only():
    # FP32 ran seed 0 only; QAT seeds 0 and 1, with seed 1 an easy one: the difference must not mix them
    recs = [_rec("fp32", 32, 0, 0.80), _rec("qat", 4, 0, 0.70), _rec("qat", 4, 1, 0.95),
            _rec("degree_quant", 4, 0, 0.75)]
    s = summarize(accuracy_frame(recs))
    row = s[s.method == "qat"].iloc[0]
    assert row["delta_fp32"] == pytest.approx(-10.0) and row["delta_n"] == 1 and row["delta_partial"]
    g = gains(s, accuracy_frame(recs)).iloc[0]
    assert g["gain"] == pytest.approx(5.0) and g["gain_n"] == 1 and g["gain_partial"]
    text = markdown_tables(s, gains(s, accuracy_frame(recs)), [], pd.DataFrame())
    assert "-10.00 (n=1)" in text and "+5.00 (n=1)" in text


def test_latency_table_shows_medians_stages_and_memory_in_ms():
    from dqbench.report.document import latency_table, skipped_controls, stage_table

    df = pd.DataFrame([{"dataset": "cora", "arch": "gat", "bits": 8, "threads": 1, "backend": "vnni",
                        "median_s.int8": 0.002, "median_s.fp32": 0.008, "speedup.vs_fp32": 4.0,
                        "stages_s.attention": 0.0005, "stages_s.gemm": 0.001,
                        "roofline.fraction_of_limit.gemm": 0.4, "skip_reasons.bf16": "CPU lacks AVX512-BF16",
                        "memory_bytes.int8_total": 25, "memory_bytes.fp32_total": 100}])
    row = latency_table(df).iloc[0]
    assert row["INT8 ms"] == pytest.approx(2.0)
    assert row["× FP32 same-structure"] == 4.0 and row["INT8/FP32 memory"] == 0.25
    stages = stage_table(df).iloc[0]
    assert stages["attention ms"] == pytest.approx(0.5) and stages["gemm % of limit"] == pytest.approx(40.0)
    assert skipped_controls(df) == ["cora gat t1: bf16: CPU lacks AVX512-BF16"]
