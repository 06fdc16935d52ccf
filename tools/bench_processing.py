"""Benchmark of the two processing stages, run by tools/bench.py on its private broker: what exactly once costs.

route_users.py and count_professions.py each process the same users (20,000; --quick: 1,000) with
transactions, their default, and with --at-least-once, taking turns; then route_users.py does it again at
several --batch-size values, because each batch is one transaction: fewer, bigger batches spread its fixed
cost. That cost per transaction is the extra time of exactly once over at least once, divided by the
transactions the stage committed (its batch lines). A run is timed from the stage's group assignment to its
exit after --max-messages, so Python's start-up, the topic checks, init_transactions() and joining the group
are left out; the CPU seconds are the whole process's. Each figure is the median of the benchmark's runs.
"""

import itertools
import json
import subprocess
import sys
import tempfile
import threading
import time

from bench_run import REPO_DIR, BenchError, cpu_of_children, ratio, script_env, stats
from bench_workers import generated_users

SIZES = {"full": {"records": 20_000, "batch_sizes": [50, 200, 500, 2000]},
         "quick": {"records": 1_000, "batch_sizes": [100, 500]}}
PARTITIONS = 3
DEFAULT_BATCH = 500  # the stages' own --batch-size default
RUN_TIMEOUT = 300
_outputs = itertools.count(1)  # numbers the fresh output topics of each run
# name: (script, --at-least-once?)
STAGES = {
    "route_users.py, exactly once": ("route_users.py", False),
    "route_users.py --at-least-once": ("route_users.py", True),
    "count_professions.py, exactly once": ("count_professions.py", False),
    "count_professions.py --at-least-once": ("count_professions.py", True),
}


