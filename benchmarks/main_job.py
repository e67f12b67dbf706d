"""Wall time and peak memory of the default main job, measured with /usr/bin/time -v.

    python benchmarks/main_job.py [--fresh] [-- extra run_kfold.py arguments]

Runs `experiments/run_kfold.py` (no arguments: the embedded default) in a child process
and prints its wall-clock time and maximum resident set size. With --fresh the synthetic
atlas is generated anew in a temporary cache (its generation time is then included).
Goals: at most 10 minutes and 4 GB on a 2-core CPU.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fresh", action="store_true", help="generate the default data anew")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="arguments for run_kfold.py")
    args = p.parse_args(argv)
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        if args.fresh:
            env["GAPNET_CACHE"] = os.path.join(tmp, "cache")
        extra = [a for a in args.extra if a != "--"]
        cmd = [
            "/usr/bin/time",
            "-v",
            sys.executable,
            os.path.join(ROOT, "experiments", "run_kfold.py"),
            "--out",
            os.path.join(tmp, "run"),
            "--set",
            "verbose=2",
            *extra,
        ]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", out)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out)
    table = out[out.find("| |") : out.find("run folder:")].strip()
    print(table)
    print(
        f"\nexit {proc.returncode}; wall time {wall.group(1) if wall else '?'}; "
        f"peak RSS {int(rss.group(1)) / 1e6:.2f} GB"
        if rss
        else "peak RSS ?"
    )


if __name__ == "__main__":
    main()
