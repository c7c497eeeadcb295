"""Pair a run's trials with a baseline's by configuration without the seed and fold, and mark each pair."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from dqbench.bits import FP32_BITS
from dqbench.compare.snapshot import Snapshot
from dqbench.compare.stats import Verdict, judge_accuracy, judge_latency

MARKS = ("newly failing", "worse", "missing", "better", "fixed", "new", "not comparable", "same")
REGRESSIONS = ("newly failing", "worse", "missing")
UNIT_KEYS = ("seed", "fold")
UNKNOWN = {None, "not installed"}


@dataclass
class Group:
    """All trials of one configuration (over seeds and folds)."""

    key: str
    kind: str
    config: dict
    records: dict = field(default_factory=dict)   # (seed, fold) -> record

    def ok(self) -> dict:
        return {u: r for u, r in self.records.items() if r["status"] == "ok"}


@dataclass
class Row:
    mark: str
    kind: str
    name: str
    metric: str
    key: str
    base: list | None = None
    run: list | None = None
    verdict: Verdict | None = None
    note: str = ""


def group_key(record: dict) -> str:
    cfg = {k: v for k, v in record["config"].items() if k not in UNIT_KEYS}
    return json.dumps({"kind": record.get("kind", "accuracy"), **cfg}, sort_keys=True, default=str)


def group_records(records: list[dict]) -> dict[str, Group]:
    groups: dict[str, Group] = {}
    for rec in records:
        key = group_key(rec)
        cfg = rec["config"]
        g = groups.setdefault(key, Group(key, rec.get("kind", "accuracy"), cfg))
        g.records[(cfg.get("seed", 0), cfg.get("fold", 0))] = rec
    return groups


def display_name(config: dict) -> str:
    bits = config.get("bits")
    parts = [config.get("dataset"), config.get("arch"), config.get("method"),
             "fp32" if bits == FP32_BITS else f"int{bits}"]
    if config.get("threads") is not None:
        parts.append(f"t{config['threads']}")
    return "/".join(str(p) for p in parts)


def _names(keys, groups: dict[str, Group]) -> dict[str, str]:
    """Readable names; configurations that share one get a short hash of their settings."""
    plain = {k: display_name(groups[k].config) for k in keys}
    counts: dict[tuple, int] = {}
    for k in keys:
        counts[(groups[k].kind, plain[k])] = counts.get((groups[k].kind, plain[k]), 0) + 1
    return {k: plain[k] + (f"#{hashlib.sha1(k.encode()).hexdigest()[:6]}"
                           if counts[(groups[k].kind, plain[k])] > 1 else "") for k in keys}


def _method_version(group: Group) -> str | None:
    for rec in group.records.values():
        v = rec.get("method_version") or (rec.get("metrics") or {}).get("method_version")
        if v is not None:
            return str(v)
    return None


def incomparable(kind: str, base: Snapshot, run: Snapshot, bg: Group, rg: Group) -> str | None:
    """Why this pair cannot be compared, or None. Latency never compares across machine ids."""
    pkgs = ("dqbench", "torch", "torch_geometric") if kind == "latency" else ("dqbench",)
    for pkg in pkgs:
        if pkg == "dqbench" and UNKNOWN & {base.package(pkg), run.package(pkg)}:
            continue  # a source checkout reports no version: compare (the report warns)
        if base.package(pkg) != run.package(pkg):
            return f"{pkg} {base.package(pkg)} in baseline, {run.package(pkg)} now"
    bv, rv = _method_version(bg), _method_version(rg)
    if bv is not None and rv is not None and bv != rv:  # records from before method versions: compared
        return f"method version {bv} in baseline, {rv} now"
    if kind == "latency" and (not run.machine_id or base.machine_id != run.machine_id):
        return f"latency measured on machine {run.machine_id}, baseline on {base.machine_id}"
    return None


def compare_snapshots(base: Snapshot, run: Snapshot, settings: dict) -> list[Row]:
    """One row per configuration and metric (test score; one per latency control)."""
    bgroups, rgroups = group_records(base.records), group_records(run.records)
    allgroups = {**bgroups, **rgroups}
    names = _names(list(allgroups), allgroups)
    rows: list[Row] = []
    for key in sorted(allgroups, key=lambda k: (allgroups[k].kind, names[k])):
        g, name = allgroups[key], names[key]
        if key not in rgroups:
            rows.append(Row("missing", g.kind, name, "*", key, note=_changed_note(g, rgroups, "the run")))
        elif key not in bgroups:
            rows.append(Row("new", g.kind, name, "*", key, note=_changed_note(g, bgroups, "the baseline")))
        else:
            rows.extend(_compare_group(bgroups[key], rgroups[key], name, base, run, settings))
    return rows


def _compare_group(bg: Group, rg: Group, name: str, base: Snapshot, run: Snapshot, settings: dict) -> list[Row]:
    why = incomparable(bg.kind, base, run, bg, rg)
    rows = _status_rows(bg, rg, name) if why is None else []
    bok, rok = bg.ok(), rg.ok()
    if not bok or not rok:
        if not rows:
            rows.append(Row("not comparable" if why else "same", bg.kind, name, "status", bg.key,
                            note=why or f"not ok in {'both' if not bok and not rok else 'one side'}: "
                                        f"{_first_error(rg) or _first_error(bg)}"))
        return rows
    if bg.kind == "latency":
        rows.extend(_latency_rows(bok, rok, bg, name, settings, why))
    else:
        bs = {u: r["metrics"]["test"] for u, r in bok.items()}
        rs = {u: r["metrics"]["test"] for u, r in rok.items()}
        v = judge_accuracy(bs, rs, settings["accuracy_tolerance"], settings["alpha"])
        rows.append(Row("not comparable" if why else v.mark, bg.kind, name, "test", bg.key, list(bs.values()),
                        list(rs.values()), v, why or _units_note(bs, rs)))
    return rows


def _status_rows(bg: Group, rg: Group, name: str) -> list[Row]:
    newly = [u for u, r in rg.records.items() if r["status"] != "ok" and bg.records.get(u, {}).get("status") == "ok"]
    fixed = [u for u, r in rg.records.items() if r["status"] == "ok" and bg.records.get(u, {}).get("status") not in
             (None, "ok")]
    rows = []
    if newly:
        err = rg.records[newly[0]].get("error", "")
        rows.append(Row("newly failing", bg.kind, name, "status", bg.key,
                        note=f"{_units(newly)} now {rg.records[newly[0]]['status']}: {err}".strip()))
    if fixed:
        rows.append(Row("fixed", bg.kind, name, "status", bg.key, note=f"{_units(fixed)} ok now"))
    return rows


def _latency_rows(bok: dict, rok: dict, bg: Group, name: str, settings: dict, why: str | None) -> list[Row]:
    bs, rs = _pooled_samples(bok), _pooled_samples(rok)
    rows = []
    for control in sorted(set(bs) | set(rs)):
        if control not in rs:
            rows.append(Row("not comparable" if why else "missing", "latency", name, control, bg.key, bs[control],
                            None, note=why or "control no longer measured"))
        elif control not in bs:
            rows.append(Row("not comparable" if why else "new", "latency", name, control, bg.key, None,
                            rs[control], note=why or "control not in baseline"))
        else:
            v = judge_latency(bs[control], rs[control], settings["latency_tolerance"], settings["alpha"])
            rows.append(Row("not comparable" if why else v.mark, "latency", name, control, bg.key, bs[control],
                            rs[control], v, why or ""))
    return rows


def _pooled_samples(records: dict) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for _, rec in sorted(records.items()):
        for control, values in (rec.get("samples") or {}).items():
            out.setdefault(control, []).extend(float(x) for x in values)
    return out


def _units(units) -> str:
    return ", ".join(f"seed {s}" + (f" fold {f}" if f else "") for s, f in sorted(units))


def _units_note(bs: dict, rs: dict) -> str:
    if set(bs) == set(rs):
        return ""
    parts = []
    if set(bs) - set(rs):
        parts.append(f"only in baseline: {_units(set(bs) - set(rs))}")
    if set(rs) - set(bs):
        parts.append(f"only now: {_units(set(rs) - set(bs))}")
    return "; ".join(parts)


def _first_error(group: Group) -> str:
    return next((r.get("error", r["status"]) for r in group.records.values() if r["status"] != "ok"), "")


def _changed_note(group: Group, others: dict[str, Group], where: str) -> str:
    """For a missing/new configuration: which settings differ from a same-named one on the other side."""
    name = display_name(group.config)
    for other in others.values():
        if other.kind == group.kind and display_name(other.config) == name:
            diff = _diff_keys(group.config, other.config)
            return f"{where} has {name} with different {', '.join(diff)}; re-baseline if the suite changed"
    return ""


def _diff_keys(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        if k in UNIT_KEYS and not prefix:
            continue
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out.extend(_diff_keys(va, vb, f"{prefix}{k}."))
        elif va != vb:
            out.append(f"{prefix}{k}")
    return out