def fill_inputs(bootstrap, users, by_profession, count):
    """The stages' inputs: users keyed by name, and the same users keyed by profession (route_users.py's output)."""
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(users, PARTITIONS, 1), NewTopic(by_profession, PARTITIONS, 1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    for user in generated_users(count):
        value = json.dumps(user).encode()
        producer.send(users, key=user["name"].encode(), value=value)
        producer.send(by_profession, key=user["profession"].encode(), value=value)
    producer.flush()
    producer.close()


def run_stage(bench, script, topic, count, at_least_once, batch_size):
    """One run of a stage over `count` records: its records, seconds, batch lines and CPU seconds."""
    output = f"bench-processing-out-{next(_outputs)}"  # fresh outputs each run: nothing to restore, no history
    command = [sys.executable, script, "--bootstrap-server", bench.bootstrap, "--topic", topic, "--output", output,
               "--group", bench.new_group(), "--max-messages", count, "--batch-size", batch_size]
    command += ["--dlq", f"{output}.DLQ"] if script == "route_users.py" else []
    command += ["--at-least-once"] if at_least_once else []
    cpu_before = cpu_of_children()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen([str(part) for part in command], stdout=subprocess.PIPE, stderr=errors,
                                   text=True, cwd=REPO_DIR, env=script_env())
        timer = threading.Timer(RUN_TIMEOUT, process.kill)
        timer.start()
        assigned, batches, last = None, 0, ""
        try:
            for line in process.stdout:  # read as they come: the time of the assignment line is the start
                if assigned is None and ": assigned partitions" in line:
                    assigned = time.monotonic()
                batches += line.startswith("Batch: ")
                last = line.strip()
            process.wait()
        finally:
            timer.cancel()
        ended = time.monotonic()
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    if process.returncode != 0 or assigned is None:
        raise BenchError(f"{script} exited {process.returncode}:\n{stderr[-2000:]}{last}")
    if not last.startswith((f"Routed {count:,} record(s)", f"Counted {count:,} user(s)")):
        raise BenchError(f"{script} did not process {count:,} records: {last}")
    return {"records": count, "seconds": ended - assigned, "batches": batches,
            "cpu_seconds": cpu_of_children() - cpu_before}


def take_turns(bench, clients, what):
    """Run each client once per round, the first one changing every round; {name: figures}."""
    rates, cpu, batches = ({name: [] for name in clients} for _ in range(3))
    names = list(clients)
    for run_number in range(bench.size["runs"]):
        shift = run_number % len(names)
        for name in names[shift:] + names[:shift]:
            result = clients[name]()
            rates[name].append(result["records"] / result["seconds"])
            cpu[name].append(result["cpu_seconds"])
            batches[name].append(result["batches"])
            bench.say(f"  {what} run {run_number + 1}: {name:<38} {rates[name][-1]:>8,.0f} records/s  "
                      f"{batches[name][-1]:>4} batches  {cpu[name][-1]:5.1f} s CPU")
    return {name: {**stats(values), "cpu_seconds": stats(cpu[name]), "batches": max(batches[name])}
            for name, values in rates.items()}


def bench_measure(bench, workdir):
    """The measure as tools/bench.py's MEASURES calls it, on the benchmark's broker."""
    size = SIZES["quick" if bench.quick else "full"]
    count, stamp = size["records"], int(time.time())
    users, by_profession = f"bench-processing-users-{stamp}", f"bench-processing-by-profession-{stamp}"
    bench.say(f"  filling '{users}' and '{by_profession}' with {count:,} users each")
    fill_inputs(bench.bootstrap, users, by_profession, count)
    inputs = {"route_users.py": users, "count_professions.py": by_profession}
    stages = take_turns(bench, {name: (lambda s=script, a=alo: run_stage(bench, s, inputs[s], count, a, DEFAULT_BATCH))
                                for name, (script, alo) in STAGES.items()}, "processing")
    rows = []
    for batch_size in size["batch_sizes"]:
        if batch_size == DEFAULT_BATCH:  # measured above
            exactly, at_least = stages["route_users.py, exactly once"], stages["route_users.py --at-least-once"]
        else:
            modes = {"exactly once": False, "at least once": True}
            both = take_turns(bench, {mode: (lambda a=alo, b=batch_size: run_stage(bench, "route_users.py", users,
                                                                                   count, a, b))
                                      for mode, alo in modes.items()}, f"--batch-size {batch_size}")
            exactly, at_least = both["exactly once"], both["at least once"]
        extra = count / exactly["median"] - count / at_least["median"]  # seconds that transactions added
        rows.append({"batch_size": batch_size, "exactly_once": exactly, "at_least_once": at_least,
                     "transactions": exactly["batches"],
                     "ms_per_transaction": round(extra * 1000 / exactly["batches"], 2)})
    return {"processing": {"records": count, "partitions": PARTITIONS, "runs": bench.size["runs"],
                           "stages": stages, "route_users_batch_sizes": rows}}


def table_lines(results):
    figures = results["processing"]
    lines = [f"Processing stages: {figures['records']:,} users in {figures['partitions']} partitions, "
             f"median of {figures['runs']} run(s)",
             f"  {'':<38} {'records/s':>10} {'min - max':>19}  {'CPU s':>6}  {'batches':>7}"]
    for name, s in figures["stages"].items():
        lines.append(f"  {name:<38} {s['median']:>10,.0f} {s['min']:>8,.0f} - {s['max']:<8,.0f}  "
                     f"{s['cpu_seconds']['median']:>6.1f}  {s['batches']:>7}")
    lines += ["  (timed from the group assignment to the exit: start-up and joining the group left out)", "",
              f"  {'route_users.py --batch-size':<30} {'exactly once':>12} {'at least once':>14} {'ratio':>6} "
              f"{'transactions':>13} {'ms per transaction':>19}"]
    for row in figures["route_users_batch_sizes"]:
        exactly, at_least = row["exactly_once"]["median"], row["at_least_once"]["median"]
        lines.append(f"  {row['batch_size']:<30} {exactly:>12,.0f} {at_least:>14,.0f} "
                     f"{ratio(exactly, at_least):>6.2f} {row['transactions']:>13} {row['ms_per_transaction']:>19.1f}")
    lines.append("  (records/s; ratio: exactly once / at least once; ms per transaction: what exactly once added, "
                 "per batch)")
    return lines


def ratios(results):
    stages = results["processing"]["stages"]
    return {f"{script}: exactly once / --at-least-once": ratio(stages[f"{script}, exactly once"]["median"],
                                                               stages[f"{script} --at-least-once"]["median"])
            for script in ("route_users.py", "count_professions.py")}
