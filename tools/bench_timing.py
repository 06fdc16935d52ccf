"""Latency and start-up: one record end to end, the time to a first record, and the time to fail.

A learner runs each script as a new process and waits for its first line: these figures are whole
processes, Python's and Java's start-up included.
"""

import re
import subprocess
import sys
import time

import local_kafka
from bench_run import REPO_DIR, BenchError, java, run, script_env, stats, time_until_line, worker

JAVA_LATENCY = re.compile(r"Percentiles: 50th = (\d+), 99th = (\d+)")
JAVA_AVERAGE = re.compile(r"Avg latency: ([\d.]+) ms")

def latency(bench, workdir):
    m = bench.size["latency_messages"]
    results = {"ours (kafka-python, kit configs)": {"p50_ms": [], "p99_ms": [], "avg_ms": []},
               "Java EndToEndLatency": {"p50_ms": [], "p99_ms": [], "avg_ms": []}}
    for run_number in range(bench.size["latency_runs"]):
        ours = worker("kafka-python-latency", bench.bootstrap, bench.new_topic("latency"), m)
        out = run(java("org.apache.kafka.tools.EndToEndLatency", bench.bootstrap, bench.new_topic("latency"), m,
                       "all", 100))
        match, average = JAVA_LATENCY.search(out.stdout), JAVA_AVERAGE.search(out.stdout)
        if not match or not average:
            raise BenchError(f"EndToEndLatency printed no percentiles:\n{out.stdout[-1000:]}")
        for name, p50, p99, avg in (
                ("ours (kafka-python, kit configs)", ours["p50_ms"], ours["p99_ms"], ours["avg_ms"]),
                ("Java EndToEndLatency", float(match[1]), float(match[2]), float(average[1]))):
            results[name]["p50_ms"].append(p50)
            results[name]["p99_ms"].append(p99)
            results[name]["avg_ms"].append(avg)
            bench.say(f"  latency run {run_number + 1}: {name:<34} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
                     f"avg {avg:6.2f} ms")
    return {"end_to_end_latency": {name: {key: stats(values) for key, values in figures.items()}
                                   for name, figures in results.items()}}

# -- time to first record

def first_record(bench, workdir):
    topic = bench.new_topic("first")
    bench.fill(topic, 1)
    clients = {
        "ours (consumer.py)": lambda: time_until_line(
            [sys.executable, "consumer.py", "--bootstrap-server", bench.bootstrap, "--topic", topic,
             "--max-messages", 1, "--group", bench.new_group()], "Data Received"),
        "Java ConsoleConsumer": lambda: time_until_line(
            java("org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", bench.bootstrap,
                 "--topic", topic, "--from-beginning", "--max-messages", 1), "{"),
        # A record the broker acknowledged (acks=all), from a new process, as a learner sends one.
        "ours (producer.py), acknowledged": lambda: time_until_line(
            [sys.executable, "producer.py", "--bootstrap-server", bench.bootstrap, "--topic", topic], "Done: 1 record"),
        "Java ConsoleProducer, one line": lambda: time_to_exit(
            java("kafka.tools.ConsoleProducer", "--bootstrap-server", bench.bootstrap, "--topic", topic,
                 "--producer-property", "acks=all"), stdin_text='{"name": "Ana"}\n'),
    }
    times = {name: [] for name in clients}
    for run_number in range(bench.size["start_runs"]):
        for name, measure in clients.items():
            times[name].append(measure())
            bench.say(f"  first record run {run_number + 1}: {name:<24} {times[name][-1]:6.2f} s")
    return {"time_to_first_record": {name: stats(values) for name, values in times.items()}}

def time_to_exit(command, stdin_text, timeout=120):
    """Seconds from starting a new process, fed stdin_text, until it exits (0); the console producer exits
    only once it has closed, which waits for the broker's acknowledgement."""
    started = time.monotonic()
    result = subprocess.run([str(part) for part in command], input=stdin_text, capture_output=True, text=True,
                            timeout=timeout, cwd=REPO_DIR, env=script_env())
    if result.returncode != 0:
        raise BenchError(f"{' '.join(map(str, command[:4]))} ... exited {result.returncode}: {result.stderr[-1000:]}")
    return time.monotonic() - started


# -- time to fail

def time_to_fail(bench, workdir):
    """Seconds until each script exits with its error; --quick runs the three at once."""
    together = bench.quick
    dead = f"localhost:{local_kafka.free_port()}"  # nothing listens there
    scripts = {"create_topic.py": [], "producer.py": [], "consumer.py": ["--max-messages", 1]}
    times = {name: [] for name in scripts}
    for run_number in range(bench.size["fail_runs"]):
        started = {}
        processes = {}
        for name, extra in scripts.items():
            command = [sys.executable, name, "--bootstrap-server", dead, "--topic", "bench-nowhere",
                       *map(str, extra)]
            started[name] = time.monotonic()
            processes[name] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                               text=True, cwd=REPO_DIR, env=script_env())
            if not together:
                finish_failing(bench, name, processes[name], started[name], dead, times, run_number)
        if together:
            for name, process in processes.items():
                finish_failing(bench, name, process, started[name], dead, times, run_number)
    return {"time_to_fail": {name: stats(values) for name, values in times.items()}}

def finish_failing(bench, name, process, started, dead, times, run_number):
    _, stderr = process.communicate(timeout=120)
    seconds = time.monotonic() - started
    if process.returncode == 0 or "cannot reach Kafka" not in stderr:
        raise BenchError(f"{name} against {dead}: exit {process.returncode}, stderr {stderr.strip()[-300:]!r}")
    times[name].append(seconds)
    bench.say(f"  time to fail run {run_number + 1}: {name:<16} {seconds:6.2f} s")
