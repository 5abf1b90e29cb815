#!/usr/bin/env python3
"""Markdown tables of draft-head accuracy from `hydrasim heads accuracy --format json` files.

Usage: python3 scripts/heads-tables.py Output/heads-training [../shared/reference/medusa_head_accuracy.csv]
Reads <name>.val.json and <name>.greedy.json for each shipped heads file and prints top-1 / top-5 per head,
with Medusa's published Vicuna-7B row (its training log) for comparison.
"""
import csv, json, os, sys

folder = sys.argv[1]
names = ["medusa", "hydra", "hydra++", "hydra-teacher", "hydra-prefix", "hydra-deep"]

def row(label, top):
    cells = [f"{100 * t[0]:.1f} / {100 * t[4]:.1f}" for t in top[:4]]
    return f"| {label} | " + " | ".join(cells) + " |"

for split, title in [("val", "teacher-forced on the validation split"), ("greedy", "on the base model's own greedy continuations")]:
    print(f"\nTop-1 / top-5 accuracy (%) per head, {title}:\n")
    print("| heads | head 1 | head 2 | head 3 | head 4 |")
    print("|---|---|---|---|---|")
    for name in names:
        path = os.path.join(folder, f"{name}.{split}.json")
        if os.path.exists(path):
            report = json.load(open(path))
            print(row(f"{name} ({report['positions']:,} positions)", report["top_k"]))
    if split == "val" and len(sys.argv) > 2:
        for run in csv.DictReader(open(sys.argv[2])):
            if run["Name"] == "7b":
                top = [[float(run[f"train/medusa{k}_top{r}"]) for r in range(1, 6)] for k in range(4)]
                print(row("Medusa-1 on Vicuna-7B (published training log)", top))
