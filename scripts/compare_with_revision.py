"""Check that a change left the pipeline's results alone: run pipelines with the code of a git
revision and with the working tree, then compare every manifest row and every crop's bytes.

    .venv/bin/python scripts/compare_with_revision.py HEAD~1 pipelines/demo.toml \\
        pipelines/multicam_lab.toml

The revision is checked out into a temporary git worktree and run with this environment's
packages (``PYTHONPATH`` puts its code first). Fingerprints and parameters in the Parquet
metadata may differ (they describe the code); rows, columns, values and crop bytes may not.
Exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = ("videos", "detections", "tracklets", "tracklet_summary", "crops")


def run(code_root: Path, pipeline: Path, workspace: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    command = [
        sys.executable,
        "-m",
        "cyclist_dataset",
        "run",
        str(pipeline),
        "--workspace",
        str(workspace),
    ]
    done = subprocess.run(command, cwd=code_root, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} (code from {code_root}) failed:\n{done.stderr[-3000:]}")


def crop_hashes(workspace: Path) -> dict[str, str]:
    root = workspace / "crops"
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def compare(old: Path, new: Path) -> list[str]:
    problems = []
    for name in MANIFESTS:
        a, b = pd.read_parquet(old / "manifests" / name), pd.read_parquet(new / "manifests" / name)
        if list(a.columns) != list(b.columns):
            problems.append(f"{name}: columns differ: {list(a.columns)} vs {list(b.columns)}")
            continue
        a = a.sort_values(list(a.columns[:3])).reset_index(drop=True)
        b = b.sort_values(list(b.columns[:3])).reset_index(drop=True)
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        except AssertionError as exc:
            problems.append(f"{name}: rows differ: {str(exc)[:500]}")
        else:
            print(f"  {name:<17} {len(a):>6} rows identical")
    old_crops, new_crops = crop_hashes(old), crop_hashes(new)
    if old_crops != new_crops:
        differ = sorted(
            k for k in old_crops.keys() | new_crops.keys() if old_crops.get(k) != new_crops.get(k)
        )
        problems.append(f"crops: {len(differ)} of {len(old_crops)} files differ, e.g. {differ[:3]}")
    else:
        print(f"  {'crop files':<17} {len(old_crops):>6} files byte-identical")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("revision", help="git revision to compare with, e.g. HEAD~1")
    parser.add_argument("pipelines", nargs="+", type=Path)
    parser.add_argument("--keep", type=Path, help="keep both workspaces under this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="compare-") as tmp:
        scratch = args.keep or Path(tmp)
        tree = Path(tmp) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), args.revision],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        try:
            problems = []
            for pipeline in args.pipelines:
                pipeline = pipeline.resolve()
                old, new = (
                    scratch / f"{pipeline.stem}-{args.revision}",
                    scratch / f"{pipeline.stem}-worktree",
                )
                print(f"{pipeline.name}: {args.revision} vs the working tree")
                run(tree, tree / pipeline.relative_to(REPO), old)
                run(REPO, pipeline, new)
                problems += [f"{pipeline.name}: {p}" for p in compare(old, new)]
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, capture_output=True
            )
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)
    print("same manifest rows and crop bytes")


if __name__ == "__main__":
    main()
