"""Sending a big JSON-lines file: each client's peak memory and records per second.

bulk_producer.py --file, Kafka's Java console producer, kcat (when installed), raw kafka-python (as it
is, and parsing and keying each line as bulk_producer.py does) and confluent-kafka each send the same
file of users; ours is measured at a tenth of that size too, to show its memory stays flat.
"""

import shutil
import sys
from pathlib import Path

from bench_run import JAVA_TOOL_HEAP, WORKERS_SCRIPT, BenchError, java, ratio, run_for_peak_memory
from bench_workers import generated, producer_config

PAIRED = ("ours (bulk_producer.py --file)", "raw kafka-python (parsed, keyed)")  # run in turns, median of several


def memory(bench, workdir):
    """Peak RSS of each client sending the same JSON-lines file, and of ours at a tenth of its size."""
    n = bench.size["memory_records"]
    small_n = n // 10
    big, small = Path(workdir) / f"users-{n}.jsonl", Path(workdir) / f"users-{small_n}.jsonl"
    write_users_file(big, n)
    write_users_file(small, small_n)
    clients = {
        "ours (bulk_producer.py --file)": lambda topic: peak_of_ours(bench, topic, big),
        "Java ConsoleProducer (stdin)": lambda topic: run_for_peak_memory(java(
            "kafka.tools.ConsoleProducer", "--bootstrap-server", bench.bootstrap, "--topic", topic,
            # Its own --compression-codec (default none) overrides compression.type: give both.
            "--compression-codec", producer_config()["compression_type"],
            *[arg for prop in bench.java_producer_props()[1:] for arg in ("--producer-property", prop)]),
            stdin_path=big),
        "kcat -P (stdin)": lambda topic: run_for_peak_memory(
            ["kcat", "-P", "-b", bench.bootstrap, "-t", topic,
             *[arg for prop in bench.java_producer_props()[1:] for arg in ("-X", prop)]], stdin_path=big),
        "raw kafka-python (line by line)": lambda topic: run_for_peak_memory(
            [sys.executable, WORKERS_SCRIPT, "kafka-python-file", bench.bootstrap, topic,
             big]),
        "raw kafka-python (parsed, keyed)": lambda topic: run_for_peak_memory(
            [sys.executable, WORKERS_SCRIPT, "kafka-python-file-keyed", bench.bootstrap, topic, big]),
        "confluent-kafka (line by line)": lambda topic: run_for_peak_memory(
            [sys.executable, WORKERS_SCRIPT, "confluent-file", bench.bootstrap, topic, big]),
    }
    skipped = {}
    if shutil.which("kcat") is None:
        skipped["kcat -P (stdin)"] = "kcat is not installed (optional: apt-get install kcat)"
        del clients["kcat -P (stdin)"]
    # The ratio that matters most here, ours against the keyed raw loop, comes from the two run in turns, several
    # times: one run each, minutes apart, would compare two different moments of a shared machine.
    runs = {name: [] for name in PAIRED}
    for _ in range(bench.size["runs"]):
        for name in PAIRED:
            runs[name].append(measure_memory(bench, name, clients[name], n))
    figures = {name: median_run(runs[name]) if name in PAIRED else measure_memory(bench, name, measure, n)
               for name, measure in clients.items()}
    ours_small = measure_memory(bench, f"ours with {small_n:,} records",
                                     lambda topic: peak_of_ours(bench, topic, small), small_n)
    # What a process that does nothing measures this way: the spawner's own size, carried over.
    floor = run_for_peak_memory(["true"])["peak_rss_mib"]
    return {"memory": {"records": n, "file_bytes": big.stat().st_size, "clients": figures,
                       "ours_at_a_tenth": {"records": small_n, **ours_small}, "skipped": skipped,
                       "floor_mib": round(floor, 1)}}


def median_run(figures):
    """The run with the median time, its peak RSS the highest of all runs, and every run's records/s."""
    middle = sorted(figures, key=lambda figure: figure["seconds"])[len(figures) // 2]
    return {**middle, "peak_rss_mib": max(figure["peak_rss_mib"] for figure in figures),
            "runs_records_per_s": [figure["records_per_s"] for figure in figures]}


def peak_of_ours(bench, topic, path):
    return run_for_peak_memory([sys.executable, "bulk_producer.py", "--bootstrap-server", bench.bootstrap,
                                "--topic", topic, "--file", path])


def measure_memory(bench, name, measure, count):
    topic = bench.new_topic("memory")
    result = measure(topic)
    # A client that stopped early would show a small, meaningless peak: every record must be in the topic.
    delivered = bench.end_offset(topic)
    if delivered != count:
        raise BenchError(f"{name}: {delivered:,} records reached the topic, expected {count:,}")
    figure = {"peak_rss_mib": round(result["peak_rss_mib"], 1), "seconds": round(result["seconds"], 2),
              "records_per_s": round(count / result["seconds"]), "cpu_seconds": round(result["cpu_seconds"], 2),
              "records_delivered": delivered}
    bench.say(f"  memory: {name:<34} {figure['peak_rss_mib']:8.1f} MiB peak RSS  {figure['seconds']:7.2f} s  "
             f"{figure['records_per_s']:>9,} records/s")
    return figure


def write_users_file(path, count):
    """The users bulk_producer.py --count generates, one JSON object per line."""
    with open(path, "wb") as out:
        for _, value in generated(count):
            out.write(value + b"\n")


def memory_table(memory):
    ours = memory["clients"]["ours (bulk_producer.py --file)"]["peak_rss_mib"]
    paired = memory["clients"][PAIRED[0]].get("runs_records_per_s", [None])
    each = (f"ours and the keyed raw loop {len(paired)} runs in turns (median), the others one run each"
            if len(paired) > 1 else "one run each")
    lines = [f"Peak memory: {memory['records']:,} records from a {memory['file_bytes'] / 1e6:.0f} MB JSON-lines file, "
             f"{each}",
             f"{'':<34} {'peak RSS MiB':>12}  {'ours / this':>11}  {'seconds':>8}  {'records/s':>10}"]
    for name, figure in memory["clients"].items():
        lines.append(f"  {name:<32} {figure['peak_rss_mib']:>12.1f}  {ratio(ours, figure['peak_rss_mib']):>11.2f}  "
                     f"{figure['seconds']:>8.2f}  {figure['records_per_s']:>10,}")
    for name, reason in memory["skipped"].items():
        lines.append(f"  {name:<32} {'skipped:':>12}  {reason}")
    small = memory["ours_at_a_tenth"]
    lines.append(f"  ours with {small['records']:,} records: {small['peak_rss_mib']:.1f} MiB peak RSS; "
                 f"with {memory['records']:,}: {ours:.1f} MiB (x{ratio(ours, small['peak_rss_mib']):.2f} "
                 f"for 10 times the records)")
    lines.append(f"  (peak RSS from wait4(): a process that does nothing shows {memory['floor_mib']:.1f} MiB this way. "
                 f"Seconds are for the")
    lines.append("   whole process, start-up included. bulk_producer.py reads the file twice, checking every line "
                 "first;")
    lines.append("   'raw kafka-python (parsed, keyed)' parses each line and keys it by name as bulk_producer.py does, "
                 "checking")
    lines.append(f"   nothing first; the others send each line as it is, without a key. Java runs with "
                 f"{JAVA_TOOL_HEAP}, as Kafka's own scripts give it.)")
    lines.append("")
    return lines
