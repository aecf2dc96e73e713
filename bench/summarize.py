"""Ratios first: the project's speed-up over the peers that matter for each job, from one interleaved run.
Training jobs are compared with PyTorch 2.6 (fp32 SDPA and bf16 autocast, the main peer) and PyTorch 1.13 eager, inference
jobs with ONNX Runtime and the PyTorch peers; peers missing from the run are left out. A speed-up is peer time / our time
(> 1 = we are faster), taken per round (the median of that round's iterations), then summarised over rounds as
median (min–max). MFU = the job's FLOPs (shared/peers/flops.py) / median time / the best FMA rate of the run.
usage: python3 bench/summarize.py bench/results/steps.json"""
import json, statistics as st, sys

d = json.load(open(sys.argv[1]))
raw, summary = d["raw"], {(s["job"], s["system"]): s for s in d["summary"]}
peak = d.get("peak")
PEERS = {"train": ("pytorch26", "pytorch26-bf16", "pytorch"), "infer": ("ort", "pytorch26", "pytorch26-bf16", "pytorch")}
ours = [n for n in d["names"] if n not in ("pytorch", "pytorch26", "pytorch26-bf16", "ort", "fma")]
rounds = max(len(results) for job in raw.values() for results in job.values())
print(f"run of {d['when']}, {rounds} rounds; MFU denominator: " + (f"{peak:.0f} GFLOP/s (the best FMA rate measured in the run)\n" if peak else "none in this run\n"))
print("| job | system | speed-up vs peer, median (min–max) over rounds | peer | median s | items/s | MFU |")
print("|---|---|---|---|---|---|---|")
for job in d["jobs"]:
    op = job.split()[0]
    if op not in ("train", "infer"): continue
    for peer, name in ((p, n) for p in PEERS[op] if raw[job].get(p) for n in ours):
        rounds = raw[job].get(name) or []
        if not rounds: continue
        speedups = [st.median(p["times"]) / st.median(o["times"]) for o, p in zip(rounds, raw[job][peer])]
        s = summary[(job, name)]
        mfu = f"{100 * s['mfu']:.0f}%" if s.get("mfu") else "–"
        print(f"| {job} | {name} | **{st.median(speedups):.2f}×** ({min(speedups):.2f}–{max(speedups):.2f}) | {peer} {summary[(job, peer)]['median_s']:.3f} s | "
              f"{s['median_s']:.3f} | {s['items_per_s']:.1f} | {mfu} |")
