"""Compare the benchmarks of the current checkout against another revision (``nox -s bench_compare``).

    python benchmarks/asv_compare.py REV [--factor 1.1] [asv run options, e.g. --quick -b EmpiricalNTK]

``asv continuous`` would build a virtualenv per revision and install torch into it; here both sides run
with ``asv run --python=same`` in the current interpreter, so nothing is downloaded or built:

1. ``git archive REV`` is unpacked under ``benchmarks/.asv/compare/rev-src`` (no checkout, worktree or
   other change to the repository);
2. the suite of the *current* checkout is run twice, each time into its own results directory: with
   ``ASV_PYTHONPATH`` (asv's way to put a path first on the benchmark processes' ``sys.path``) set to
   that copy, so that ``import ntkbench`` is REV's code, and recorded under REV's hash; then with it set
   to the working tree, recorded under HEAD's hash (uncommitted changes included: the working tree is
   what runs);
3. the two result sets are printed side by side by asv's own comparison table (``asv compare`` /
   ``asv continuous``), with ``--factor`` (1.1 by default): "+" marks a regression (after/before >
   factor and significant by asv's statistics), "-" an improvement, and the list of regressions is
   printed at the end. The exit status is 1 when there is a regression, like ``asv continuous``.

Two results directories (rather than ``asv compare REV HEAD`` on one) make REV = HEAD work: that is
the comparison of uncommitted changes against the last commit. The benchmarks are those of the
current checkout on both sides, so a REV that lacks an API they use shows those benchmarks as failed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORK = os.path.join(HERE, ".asv", "compare")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def _unpack(rev: str, dest: str) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    archive = subprocess.run(["git", "archive", "--format=tar", rev], cwd=ROOT, check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # Python < 3.11.4: the archive is git's own
            tar.extractall(dest)
    if not os.path.isdir(os.path.join(dest, "ntkbench")):
        raise SystemExit(f"revision {rev} has no ntkbench/ package")


def _config(side: str) -> str:
    """A copy of asv.conf.json whose results go to .asv/compare/results-<side> (emptied first)."""
    from asv import util

    conf = util.load_json(os.path.join(HERE, "asv.conf.json"), js_comments=True)
    for key in ("repo", "benchmark_dir", "env_dir", "html_dir"):  # asv resolves some against the file
        conf[key] = os.path.normpath(os.path.join(HERE, conf[key]))
    results = os.path.join(WORK, f"results-{side}")
    shutil.rmtree(results, ignore_errors=True)
    conf["results_dir"] = results
    path = os.path.join(WORK, f"asv-{side}.json")
    with open(path, "w") as f:
        json.dump(conf, f, indent=1)
    return path


def _run(side: str, commit: str, src: str, asv_args: list[str]) -> int:
    env = {**os.environ, "ASV_PYTHONPATH": src}
    cmd = [sys.executable, "-m", "asv", "--config", _config(side), "run", "--python=same",
           "--set-commit-hash", commit, *asv_args]
    print(f"\n== {side}: ntkbench from {src}\n$ {' '.join(cmd)}", flush=True)
    return subprocess.run(cmd, cwd=HERE, env=env, check=False).returncode


def _resultset(side: str):
    """The rows asv's comparison table reads, from the single result file of one side."""
    from asv.results import iter_results

    for result in iter_results(os.path.join(WORK, f"results-{side}")):
        machine = result.params["machine"]
        for key in result.get_all_result_keys():
            params = result.get_result_params(key)
            yield (key, params, result.get_result_value(key, params), result.get_result_stats(key, params),
                   result.get_result_samples(key, params), result.benchmark_version.get(key), machine,
                   result.env_name)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Compare the current checkout's benchmarks against REV.")
    ap.add_argument("rev", help="git revision to compare against (a commit, branch, tag, HEAD~1, ...)")
    ap.add_argument("--factor", type=float, default=1.1, help="ratio that counts as a change (default 1.1)")
    args, asv_args = ap.parse_known_args(argv)

    from asv.commands.compare import Compare
    from asv.config import Config

    rev = _git("rev-parse", "--verify", f"{args.rev}^{{commit}}")
    head = _git("rev-parse", "HEAD")
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--"], cwd=ROOT).returncode != 0
    os.makedirs(WORK, exist_ok=True)
    src = os.path.join(WORK, "rev-src")
    _unpack(rev, src)

    _run("before", rev, src, asv_args)
    _run("after", head, ROOT, asv_args)

    before = f"{args.rev} ({rev[:8]})"
    after = f"working tree (HEAD {head[:8]}{' + uncommitted changes' if dirty else ''})"
    print(f"\n== before: {before}\n== after:  {after}\n== factor: {args.factor}\n", flush=True)
    conf = Config.load(_config_path("after"))
    rows_before, rows_after = list(_resultset("before")), list(_resultset("after"))
    if not rows_before or not rows_after:
        print("no results to compare (see the asv output above)", file=sys.stderr)
        return 2
    machine = rows_after[0][6]
    label = "worktree" if dirty else head  # the column headers show these (first 8 characters)
    worsened, _ = Compare.print_table(
        conf, rev, label, factor=args.factor, split=True, resultset_1=iter(rows_before),
        resultset_2=iter(rows_after), machine=machine, sort="ratio", use_stats=True,
        commit_names={rev: args.rev, label: f"HEAD{' + changes' if dirty else ''}"},
    )
    regressions = _regressions(rows_before, rows_after, args.factor)
    if worsened:
        print(f"\nREGRESSIONS (after/before > {args.factor}, significant):")
        for line in regressions:
            print("  " + line)
    else:
        print(f"\nno regressions (factor {args.factor})")
    return 1 if worsened else 0


def _config_path(side: str) -> str:
    return os.path.join(WORK, f"asv-{side}.json")


def _regressions(rows_before, rows_after, factor: float) -> list[str]:
    """One line per benchmark (and parameter combination) asv marks '+' (worse), recomputed with asv's
    own test so the list can be printed on its own."""
    from asv.commands.compare import _is_result_better, unroll_result

    def table(rows):
        out = {}
        for key, params, value, stats, samples, *_ in rows:
            for name, v, st, sa in unroll_result(key, params, value, stats, samples):
                out[name] = (v, st, sa)
        return out

    b, a = table(rows_before), table(rows_after)
    lines = []
    for name in sorted(set(a) & set(b)):
        (v1, s1, p1), (v2, s2, p2) = b[name], a[name]
        if v1 is None or v2 is None or v1 != v1 or v2 != v2:
            if v1 is not None and v1 == v1 and v2 is None:
                lines.append(f"{name}: failed after (was {v1:.4g})")
            continue
        if _is_result_better(v1, v2, (s1, p1), (s2, p2), factor, use_stats=True):
            lines.append(f"{name}: {v1:.4g} -> {v2:.4g} ({v2 / v1:.2f}x)")
    return lines


if __name__ == "__main__":
    sys.exit(main())
