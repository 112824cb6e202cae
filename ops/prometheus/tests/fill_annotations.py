"""Fill in the `exp_annotations` promtool expects, from the rules' current text (a snapshot).

promtool compares an alert's annotations exactly; after editing a summary / description / runbook, run
`python ops/prometheus/tests/fill_annotations.py ops/prometheus/tests/*.yml`, review the diff and commit it.
Only `- exp_labels: {...}` lines without an `exp_annotations` line below them are filled.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

BLOCK = re.compile(r"alertname: (\S+), time: (\S+), \n(.*?)(?=\n    alertname: |\Z)", re.S)
PAIR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _pairs(text: str) -> dict[str, str]:
    return {key: json.loads(f'"{value}"') for key, value in PAIR.findall(text)}


def got_annotations(path: Path) -> dict[tuple[str, str, frozenset], dict[str, str]]:
    out = subprocess.run(["promtool", "test", "rules", path.name], cwd=path.parent, capture_output=True, text=True)
    found = {}
    for alertname, time, body in BLOCK.findall(out.stdout + out.stderr):
        got = body.split("got:[", 1)[-1]
        for labels, notes in re.findall(r"Labels:\{(.*?)\}\n\s*Annotations:\{(.*?)\}\n", got):
            key = frozenset(_pairs(labels).items())
            found[(alertname, time, key)] = _pairs(notes)
    return found


def fill(path: Path) -> int:
    found = got_annotations(path)
    lines = path.read_text().splitlines()
    result, alertname, eval_time, filled = [], "", "", 0
    for index, line in enumerate(lines):
        result.append(line)
        if m := re.search(r"eval_time: (\S+?),? ", line + " "):
            eval_time = m.group(1)
        if m := re.search(r"alertname: (\w+)", line):
            alertname = m.group(1)
        if m := re.match(r"(\s*)- exp_labels: (\{.*\})\s*$", line):
            following = lines[index + 1] if index + 1 < len(lines) else ""
            if "exp_annotations" in following:
                continue
            labels = {str(k): str(v) for k, v in yaml.safe_load(m.group(2)).items()}
            labels["alertname"] = alertname
            annotations = found.get((alertname, eval_time, frozenset(labels.items())))
            if annotations is None:
                print(f"{path}: no alert {alertname} {labels} at {eval_time}", file=sys.stderr)
                continue
            result.append(f"{m.group(1)}  exp_annotations: {json.dumps(annotations, ensure_ascii=False)}")
            filled += 1
    path.write_text("\n".join(result) + "\n")
    return filled


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(name, fill(Path(name)))
