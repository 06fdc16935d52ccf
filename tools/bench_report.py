"""The results of tools/bench.py as a report: the machine, the versions, the ratios and the printed table."""

import os
import platform
import re
import shutil
import subprocess

import local_kafka
from bench_memory import memory_table
from bench_run import ratio


def machine():
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory = None
    return {"cores": os.cpu_count(), "memory_gib": round(memory) if memory else None,
            "python": platform.python_version(), "system": platform.system()}


def versions():
    import confluent_kafka
    import kafka

    try:
        import crc32c  # noqa: F401

        crc = True
    except ImportError:
        crc = False
    return {"kafka-python": kafka.__version__, "confluent-kafka": confluent_kafka.__version__,
            "librdkafka": confluent_kafka.libversion()[0], "kafka (broker and Java tools)": local_kafka.KAFKA_VERSION,
            "crc32c extension": crc, "kcat": kcat_version()}


def kcat_version():
    if shutil.which("kcat") is None:
        return None
    out = subprocess.run(["kcat", "-V"], capture_output=True, text=True, timeout=10).stdout
    match = re.search(r"Version (\S+)", out)
    return match[1] if match else "unknown"


def ratios(results):
    producer = {k: v["median"] for k, v in results["producer_throughput"].items()}
    consumer = {k: v["median"] for k, v in results["consumer_throughput"].items()}
    producer_cpu = {k: v["cpu_seconds"]["median"] for k, v in results["producer_throughput"].items()}
    consumer_cpu = {k: v["cpu_seconds"]["median"] for k, v in results["consumer_throughput"].items()}
    first = {k: v["median"] for k, v in results["time_to_first_record"].items()}
    ours_p, ours_c = producer["ours (bulk_producer.py)"], consumer["ours (consumer.py)"]
    out = {
        "producer: ours / raw kafka-python": ratio(ours_p, producer["raw kafka-python"]),
        "producer: ours / raw kafka-python, bytes": ratio(ours_p, producer["raw kafka-python, bytes"]),
        "producer CPU s: ours / raw kafka-python": ratio(producer_cpu["ours (bulk_producer.py)"],
                                                         producer_cpu["raw kafka-python"]),
        "producer: ours / confluent-kafka": ratio(ours_p, producer["confluent-kafka"]),
        "producer: ours / Java ProducerPerformance": ratio(ours_p, producer["Java ProducerPerformance"]),
        "consumer: ours / raw kafka-python": ratio(ours_c, consumer["raw kafka-python"]),
        "consumer: ours / raw kafka-python, printing": ratio(ours_c, consumer["raw kafka-python, printing"]),
        "consumer CPU s: ours / raw kafka-python, printing": ratio(consumer_cpu["ours (consumer.py)"],
                                                                   consumer_cpu["raw kafka-python, printing"]),
        "consumer: ours / raw kafka-python, bytes": ratio(ours_c, consumer["raw kafka-python, bytes"]),
        "consumer CPU s: ours / raw kafka-python": ratio(consumer_cpu["ours (consumer.py)"],
                                                         consumer_cpu["raw kafka-python"]),
        "consumer: ours / confluent-kafka": ratio(ours_c, consumer["confluent-kafka"]),
        "consumer: ours / Java ConsumerPerformance": ratio(ours_c, consumer["Java ConsumerPerformance"]),
        "first record: ours / Java ConsoleConsumer (time)": ratio(first["ours (consumer.py)"],
                                                                  first["Java ConsoleConsumer"]),
        "first ack: producer.py / Java ConsoleProducer (time)": ratio(
            first["ours (producer.py), acknowledged"], first["Java ConsoleProducer, one line"]),
    }
    latency = results["end_to_end_latency"]
    ours_l, java_l = latency["ours (kafka-python, kit configs)"], latency["Java EndToEndLatency"]
    out["latency p50: ours / Java"] = ratio(ours_l["p50_ms"]["median"], java_l["p50_ms"]["median"])
    out["latency p99: ours / Java"] = ratio(ours_l["p99_ms"]["median"], java_l["p99_ms"]["median"])
    out["latency average: ours / Java"] = ratio(ours_l["avg_ms"]["median"], java_l["avg_ms"]["median"])
    for key, script in (("producer_crc32c", "bulk_producer.py"), ("consumer_crc32c", "consumer.py")):
        if key in results:
            crc = results[key]
            out[f"{script}: with / without crc32c"] = ratio(crc[f"{script} with crc32c"]["median"],
                                                            crc[f"{script} without crc32c"]["median"])
            out[f"{script} CPU s: with / without crc32c"] = ratio(
                crc[f"{script} with crc32c"]["cpu_seconds"]["median"],
                crc[f"{script} without crc32c"]["cpu_seconds"]["median"])
    if "memory" in results:
        memory = results["memory"]
        peaks = {name: figure["peak_rss_mib"] for name, figure in memory["clients"].items()}
        ours = peaks["ours (bulk_producer.py --file)"]
        for peer in ("Java ConsoleProducer (stdin)", "kcat -P (stdin)"):
            if peer in peaks:
                out[f"peak RSS: ours / {peer}"] = ratio(ours, peaks[peer])
        rates = {name: figure["records_per_s"] for name, figure in memory["clients"].items()}
        out["bulk --file: ours / raw kafka-python, keyed"] = ratio(rates["ours (bulk_producer.py --file)"],
                                                                   rates["raw kafka-python (parsed, keyed)"])
        out["bulk --file: ours / raw kafka-python, as is"] = ratio(rates["ours (bulk_producer.py --file)"],
                                                                   rates["raw kafka-python (line by line)"])
        out["peak RSS: ours, whole file / a tenth of it"] = ratio(ours, memory["ours_at_a_tenth"]["peak_rss_mib"])
    return out


