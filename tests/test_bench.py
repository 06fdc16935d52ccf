"""Smoke check of the benchmark itself: `python tools/bench.py --quick` on its own private broker.

Not a timed assertion: the machine is shared, so only completeness and sanity are checked.
"""

import json
import math
import subprocess
import sys

import pytest
from support import REPO

PRODUCERS = ["ours (producer.py)", "raw kafka-python", "raw kafka-python, bytes", "confluent-kafka",
             "Java ProducerPerformance"]
CONSUMERS = ["ours (consumer.py --quiet)", "raw kafka-python", "raw kafka-python, bytes", "confluent-kafka",
             "Java ConsumerPerformance"]
SCRIPTS = ["create_topic.py", "producer.py", "consumer.py"]


def sane(figure):
    values = figure["runs"]
    return (values and all(math.isfinite(v) and v > 0 for v in values)
            and figure["min"] <= figure["median"] <= figure["max"])


@pytest.mark.slow
def test_quick_benchmark_prints_a_complete_table_and_writes_sane_json(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, "tools/bench.py", "--quick", "--json", str(out)], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr

    report = json.loads(out.read_text())
    assert report["mode"] == "quick"
    assert report["machine"]["cores"] >= 1 and report["machine"]["memory_gib"] >= 1
    records = report["size"]["records"]
    r = report["results"]

    assert list(r["producer_throughput"]) == PRODUCERS
    assert list(r["consumer_throughput"]) == CONSUMERS
    for figures in (r["producer_throughput"], r["consumer_throughput"], r["producer_crc32c"],
                    r["consumer_crc32c"]):
        for name, figure in figures.items():
            assert sane(figure), (name, figure)
            assert sane(figure["cpu_seconds"]), (name, figure)
            # Not faster than light: every client really moved the records through the broker.
            assert figure["max"] < records / 0.001, (name, figure)

    for name, figure in r["end_to_end_latency"].items():
        assert 0 <= figure["p50_ms"]["median"] <= figure["p99_ms"]["median"] < 10_000, (name, figure)
    assert set(r["time_to_first_record"]) == {"ours (consumer.py)", "Java ConsoleConsumer"}
    assert all(sane(f) and f["max"] < 60 for f in r["time_to_first_record"].values())
    # Every script gives up against a dead address: in seconds, not after kafka-python's 30 s default.
    assert list(r["time_to_fail"]) == SCRIPTS
    assert all(sane(f) and f["max"] < 20 for f in r["time_to_fail"].values())

    # Java rounds its latency percentiles down to whole ms, so on a fast machine its p50 may be 0: no ratio then.
    assert all(value is None or value > 0 for value in report["ratios"].values()), report["ratios"]
    assert all(value > 0 for name, value in report["ratios"].items() if "latency p" not in name), report["ratios"]

    # The printed table names every client and every ratio, with the date and the machine size.
    table = result.stdout
    assert report["date"] in table and f"{report['machine']['cores']} cores" in table
    for name in PRODUCERS + CONSUMERS + SCRIPTS + list(report["ratios"]):
        assert name in table, name
    assert "p50 ms" in table and "Java EndToEndLatency" in table and "Java ConsoleConsumer" in table
