#!/usr/bin/env python3
"""How long one ``$regex`` match takes: the audit's pathological patterns (issue 12) on
10,000-character input with Verdict's RE2 matcher, beside Python's backtracking ``re``
(the matcher before issue 12) on inputs short enough for it to finish.

Rows, per pattern:
  re2 @10000     the engine's matcher (``compile_guarded_regex``, the options conditions
                 use) with its input budget lifted to 10,000 characters, on an input
                 built to defeat the pattern (the worst case for a backtracking engine)
  re2 @4096      the same through a compiled condition at ``MAX_INPUT_LENGTH``, the
                 longest input a condition scans
  python re @n   the former matcher on n characters of the same input; every two extra
                 characters roughly multiply its time by 2 to 4 (skipped with --no-re)

A second table times patterns chosen to defeat RE2's DFA cache (the "n-th symbol from
the end" family, and a 1,000-instruction program), which is the worst case of the
budget: linear, but with the largest constant.

Timing: ``time.perf_counter_ns`` around each call, ``--repeat`` calls per row with the
garbage collector off; reported median and 95th percentile in microseconds.

Usage:  .venv/bin/python benchmarks/regex_bench.py [--repeat 200] [--no-re]
"""

from __future__ import annotations

import argparse
import gc
import random
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

from verdict.engine import compile_condition
from verdict.engine.regex_guard import MAX_INPUT_LENGTH, compile_guarded_regex

PATHOLOGICAL = {
    "(a|a)*b": lambda n: "a" * n,
    "(a|aa)+$": lambda n: "a" * (n - 1) + "!",
    "a*a*a*a*b": lambda n: "a" * n,
    "^(.|\\s)*END$": lambda n: " " * n,
    "^\\w+\\s?\\w+\\s?\\w+$": lambda n: "a" * (n - 1) + "!",
}
_RANDOM = random.Random(12)
DFA_DEFEATING = {
    "[ab]*a[ab]{20}x": lambda n: "".join(_RANDOM.choice("ab") for _ in range(n)),
    "a[ab]{999}x": lambda n: "".join(_RANDOM.choice("ab") for _ in range(n)),
    "(?:.*a.{999})x": lambda n: "".join(_RANDOM.choice("ab") for _ in range(n)),
}


def _timed(call: Callable[[Any], object], argument: Any, repeat: int) -> tuple[float, float]:
    samples = []
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter_ns()
            call(argument)
            samples.append((time.perf_counter_ns() - start) / 1000)
    finally:
        gc.enable()
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def _row(label: str, pattern: str, figures: tuple[float, float], result: object) -> None:
    median, p95 = figures
    print(f"{pattern:24} {label:16} {median:12.1f} {p95:12.1f}   {result}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--no-re", action="store_true", help="skip Python's re")
    args = parser.parse_args()
    print(f"{'pattern':24} {'matcher':16} {'median µs':>12} {'p95 µs':>12}   result")
    for pattern, build in PATHOLOGICAL.items():
        text = build(10_000)
        matcher = compile_guarded_regex(pattern, max_input_length=10_000)
        _row("re2 @10000", pattern, _timed(matcher, text, args.repeat), matcher(text))
        condition = compile_condition({"x": {"$regex": pattern}})
        document = {"x": build(MAX_INPUT_LENGTH)}
        figures = _timed(condition, document, args.repeat)
        _row(f"re2 @{MAX_INPUT_LENGTH}", pattern, figures, condition(document))
        if not args.no_re:
            compiled = re.compile(pattern)
            for n in (12, 16, 20):
                short = build(n)
                figures = _timed(compiled.search, short, max(3, args.repeat // 50))
                _row(f"python re @{n}", pattern, figures, compiled.search(short) is not None)
    print()
    print("DFA-defeating patterns (the budget's worst case), engine matcher")
    for pattern, build in DFA_DEFEATING.items():
        text = build(10_000)
        for length in (MAX_INPUT_LENGTH, 10_000):
            matcher = compile_guarded_regex(pattern, max_input_length=length)
            sample = text[:length]
            figures = _timed(matcher, sample, max(5, args.repeat // 20))
            _row(f"re2 @{length}", pattern, figures, matcher(sample))


if __name__ == "__main__":
    main()
