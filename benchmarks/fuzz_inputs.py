"""The fuzz test of bad input (tests/test_fuzz_inputs.py, issue 28) for longer: the same three
properties (the `zssr` command on a file, the nd API, the widget's job), random seeds, in rounds of
--round examples, going on after a failure so that one run lists every distinct bug it meets.

    python benchmarks/fuzz_inputs.py --examples 10000            # ~50% CLI, 35% API, 15% widget job
    python benchmarks/fuzz_inputs.py --examples 500 --only cli --seed 7

Prints one line per round and a JSON summary at the end (examples run per property, failures
with their first line); exit status 1 when anything failed. Examples counts every call of a
property, the replays of Hypothesis's shrinking included (there are none without a failure).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

SHARE = {"cli": 0.5, "api": 0.35, "job": 0.15}


class _Tmp:
    """tmp_path_factory for the widget-job property, outside pytest."""

    def __init__(self, root: Path):
        self.root, self.n = root, 0

    def mktemp(self, name: str) -> Path:
        self.n += 1
        p = self.root / f"{name}{self.n}"
        p.mkdir()
        return p


def _property(kind: str, n: int, seed: int, count: Counter, tmp: _Tmp):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    import test_fuzz_inputs as F

    opts = dict(max_examples=n, deadline=None, database=None, derandomize=False,
                suppress_health_check=list(HealthCheck), print_blob=True)
    if kind == "cli":
        @hseed(seed)
        @settings(**opts)
        @given(case=F.cli_cases())
        def prop(case):
            count[kind] += 1
            with tempfile.TemporaryDirectory(dir=tmp.root) as d:
                F.cli_case(*case, Path(d))
    elif kind == "api":
        inner = F.test_fuzz_api.hypothesis.inner_test

        @hseed(seed)
        @settings(**opts)
        @given(case=st.data(), kw=F.spec_kwargs(), pixel_sizes=F.PIXEL_SIZES, real=st.integers(0, 7))
        def prop(case, kw, pixel_sizes, real):
            count[kind] += 1
            inner(case=case, kw=kw, pixel_sizes=pixel_sizes, real=real)
    else:
        inner = F.test_fuzz_widget_job.hypothesis.inner_test

        @hseed(seed)
        @settings(**opts)
        @given(case=st.data(), kw=F.spec_kwargs(),
               scale=st.sampled_from([None, (2.0, 0.5, 0.5), (1.0, 1.0, 1.0, 1.0), (0.3, 0.1, 0.1)]),
               real=st.integers(0, 7))
        def prop(case, kw, scale, real):
            count[kind] += 1
            inner(tmp_path_factory=tmp, case=case, kw=kw, scale=scale, real=real)
    return prop


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--examples", type=int, default=10000)
    p.add_argument("--round", type=int, default=250, help="examples per round (one Hypothesis run)")
    p.add_argument("--only", choices=tuple(SHARE))
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--out", help="also write the JSON summary here")
    args = p.parse_args(argv)

    shares = {args.only: 1.0} if args.only else SHARE
    count, failures = Counter(), []
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="zssr-fuzz-") as root:
        tmp = _Tmp(Path(root))
        seed = args.seed
        for kind, share in shares.items():
            target = int(round(args.examples * share))
            while count[kind] < target:
                n = min(args.round, target - count[kind])
                seed += 1
                try:
                    _property(kind, n, seed, count, tmp)()
                except BaseException as exc:  # noqa: BLE001 -- recorded, the run goes on
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
                    failures.append({"property": kind, "seed": seed, "error": f"{type(exc).__name__}: {first}",
                                     "trace": traceback.format_exc()[-4000:]})
                    print(f"FAILURE ({kind}, seed {seed}): {failures[-1]['error']}", flush=True)
                print(f"{kind}: {count[kind]}/{target} examples, {len(failures)} failure(s), "
                      f"{time.time() - t0:.0f} s", flush=True)
    summary = {"examples": sum(count.values()), "per_property": dict(count), "failures": failures,
               "seconds": round(time.time() - t0, 1), "first_seed": args.seed}
    text = json.dumps(summary, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
