"""Benchmark of log_view.py, run by tools/bench.py on its private broker: how the page copes with a big topic.

Three figures: how long the page takes to load and draw its rows when the topic holds 100,000 records
(--quick: 1,000); the script's peak RSS meanwhile (it keeps only the last --records of each partition, so
it should stay flat, under 100 MiB); and the delay from a record's acknowledgement (the producer's send()
returned its metadata, acks=all) to its cell appearing on the page, median and p99. The browser is the
machine's Chromium driven by Playwright (tools/chromium.py); without one the figures are said to be skipped.
The delay can be a little below zero: the page may draw a record before the producer hears its ack.
"""

import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import chromium

REPO_DIR = Path(__file__).resolve().parent.parent
SIZES = {"full": {"records": 100_000, "samples": 200}, "quick": {"records": 1_000, "samples": 10}}
PARTITIONS = 3
KEEP = 50  # log_view.py's default --records
# Notes when the page first draws each record's cell: {"partition/offset": Date.now()}.
WATCH_CELLS = """() => {
    window.firstDrawn = {};
    const note = () => { const at = Date.now();
        for (const cell of document.querySelectorAll('#log .cell[data-kind=record]')) {
            const id = cell.dataset.partition + '/' + cell.dataset.offset;
            if (!(id in window.firstDrawn)) window.firstDrawn[id] = at; } };
    note();
    new MutationObserver(note).observe(document.getElementById('log'), {childList: true, subtree: true});
}"""


def peak_rss_mib(pid):
    """The process's peak resident memory so far (Linux's VmHWM), in MiB; None where /proc has no such line."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return round(int(found.group(1)) / 1024, 1) if found else None


def fill_topic(bootstrap, topic, count):
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, batch_size=256 * 1024)
    for number in range(count):
        producer.send(topic, key=f"user-{number % 500:04d}".encode(),
                      value=b'{"id":%d,"name":"user-%07d","profession":"Teacher"}' % (number, number))
    producer.flush()
    producer.close()


def start_log_view(bootstrap, topic):
    process = subprocess.Popen([sys.executable, str(REPO_DIR / "log_view.py"), "--topic", topic, "--port", "0",
                                "--bootstrap-server", bootstrap], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, cwd=REPO_DIR)
    deadline = time.monotonic() + 60
    for line in process.stdout:
        found = re.search(r"Open (http://\S+/) in your browser", line)
        if found:
            return process, found.group(1)
        if time.monotonic() > deadline:
            break
    process.kill()
    raise RuntimeError(f"log_view.py did not print its address (exit {process.wait()})")


def ack_to_cell_delays(page, bootstrap, topic, samples):
    """Send records one by one; for each, when its ack came and when its cell was first drawn."""
    from kafka import KafkaProducer

    page.evaluate(WATCH_CELLS)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    acked = {}
    try:
        for number in range(samples):
            metadata = producer.send(topic, key=b"bench", value=b'{"n":%d}' % number,
                                     partition=number % PARTITIONS).get(timeout=10)
            acked[f"{metadata.partition}/{metadata.offset}"] = time.time() * 1000
            time.sleep(0.05)  # one at a time, as a learner's producer sends
    finally:
        producer.close()
    deadline = time.monotonic() + 15
    while True:
        drawn = page.evaluate("() => window.firstDrawn")
        if all(key in drawn for key in acked) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    missing = [key for key in acked if key not in drawn]
    if missing:
        raise RuntimeError(f"{len(missing)} of {samples} records never appeared on the page, e.g. {missing[0]}")
    return sorted(drawn[key] - at for key, at in acked.items())


def measure(bootstrap, quick=False, say=print):
    """The three figures as a dict, or {"skipped": why} without a browser."""
    why = chromium.missing()
    if why:
        return {"skipped": why}
    from playwright.sync_api import sync_playwright

    size = SIZES["quick" if quick else "full"]
    topic = f"bench-log-view-{int(time.time())}"
    say(f"  filling '{topic}' with {size['records']:,} records")
    fill_topic(bootstrap, topic, size["records"])
    process, url = start_log_view(bootstrap, topic)
    try:
        with sync_playwright() as playwright:
            browser = chromium.launch(playwright)
            page = browser.new_page()
            started = time.monotonic()
            page.goto(url)
            page.wait_for_function(f"() => document.querySelectorAll('#log .cell[data-kind=record]').length "
                                   f"=== {PARTITIONS * KEEP}", timeout=30000)
            load_seconds = time.monotonic() - started
            delays = ack_to_cell_delays(page, bootstrap, topic, size["samples"])
            browser.close()
        rss = peak_rss_mib(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
    p99 = delays[min(len(delays) - 1, round(0.99 * (len(delays) - 1)))]
    return {"records": size["records"], "partitions": PARTITIONS, "load_seconds": round(load_seconds, 3),
            "peak_rss_mib": rss, "ack_to_cell_ms": {"samples": len(delays), "p50": round(statistics.median(delays), 1),
                                                    "p99": round(p99, 1)}}


def table(figures):
    if "skipped" in figures:
        return f"\nlog_view.py: skipped ({figures['skipped']})"
    delay = figures["ack_to_cell_ms"]
    rss = "n/a" if figures["peak_rss_mib"] is None else f"{figures['peak_rss_mib']:.1f} MiB"
    return (f"\nlog_view.py with {figures['records']:,} records in {figures['partitions']} partitions\n"
            f"  page loaded and drawn in    {figures['load_seconds']:.2f} s\n"
            f"  peak RSS of the script      {rss}\n"
            f"  ack to cell on the page     p50 {delay['p50']:.0f} ms, p99 {delay['p99']:.0f} ms "
            f"({delay['samples']} records)")


def bench_measure(bench, workdir):
    """The measure as tools/bench.py's MEASURES calls it, on the benchmark's broker."""
    return {"log_view": measure(bench.bootstrap, bench.quick, bench.say)}


def table_lines(results):
    return table(results["log_view"]).splitlines()
