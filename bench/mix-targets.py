#!/usr/bin/env python3
"""Issue 16's targets from bench/mix.sh's output folder: llama-perplexity's mean KLD (lp/*.txt) beside requant's own
(report/pareto.json, qat.eval.txt), file sizes, and for each target the ratio and whether it is met.
    python3 bench/mix-targets.py OUT_DIR
"""
import json
import os
import re
import sys

out = sys.argv[1]


def llama(name):
    """llama-perplexity's mean KLD (and its ±), same-top % and PPL ratio for lp/NAME.txt, or None."""
    p = os.path.join(out, "lp", os.path.basename(name) + ".txt")
    if not os.path.exists(p):
        return None
    s = open(p, encoding="utf-8", errors="replace").read()
    m = re.search(r"Mean    KLD:\s+([-\d.eE+]+)\s+±\s+([-\d.eE+]+)", s)
    if not m:
        # llama-perplexity's log is written by a background thread, and the statistics at its end are sometimes lost
        # when the process exits; the last chunk's row carries the same running means (5 decimals): PPL, ln ratio,
        # KLD, RMS dp, same top
        rows = re.findall(r"^\s*\d+(?:\s+[-\d.]+\s+±\s+[-\d.]+\s*%?){5}\s*$", s, re.M)
        if not rows:
            return None
        v = re.findall(r"([-\d.]+)\s+±\s+([-\d.]+)", rows[-1])
        return {"kld": float(v[2][0]), "pm": float(v[2][1]), "top": float(v[4][0]), "ppl_ratio": float("nan"), "from_row": True}
    top = re.search(r"Same top p:\s+([\d.]+)", s)
    ratio = re.search(r"Mean PPL\(Q\)/PPL\(base\)\s+:\s+([\d.]+)", s)
    return {"kld": float(m.group(1)), "pm": float(m.group(2)), "top": float(top.group(1)) if top else float("nan"),
            "ppl_ratio": float(ratio.group(1)) if ratio else float("nan")}


def requant_qat():
    """requant eval's mean KLD per file from qat.eval.txt: the first table's rows are NAME PPL ± u, ln ratio ± u,
    mean KLD ± u, ..."""
    p = os.path.join(out, "qat.eval.txt")
    res = {}
    if not os.path.exists(p):
        return res
    for line in open(p, encoding="utf-8"):
        cells = line.split()
        pairs = re.findall(r"([-\d.]+)\s+±\s+([-\d.]+)", line)
        if cells and cells[0].endswith(".gguf") and len(pairs) >= 3 and cells[0][:-5] not in res:
            res[cells[0][:-5]] = float(pairs[2][0])
    return res


rows = []
pareto = json.load(open(os.path.join(out, "report", "pareto.json")))
points = {p["file"][:-5]: p for p in pareto["points"]}
for name, p in points.items():
    rows.append((name, os.path.getsize(os.path.join(out, "report", name + ".gguf")), p["bpw"], p["kld"], llama(name)))
qat_rq = requant_qat()
for name in ("qat.q4_0", "qat.Q4_0-llamacpp", "qat.mix"):
    f = os.path.join(out, name + ".gguf")
    if os.path.exists(f):
        rows.append((name, os.path.getsize(f), float("nan"), qat_rq.get(name, float("nan")), llama(name)))

print(f"{'file':<24}{'bytes':>10}{'BPW':>8}{'KLD requant':>14}{'KLD llama-perplexity':>26}{'same top %':>12}{'PPL ratio':>11}")
for name, size, bpw, kld, lp in rows:
    lps = (f"{lp['kld']:.6f} ± {lp['pm']:.6f}" + ("*" if lp.get("from_row") else " ")) if lp else "-"
    print(f"{name:<24}{size:>10}{bpw:>8.3f}{kld:>14.6f}{lps:>26}{(lp['top'] if lp else float('nan')):>12.2f}"
          f"{(lp['ppl_ratio'] if lp else float('nan')):>11.4f}")
print("(* from the last chunk's running mean: llama-perplexity's closing statistics were lost from its log)")


def target(title, mix, ref, bound, ref_size=None):
    if not os.path.exists(os.path.join(out, mix + ".gguf")):
        print(f"{title}: not judged ({mix}.gguf is missing)")
        return
    m, r = llama(mix), llama(ref)
    sm = os.path.getsize(os.path.join(out, mix + ".gguf"))
    sr = os.path.getsize(os.path.join(out, ref_size or ref) + ".gguf")
    if not m or not r:
        print(f"{title}: not judged (no llama-perplexity result for {mix if not m else ref})")
        return
    ratio = m["kld"] / r["kld"]
    met = ratio <= bound and sm <= sr
    print(f"{title}: {mix} {sm} bytes, KLD {m['kld']:.6f} / {ref} {sr} bytes, KLD {r['kld']:.6f} = {ratio:.3f}x "
          f"(bound {bound}x, size {'<=' if sm <= sr else '>'}): {'MET' if met else 'NOT MET'}")


print()
for t, bound in (("Q4_K_M", 0.75), ("Q4_0", 0.5)):
    ref = points.get(t + ".imatrix")
    if ref is None:
        print(f"{t}: not in the report")
        continue
    mix = "mix-%.3f" % ref["bpw"]
    target(f"at the size of {t}+imatrix", "report/" + mix, "report/" + t + ".imatrix", bound)
target("QAT: no larger than the lattice Q4_0", "qat.mix", "qat.q4_0", 1.0)
target("QAT: no larger than llama.cpp's Q4_0, KLD <= the lattice file's", "qat.mix", "qat.q4_0", 1.0, "qat.Q4_0-llamacpp")
