"""How tools/bench.py runs what it measures: processes, their CPU time and memory, and the private broker.

run() and run_draining() time a command and its CPU seconds; run_for_peak_memory() gives a process's exact
peak RSS; worker() runs one peer of tools/bench_workers.py; Bench holds the broker, makes fresh topics and
groups, and interleave() runs clients in turn so background load hits them alike.
"""

import collections
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent
REPO_DIR = TOOLS_DIR.parent
sys.path.insert(0, str(REPO_DIR))
sys.path.insert(0, str(TOOLS_DIR))

import local_kafka  # noqa: E402
from bench_workers import producer_config  # noqa: E402

LOG4J_QUIET = REPO_DIR / "tests" / "log4j-quiet.properties"
JAVA_TOOL_HEAP = "-Xmx512m"  # what Kafka's own kafka-*-perf-test.sh scripts give their JVM
WORKERS_SCRIPT = TOOLS_DIR / "bench_workers.py"
SUMMARY = re.compile(r"^(?:Sent|Received) ([\d,]+) records? \(([\d.]+) MB\) in ([\d.]+) s")


def script_env(extra_path=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    env["PYTHONUNBUFFERED"] = "1"
    paths = [str(REPO_DIR)] + ([str(extra_path)] if extra_path else [])
    if extra_path:
        paths.reverse()  # the shadowing module must come first
    env["PYTHONPATH"] = os.pathsep.join(paths + [env["PYTHONPATH"]] if env.get("PYTHONPATH") else paths)
    return env


def run(command, timeout=300, env=None):
    command = [str(part) for part in command]
    cpu_before = cpu_of_children()
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO_DIR,
                            env=env or script_env())
    result.seconds = time.monotonic() - started
    result.cpu_seconds = cpu_of_children() - cpu_before
    if result.returncode != 0:
        raise BenchError(f"{' '.join(map(str, command[:4]))} ... exited {result.returncode}:\n"
                         f"{(result.stderr or result.stdout)[-2000:]}")
    return result


def run_draining(command, timeout=300, env=None):
    """run() for a script that prints a line per record: its output is read as it comes, only the end kept."""
    command = [str(part) for part in command]
    cpu_before = cpu_of_children()
    started = time.monotonic()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, cwd=REPO_DIR,
                                   env=env or script_env())
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            tail = collections.deque(process.stdout, maxlen=20)  # reads every line, keeps the last 20
            process.wait()
        finally:
            timer.cancel()
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    result = subprocess.CompletedProcess(command, process.returncode, b"".join(tail).decode(errors="replace"),
                                         stderr)
    result.seconds = time.monotonic() - started
    result.cpu_seconds = cpu_of_children() - cpu_before
    if result.seconds >= timeout:
        raise BenchError(f"{' '.join(command[:4])} ... did not finish within {timeout} s")
    if result.returncode != 0:
        raise BenchError(f"{' '.join(command[:4])} ... exited {result.returncode}:\n"
                         f"{(result.stderr or result.stdout)[-2000:]}")
    return result


# A process's peak RSS (ru_maxrss) starts at the peak of the process that started it: the kernel carries the
# parent's high-water mark across fork and exec. The benchmark itself holds tens of MiB, so the measured
# clients are started by this bare interpreter instead, which reports their resource usage from wait4().
SPAWNER = """
import os, sys
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
"""


def run_for_peak_memory(command, stdin_path=None, timeout=900, env=None):
    """Run a process to its end: its wall time, CPU time and peak resident memory (RSS), exact, from wait4().

    The kernel keeps each process's high-water mark of resident memory, so no sampling is needed.
    """
    command = [str(part) for part in command]
    with open(stdin_path or os.devnull, "rb") as stdin, tempfile.TemporaryFile() as out, \
            tempfile.TemporaryFile() as errors, tempfile.TemporaryDirectory() as scratch:
        usage_file = Path(scratch) / "usage"
        started = time.monotonic()
        # -I -S: no site packages, no environment settings, so the spawner stays as small as Python gets.
        spawner = subprocess.Popen([sys.executable, "-I", "-S", "-c", SPAWNER, usage_file, *command], stdin=stdin,
                                   stdout=out, stderr=errors, cwd=REPO_DIR, env=env or script_env(),
                                   start_new_session=True)  # its own process group: a timeout kills both
        try:
            spawner.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(spawner.pid, 9)
            spawner.wait()
            raise BenchError(f"{' '.join(command[:4])} ... did not finish within {timeout} s") from None
        seconds = time.monotonic() - started
        out.seek(0)
        errors.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = errors.read().decode(errors="replace")
        if spawner.returncode != 0 or not usage_file.exists():
            raise BenchError(f"could not start {command[0]} (exit {spawner.returncode}):\n{stderr[-2000:]}")
        returncode, max_rss, cpu_seconds = usage_file.read_text().split()
    if int(returncode) != 0:
        raise BenchError(f"{' '.join(command[:4])} ... exited {returncode}:\n{(stderr or stdout)[-2000:]}")
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    kib = int(max_rss) / 1024 if sys.platform == "darwin" else int(max_rss)
    return {"peak_rss_mib": kib / 1024, "seconds": seconds, "cpu_seconds": float(cpu_seconds), "stdout": stdout}