def table(report, more_lines=()):
    """The printed report; more_lines: the lines of measures this module does not know, one list each."""
    r = report["results"]
    size = report["size"]
    lines = [f"Kafka kit benchmark, {report['date']}, {report['machine']['cores']} cores / "
             f"{report['machine']['memory_gib']} GiB, {size['records']:,} records of ~{report['record_bytes']} "
             f"bytes, median of {size['runs']} run(s) [min - max]", ""]

    def throughput(title, figures, ours):
        lines.append(f"{title:<34} {'records/s':>12} {'min - max':>21}  {'ours / this':>11}  {'CPU s':>6}")
        for name, s in figures.items():
            lines.append(f"  {name:<32} {s['median']:>12,.0f} {s['min']:>10,.0f} - {s['max']:<10,.0f} "
                         f"{ratio(figures[ours]['median'], s['median']):>11.2f}  {s['cpu_seconds']['median']:>6.1f}")
        lines.append("")

    throughput("Producer throughput", r["producer_throughput"], "ours (bulk_producer.py)")
    throughput("Consumer throughput", r["consumer_throughput"], "ours (consumer.py)")
    lines[-1:-1] = ["  (consumer.py prints a line per record, read from a pipe, and commits after each batch; 'raw",
                    "   kafka-python, printing' prints the same line to the same pipe and commits nothing; the other",
                    "   consumers print nothing)"]
    if "producer_crc32c" in r:
        throughput("crc32c extension: producer", r["producer_crc32c"], "bulk_producer.py with crc32c")
        throughput("crc32c extension: consumer", r["consumer_crc32c"], "consumer.py with crc32c")
    if "memory" in r:
        lines.extend(memory_table(r["memory"]))
    lines.append(f"{'End-to-end latency (1 record at a time)':<40} {'p50 ms':>8} {'p99 ms':>8} {'avg ms':>8}"
                 f"  [p50 min - max]")
    for name, s in r["end_to_end_latency"].items():
        lines.append(f"  {name:<38} {s['p50_ms']['median']:>8.2f} {s['p99_ms']['median']:>8.2f} "
                     f"{s['avg_ms']['median']:>8.2f}  [{s['p50_ms']['min']:.2f} - {s['p50_ms']['max']:.2f}]")
    lines.append("  (Java rounds its percentiles down to whole ms; its average is exact)")
    lines.append("")
    for title, key in (("Time to first record (new process)", "time_to_first_record"),
                       ("Time to fail (nothing listens)", "time_to_fail")):
        lines.append(f"{title:<40} {'seconds':>8}  [min - max]")
        for name, s in r[key].items():
            lines.append(f"  {name:<38} {s['median']:>8.2f}  [{s['min']:.2f} - {s['max']:.2f}]")
        lines.append("")
    for measure_lines in more_lines:
        lines.extend([*measure_lines, ""])
    lines.append("Ratios (medians, same run)")
    for name, value in report["ratios"].items():
        lines.append(f"  {name:<50} {'-' if value is None else format(value, '.2f'):>6}")
    return "\n".join(lines)
