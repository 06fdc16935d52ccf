#!/usr/bin/env python3
"""The whole tutorial in one command: start Kafka, create the topic, produce, consume.

    python tools/demo.py

Uses a broker that already answers at KAFKA_BOOTSTRAP_SERVERS (default localhost:9092);
otherwise starts the compose stack when a Docker engine is running, otherwise the
local Java stack (tools/local_kafka.py). Each step prints the command it runs, so you
can run the same commands yourself afterwards, one terminal each.
"""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCAL_PORT = os.environ.get("LOCAL_KAFKA_PORT", "9092")


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
    print(f"\n== {title}\n$ {' '.join(command)}", flush=True)
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
    stop_hint = None
    if answers(bootstrap):
        print(f"Using the Kafka broker that already answers at {bootstrap}.")
    elif docker_engine_running():
        step("Start ZooKeeper and Kafka in Docker (waits until both are healthy)",
             ["docker", "compose", "up", "-d", "--wait"])
        stop_hint = "docker compose down -v"
    else:
        print("No broker at " + bootstrap + " and no Docker engine: using the local Java stack.")
        step("Start ZooKeeper and Kafka as local Java processes", ["python", "tools/local_kafka.py", "start"])
        stop_hint = "python tools/local_kafka.py stop"
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    step("Create the 'Users' topic", ["python", "create_topic.py"])
    step("Send one user record", ["python", "producer.py"])
    step("Read it back (the consumer normally runs until Ctrl-C; here it stops after one record)",
         ["python", "consumer.py", "--group", "demo", "--max-messages", "1"])
    print("\nThe demo worked. Next: the step-by-step tutorial in README.md, one terminal per script.")
    if stop_hint:
        print(f"Kafka keeps running for that. Stop it later with: {stop_hint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