def cpu_of_children():
    """CPU seconds (user + system) used by finished child processes: less noisy than wall time here."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def java(main_class, *args):
    return [local_kafka.java_command(), JAVA_TOOL_HEAP, f"-Dlog4j.configuration=file:{LOG4J_QUIET}",
            "-cp", local_kafka.classpath(), main_class, *map(str, args)]


def worker(name, *args, env=None, timeout=300, drain=False):
    """One peer of bench_workers.py; drain=True for one that prints a line per record (see run_draining)."""
    result = (run_draining if drain else run)([sys.executable, str(WORKERS_SCRIPT), name, *map(str, args)],
                                              timeout=timeout, env=env)
    for line in result.stdout.splitlines():
        if line.startswith("RESULT "):
            return {**json.loads(line[len("RESULT "):]), "cpu_seconds": result.cpu_seconds}
    raise BenchError(f"worker {name} printed no result:\n{result.stdout[-1000:]}{result.stderr[-1000:]}")


def summary_of(result):
    """records, bytes and seconds from the scripts' 'Sent/Received N records (X MB) in S s' line."""
    for line in result.stdout.splitlines():
        match = SUMMARY.match(line)
        if match:
            count, megabytes, seconds = match.groups()
            return {"records": int(count.replace(",", "")), "bytes": float(megabytes) * 1e6,
                    "seconds": float(seconds), "cpu_seconds": result.cpu_seconds}
    raise BenchError(f"no summary line in:\n{result.stdout[-1000:]}")


def ratio(a, b):
    return round(a / b, 3) if b else None


def stats(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": list(values)}


class BenchError(Exception):
    pass


def time_until_line(command, needle, timeout=120):
    """Seconds from starting a new process until it prints a line containing `needle`."""
    command = [str(part) for part in command]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               cwd=REPO_DIR, env=script_env())
    try:
        deadline = started + timeout
        for line in process.stdout:
            if needle in line:
                return time.monotonic() - started
            if time.monotonic() > deadline:
                break
        raise BenchError(f"{' '.join(map(str, command[:4]))} ... never printed {needle!r}")
    finally:
        process.kill()
        process.wait()




class Bench:
    def __init__(self, stack, size, say, quick=False):
        self.stack = stack
        self.bootstrap = stack.bootstrap
        self.size = size
        self.say = say
        self.quick = quick  # --quick: some measures take shortcuts
        self.topics = 0
        self.groups = 0
        from kafka import KafkaAdminClient

        self.admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)

    def new_topic(self, prefix):
        from kafka.admin import NewTopic

        self.topics += 1
        name = f"bench-{prefix}-{self.topics}"
        self.admin.create_topics([NewTopic(name, 1, 1)])
        deadline = time.monotonic() + 30
        from kafka import KafkaProducer

        probe = KafkaProducer(bootstrap_servers=self.bootstrap)
        try:
            while not probe.partitions_for(name) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            probe.close()
        return name

    def new_group(self):
        self.groups += 1
        return f"bench-group-{self.groups}-{os.getpid()}"
    def java_producer_props(self):
        config = producer_config()
        return [f"bootstrap.servers={self.bootstrap}", "acks=all", "enable.idempotence=true",
                f"linger.ms={config['linger_ms']}", f"batch.size={config['batch_size']}",
                f"compression.type={config['compression_type']}"]

    def interleave(self, what, clients, fresh_topic=True):
        """Run each client once per round, in turn, so background load hits them alike."""
        rates = {name: [] for name in clients}
        cpu = {name: [] for name in clients}
        names = list(clients)
        for run_number in range(self.size["runs"]):
            # A different client goes first in each round: no one always gets the freshly idle machine.
            shift = run_number % len(names)
            for name in names[shift:] + names[:shift]:
                measure = clients[name]
                result = measure(self.new_topic(what)) if fresh_topic else measure()
                if result["records"] != self.size["records"]:
                    raise BenchError(f"{name}: {result['records']} records, expected {self.size['records']}")
                rates[name].append(result["records"] / result["seconds"])
                cpu[name].append(result["cpu_seconds"])
                self.say(f"  {what} run {run_number + 1}: {name:<28} {rates[name][-1]:>10,.0f} records/s  "
                         f"{cpu[name][-1]:5.1f} s CPU")
        return {name: {**stats(values), "cpu_seconds": stats(cpu[name])} for name, values in rates.items()}

    # -- consumer throughput

    def fill(self, topic, count):
        worker("confluent-produce", self.bootstrap, topic, count)

    def end_offset(self, topic):
        from kafka import KafkaConsumer, TopicPartition

        partition = TopicPartition(topic, 0)
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            return consumer.end_offsets([partition])[partition]
        finally:
            consumer.close()
