#!/usr/bin/env python3
"""Compare container-libs' libnetwork test results, stock vs patched.

    go_results.py OUT [--allow-fixed] [--indent S] [--label L] [--summary]

OUT holds {stock,patched}.go.json (go test -json events) and
{stock,patched}.ginkgo.json (ginkgo's JSON report), as go-tests.sh's
go_run_tree leaves them.  Every test and spec stock has must have the same
result with patched (--allow-fixed: or pass where stock fails), and patched
must fail nothing.  Prints the counts, the new tests and the problems, and a
last line "L: ..." (default RESULT); --summary also writes OUT/summary.txt.
Exit status 1 on any problem, or when nothing was parsed.
"""
import argparse
import json
import pathlib
import sys


def results(out, name):
    r = {}
    f = out / f"{name}.go.json"
    for line in f.read_text().splitlines() if f.exists() else []:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("Test") and ev.get("Action") in ("pass", "fail", "skip") and "/" not in ev["Test"]:
            r[f"go {ev['Package'].split('common/')[-1]} {ev['Test']}"] = ev["Action"]
    report = out / f"{name}.ginkgo.json"
    if report.exists():
        for suite in json.loads(report.read_text()):
            for spec in suite.get("SpecReports") or []:
                if spec.get("LeafNodeType") != "It":
                    continue
                key = "ginkgo " + " ".join(spec.get("ContainerHierarchyTexts") or []) + " " + spec["LeafNodeText"]
                r[key] = {"passed": "pass", "skipped": "skip", "pending": "skip"}.get(spec["State"], "fail")
    return r


def count(r):
    c = {"pass": 0, "fail": 0, "skip": 0}
    for v in r.values():
        c[v] += 1
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--allow-fixed", action="store_true")
    ap.add_argument("--indent", default="")
    ap.add_argument("--label", default="RESULT")
    ap.add_argument("--summary", action="store_true")
    a = ap.parse_args()
    out, i = pathlib.Path(a.out), a.indent
    stock, patched = results(out, "stock"), results(out, "patched")
    cs, cp = count(stock), count(patched)
    lines = [
        f"{i}stock   : {len(stock)} tests+specs, {cs['pass']} pass, {cs['fail']} fail, {cs['skip']} skip",
        f"{i}patched : {len(patched)} tests+specs, {cp['pass']} pass, {cp['fail']} fail, {cp['skip']} skip",
    ]
    bad = []
    for k, v in sorted(stock.items()):
        pv = patched.get(k, "missing")
        if v == "fail":
            lines.append(f"{i}stock fails {k} (patched: {pv})")
        if pv != v and not (a.allow_fixed and v == "fail" and pv == "pass"):
            bad.append(f"{i}DIFFERS {k}: stock {v}, patched {pv}")
    bad += [f"{i}FAILS   {k}" for k, v in sorted(patched.items()) if v == "fail"]
    new = sorted(k for k in patched if k not in stock)
    lines.append(f"{i}new in patched: {len(new)} ({sum(patched[k] == 'pass' for k in new)} pass)")
    lines += [f"{i}  new {patched[k]}: {k}" for k in new]
    if not stock or not patched:
        bad.append(f"{i}no results parsed (see the logs in {out})")
    lines += bad
    ok = "patched fails nothing, and passes everything stock passes" if a.allow_fixed else "no differences, patched fails nothing"
    lines.append(f"{i}{a.label}: " + (ok if not bad else f"{len(bad)} problem(s)"))
    text = "\n".join(lines)
    if a.summary:
        (out / "summary.txt").write_text(text + "\n")
    print(text)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
