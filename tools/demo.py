#!/usr/bin/env python3
"""The whole tutorial in one command: start Kafka, create a topic, produce, consume.

    python tools/demo.py

Uses a broker that already answers at KAFKA_BOOTSTRAP_SERVERS (default localhost:9092);
otherwise starts the compose stack when a Docker engine is running, otherwise the
local Java stack (tools/local_kafka.py). Each step prints the command it runs.

The demo leaves the tutorial untouched, so that README.md's steps print what the README shows:
it writes to its own topic and group (DEMO_TOPIC, DEMO_GROUP, never the tutorial's 'Users' and
'users-demo'), and it stops the Kafka it started (its data is kept; step 1 starts it again).
"""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCAL_PORT = os.environ.get("LOCAL_KAFKA_PORT", "9092")
DEMO_TOPIC, DEMO_GROUP = "demo", "demo"


def answers(bootstrap):
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except (OSError, ValueError):
        return False


def docker_engine_running():
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return probe.returncode == 0


def step(title, command):
    print(f"\n== {title}: {' '.join(command)}", flush=True)
    shown = [sys.executable if part == "python" else part for part in command]
    result = subprocess.run(shown, cwd=REPO)
    if result.returncode != 0:
        print(f"\nThe demo stopped: '{' '.join(command)}' exited {result.returncode} (see its message above).")
        sys.exit(result.returncode)


def main():
    try:
        import kafka  # noqa: F401
    except ImportError:
        print("kafka-python is not installed here: run the Quick start in README.md, or this file with "
              ".venv/bin/python (the environment it made).")
        return 1
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", f"localhost:{LOCAL_PORT}")
    stop_command = None  # how to stop the Kafka this demo started, if it started one
    if answers(bootstrap):
        print(f"Using the Kafka broker that already answers at {bootstrap}; it keeps running afterwards.")
    elif docker_engine_running():
        step("Start ZooKeeper and Kafka in Docker (waits until both are healthy)",
             ["docker", "compose", "up", "-d", "--wait"])
        stop_command = ["docker", "compose", "stop"]
    else:
        print("No broker at " + bootstrap + " and no Docker engine: using the local Java stack.")
        step("Start ZooKeeper and Kafka as local Java processes", ["python", "tools/local_kafka.py", "start"])
        stop_command = ["python", "tools/local_kafka.py", "stop"]
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    topic = ["--topic", DEMO_TOPIC]
    try:
        step(f"Create the topic '{DEMO_TOPIC}'", ["python", "create_topic.py", *topic])
        step("Send one user record", ["python", "producer.py", *topic])
        step("Read it back (the consumer normally runs until Ctrl-C; here it stops after one record)",
             ["python", "consumer.py", *topic, "--group", DEMO_GROUP, "--max-messages", "1"])
    finally:  # also when a step failed: the learner's step 1 starts Kafka itself
        if stop_command:
            step("Stop the Kafka the demo started (the tutorial starts it again in its step 1)", stop_command)
    print(f"\nThe demo worked. It used its own topic '{DEMO_TOPIC}' and group '{DEMO_GROUP}', so the tutorial in "
          f"README.md starts from scratch: one terminal per script, beginning with step 1.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
