#!/usr/bin/env python3
"""Benchmark the kit's scripts against raw kafka-python, confluent-kafka and Kafka's Java tools.

    python tools/bench.py            # full size: 200,000 records of ~90 bytes, 3 runs each (about 10 minutes)
    python tools/bench.py --quick    # a small smoke run (CI runs this through tests/test_bench.py)

It starts its own ZooKeeper + broker on free ports in a temporary directory (never 9092), runs every
measure of MEASURES below on that broker, prints a table with ratios and writes the results as JSON
(default bench-results/latest.json). Each figure is the median of several runs, with min and max; the
clients being compared run interleaved, so a noisy neighbour slows all of them alike: compare ratios
from the same run, not absolute numbers across runs.

Each measure lives in a module of its own: bench_throughput.py (records/s), bench_timing.py (latency,
first record, time to fail), bench_memory.py (sending a big file), bench_processing.py (the two processing
stages, exactly once against at least once); the peers are in bench_workers.py,
process handling in bench_run.py, the table and ratios in bench_report.py. To add a measure, write
tools/bench_<what>.py with a function measure(bench, workdir) that returns {results key: figures},
and add one Measure line to MEASURES; give it table_lines(figures) and ratios(figures) functions to
have its own lines in the printed table and its own ratios.
"""

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import bench_log_view
import bench_memory
import bench_processing
import bench_report
import bench_throughput
import bench_timing
from bench_run import REPO_DIR, Bench, BenchError, local_kafka
from bench_workers import records, worker_main

DEFAULT_JSON = REPO_DIR / "bench-results" / "latest.json"

SIZES = {
    # records, runs per throughput figure, latency round trips, runs for start-up and failure timings,
    # lines of the file the memory table sends (once per client)
    "full": {"records": 200_000, "runs": 3, "latency_messages": 1000, "latency_runs": 3, "start_runs": 5,
             "fail_runs": 3, "memory_records": 1_000_000},
    "quick": {"records": 5_000, "runs": 1, "latency_messages": 50, "latency_runs": 1, "start_runs": 1,
              "fail_runs": 1, "memory_records": 20_000},
}

# What it says while running; measure(bench, workdir) -> {results key: figures}; optionally, for a measure
# bench_report.py does not know: table_lines(figures) -> printed lines, ratios(figures) -> {name: ratio}.
Measure = collections.namedtuple("Measure", "title measure table_lines ratios", defaults=(None, None))

MEASURES = [
    Measure("Producer throughput", bench_throughput.producer_throughput),
    Measure("Consumer throughput", bench_throughput.consumer_throughput),
    Measure("End-to-end latency", bench_timing.latency),
    Measure("Time to first record", bench_timing.first_record),
    Measure("Time to fail", bench_timing.time_to_fail),
    Measure("bulk_producer.py and consumer.py with and without crc32c", bench_throughput.crc32c_variants),
    Measure("Peak memory and records/s sending a big file", bench_memory.memory),
    Measure("route_users.py and count_professions.py: exactly once against --at-least-once, and --batch-size",
            bench_processing.bench_measure, bench_processing.table_lines, bench_processing.ratios),
    Measure("log_view.py: page load, peak RSS, ack-to-cell delay", bench_log_view.bench_measure,
            bench_log_view.table_lines),
]


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Benchmark the kit against kafka-python, confluent-kafka and "
                                                 "Kafka's Java tools on a private local broker.")
    parser.add_argument("--quick", action="store_true", help="small sizes and one run each: a smoke check")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="PATH",
                        help="where to write the results (default bench-results/latest.json)")
    parser.add_argument("--records", type=int, metavar="N", help="override the number of records")
    parser.add_argument("--runs", type=int, metavar="N", help="override the runs per throughput figure")
    parser.add_argument("--no-crc32c-variant", action="store_true",
                        help="skip the bulk_producer.py and consumer.py runs with the crc32c extension hidden")
    parser.add_argument("--memory-records", type=int, metavar="N",
                        help="override the lines of the file the memory table sends")
    return parser.parse_args(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:  # as before the split: `bench.py worker NAME ...` runs one peer
        return worker_main(argv[1:])
    args = parse_args(argv)
    size = dict(SIZES["quick" if args.quick else "full"])
    for name in ("records", "runs", "memory_records"):
        if getattr(args, name):
            size[name] = getattr(args, name)
    measures = [m for m in MEASURES if not (args.no_crc32c_variant and m.measure is bench_throughput.crc32c_variants)]

    def say(text):
        print(text, file=sys.stderr, flush=True)

    started = time.monotonic()
    results = {}
    with tempfile.TemporaryDirectory(prefix="kafka-bench-") as workdir:
        stack = local_kafka.LocalKafka(state_dir=Path(workdir) / "stack", zk_port=local_kafka.free_port(),
                                       port=local_kafka.free_port(), owner_pid=os.getpid())
        say(f"Starting a private broker in {workdir} ...")
        try:
            stack.start()
            say(f"Broker up at {stack.bootstrap} after {time.monotonic() - started:.1f} s")
            bench = Bench(stack, size, say, quick=args.quick)
            for measure in measures:
                say(measure.title)
                results.update(measure.measure(bench, workdir))
            bench.admin.close()
        except (BenchError, local_kafka.StackError, subprocess.TimeoutExpired) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        finally:
            stack.stop()
    import bulk_producer

    report = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": bench_report.machine(),
        "versions": bench_report.versions(),
        "size": size,
        "mode": "quick" if args.quick else "full",
        "record_bytes": round(statistics.mean(len(v) for _, v in records(1000))),
        "producer_config": bulk_producer.PRODUCER_CONFIG,
        "results": results,
        "seconds": round(time.monotonic() - started, 1),
    }
    report["ratios"] = bench_report.ratios(results)
    for measure in measures:
        if measure.ratios:
            report["ratios"].update(measure.ratios(results))
    print(bench_report.table(report, [measure.table_lines(results) for measure in measures if measure.table_lines]))
    print(f"\nTotal {report['seconds']:.0f} s. Results written to {args.json}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
