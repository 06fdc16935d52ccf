"""Authenticated clusters: the three scripts against a real broker that demands a login.

One private stack has three listeners: PLAINTEXT (for the tests' own admin work), SASL_PLAINTEXT with
PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, and SASL_SSL with the same mechanisms and a certificate signed by
a throwaway CA made here with openssl. The scripts get their credentials only through the KAFKA_*
variables, exactly as a learner would set them for Confluent Cloud, MSK or Aiven."""

import json
import re
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.request import urlopen

import pytest
from kafka import KafkaAdminClient
from kafka.admin import UserScramCredentialUpsertion
from support import create_topic, end_offsets, produce_raw, run_script, script_env, start_script, unique_name

PLAIN_USER, PLAIN_PASSWORD = "kit-learner", "Pl41n-s3cret_pw!"
SCRAM_USER, SCRAM_PASSWORD = "kit-scram", "Scr4m-s3cret_pw#"
WRONG_PASSWORD = "not-the-Password-9"
KEYSTORE_PASSWORD = "kit-keystore-pw"
MECHANISMS = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
SCRAM_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required;"


def figures(message):
    sys.__stderr__.write(f"[figures] {message}\n")
    sys.__stderr__.flush()


def make_certificates(directory):
    """A throwaway CA and a broker certificate for 'localhost', packed as a PKCS12 keystore."""
    def openssl(*args):
        result = subprocess.run(["openssl", *args], cwd=directory, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=kafka-kit test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
            "-subj", "/CN=localhost")
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "broker.pem", "-days", "2", "-extfile", "san.ext")
    openssl("pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key", "-certfile", "ca.pem",
            "-out", "broker.p12", "-passout", f"pass:{KEYSTORE_PASSWORD}")
    return directory / "ca.pem", directory / "broker.p12"


class SecureCluster:
    def __init__(self, stack, ssl_port, cafile):
        self.stack = stack
        self.plaintext = stack.bootstrap
        self.sasl_plaintext = f"localhost:{stack.sasl_port}"
        self.sasl_ssl = f"localhost:{ssl_port}"
        self.cafile = cafile

    def env(self, mechanism="PLAIN", protocol="SASL_PLAINTEXT", username=None, password=None, **extra):
        scram = mechanism.startswith("SCRAM")
        values = {"KAFKA_SECURITY_PROTOCOL": protocol, "KAFKA_SASL_MECHANISM": mechanism,
                  "KAFKA_SASL_USERNAME": username if username is not None else (SCRAM_USER if scram else PLAIN_USER),
                  "KAFKA_SASL_PASSWORD": password if password is not None else
                  (SCRAM_PASSWORD if scram else PLAIN_PASSWORD), **extra}
        if protocol == "SASL_SSL":
            values["KAFKA_SSL_CAFILE"] = str(self.cafile)
        address = self.sasl_ssl if protocol == "SASL_SSL" else self.sasl_plaintext
        return script_env(address, **{k: v for k, v in values.items() if v is not None})


@pytest.fixture(scope="module")
def secure(stack_factory, tmp_path_factory):
    from conftest import free_port_block

    cafile, keystore = make_certificates(tmp_path_factory.mktemp("certs"))
    ssl_port = free_port_block(1)
    plain_jaas = (f'org.apache.kafka.common.security.plain.PlainLoginModule required '
                  f'user_{PLAIN_USER}="{PLAIN_PASSWORD}";')
    extra = {
        "listeners": f"PLAINTEXT://localhost:{{port}},SASL_PLAINTEXT://localhost:{{sasl_port}},"
                     f"SASL_SSL://localhost:{ssl_port}",
        "advertised.listeners": f"PLAINTEXT://localhost:{{port}},SASL_PLAINTEXT://localhost:{{sasl_port}},"
                                f"SASL_SSL://localhost:{ssl_port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
        "sasl.enabled.mechanisms": MECHANISMS,
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms": MECHANISMS,
        "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config": SCRAM_JAAS,
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": SCRAM_JAAS,
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": MECHANISMS,
        "listener.name.sasl_ssl.plain.sasl.jaas.config": plain_jaas,
        "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": SCRAM_JAAS,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": SCRAM_JAAS,
        "listener.name.sasl_ssl.ssl.keystore.type": "PKCS12",
        "listener.name.sasl_ssl.ssl.keystore.location": str(keystore),
        "listener.name.sasl_ssl.ssl.keystore.password": KEYSTORE_PASSWORD,
        "listener.name.sasl_ssl.ssl.key.password": KEYSTORE_PASSWORD,
    }
    stack = stack_factory.start(sasl_port="free", sasl_users={PLAIN_USER: PLAIN_PASSWORD}, extra_properties=extra)
    admin = KafkaAdminClient(bootstrap_servers=stack.bootstrap)
    try:
        errors = admin.alter_user_scram_credentials([
            UserScramCredentialUpsertion(SCRAM_USER, "SCRAM-SHA-256", SCRAM_PASSWORD),
            UserScramCredentialUpsertion(SCRAM_USER, "SCRAM-SHA-512", SCRAM_PASSWORD)])
        assert errors == {SCRAM_USER: None}, errors
    finally:
        admin.close()
    time.sleep(1)  # the broker picks the new credentials up from ZooKeeper
    return SecureCluster(stack, ssl_port, cafile)


def no_secret_in(result, *secrets):
    text = result.stdout + result.stderr
    for secret in secrets:
        assert secret not in text, f"the password appears in the output:\n{text[:3000]}"


# ---------------------------------------------------------------------------------------------------

LOGINS = [("PLAIN", "SASL_PLAINTEXT"), ("SCRAM-SHA-256", "SASL_PLAINTEXT"), ("SCRAM-SHA-512", "SASL_PLAINTEXT"),
          ("PLAIN", "SASL_SSL"), ("SCRAM-SHA-512", "SASL_SSL")]


@pytest.mark.parametrize("mechanism, protocol", LOGINS, ids=[f"{p}-{m}" for m, p in LOGINS])
def test_right_credentials_the_three_scripts_work_end_to_end(secure, mechanism, protocol):
    env = secure.env(mechanism, protocol)
    password = env["KAFKA_SASL_PASSWORD"]
    topic = unique_name("secure")
    created = run_script("create_topic.py", "--topic", topic, "--partitions", 2, env=env)
    assert created.returncode == 0, created
    assert f"Created topic '{topic}' with 2 partition(s)" in created.stdout

    # --verbose turns on kafka-python's DEBUG log, which would show the SASL/PLAIN login request.
    sent = run_script("bulk_producer.py", "--topic", topic, "--count", 50, "--verbose", env=env)
    assert sent.returncode == 0, sent.stdout[-2000:] + sent.stderr[-2000:]
    assert re.search(r"^Done: 50 records acknowledged", sent.stdout, re.MULTILINE), sent.stdout
    received = run_script("consumer.py", "--topic", topic, "--group", unique_name("secure"), "--max-messages", 50,
                          "-v", env=env)
    assert received.returncode == 0, received.stdout[-2000:] + received.stderr[-2000:]
    assert len(re.findall(r"^Data Received", received.stdout, re.MULTILINE)) == 50
    assert re.search(r"^Received 50 records", received.stdout, re.MULTILINE)
    for result in (created, sent, received):
        no_secret_in(result, password)
    assert "DEBUG kafka" in sent.stderr  # the log really was on, and held no password
    assert sum(end_offsets(secure.plaintext, topic).values()) == 50


def test_log_view_logged_in_keeps_the_password_off_its_page_its_events_and_its_terminal(secure):
    """The page draws only what its files and the /events stream carry, so those and the terminal are all there is
    to check; a browser would add nothing. SASL/PLAIN sends the password as it is, and -v shows the login."""
    topic = create_topic(secure.plaintext, unique_name("secure-view"))
    produce_raw(secure.plaintext, topic, [b'{"name": "Ana"}'], keys=[b"Ana"])
    view = start_script("log_view.py", "--topic", topic, "--port", 0, "--verbose", env=secure.env())
    try:
        url = re.search(r"Open (http://\S+/) in your browser", view.wait_for(r"^Open http://")).group(1)
        served = b"".join(urlopen(url + path, timeout=10).read() for path in ("", "page.js", "page.css"))
        updates = []
        with urlopen(url + "events", timeout=10) as events:
            for line in events:
                if line.startswith(b"data: "):
                    updates.append(line)
                    shown = json.loads(line[len(b"data: "):])["partitions"][0]
                    if shown["records"] and shown["leader"] is not None:
                        break  # it has read the record and asked for the leaders, logged in
        assert view.interrupt() == 0, view.text
    finally:
        view.kill()
    assert f"Authenticated as {PLAIN_USER} via SASL / Plain" in view.text, view.text[-3000:]
    for what, text in (("the page", served), ("its events", b"".join(updates)), ("its terminal", view.text.encode())):
        assert PLAIN_PASSWORD.encode() not in text, f"the password is in {what}"


def test_wrong_password_says_authentication_failed_within_10_seconds(secure):
    runs = [(script, mechanism, protocol, verbose)
            for script in ("create_topic.py", "producer.py", "consumer.py")
            for mechanism, protocol in (("PLAIN", "SASL_PLAINTEXT"), ("SCRAM-SHA-256", "SASL_SSL"))
            for verbose in ((), ("-v",))]

    def attempt(run):
        script, mechanism, protocol, verbose = run
        env = secure.env(mechanism, protocol, password=WRONG_PASSWORD)
        return run, run_script(script, "--topic", "Users", *verbose, env=env, timeout=30)

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(attempt, runs))
    slowest = 0.0
    for (script, mechanism, _protocol, verbose), result in results:
        assert result.returncode == 1, (script, mechanism, result)
        assert result.seconds < 10, (script, mechanism, result.seconds)
        assert "Traceback" not in result.stderr, result
        no_secret_in(result, WRONG_PASSWORD, PLAIN_PASSWORD, SCRAM_PASSWORD)
        errors = [line for line in result.err_lines if line.startswith("error:")]
        assert len(errors) == 1 and "authentication failed" in errors[0], (script, result)
        if not verbose:
            assert result.err_lines == errors and result.stdout == "", result
        slowest = max(slowest, result.seconds)
    figures(f"wrong password: {len(results)} runs (3 scripts x PLAIN/SASL_PLAINTEXT, SCRAM-SHA-256/SASL_SSL x "
            f"quiet/-v), all exit 1 with 'authentication failed', slowest {slowest:.1f} s")


class Listener:
    """A TCP port that counts the connections made to it."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = f"localhost:{self.sock.getsockname()[1]}"
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                pass

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


USAGE_CASES = [
    ("missing-username", {"KAFKA_SASL_USERNAME": ""}, "KAFKA_SASL_USERNAME is not set"),
    ("missing-password", {"KAFKA_SASL_PASSWORD": ""}, "KAFKA_SASL_PASSWORD is not set"),
    ("unknown-mechanism", {"KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM=GSSAPI is not one of PLAIN"),
    ("unknown-protocol", {"KAFKA_SECURITY_PROTOCOL": "SASL_TLS"}, "KAFKA_SECURITY_PROTOCOL=SASL_TLS is not one of"),
    ("missing-cafile", {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"},
     "KAFKA_SSL_CAFILE=/nonexistent/ca.pem is not a readable file"),
]


@pytest.mark.parametrize("script", ["create_topic.py", "producer.py", "consumer.py"])
@pytest.mark.parametrize("change, phrase", [c[1:] for c in USAGE_CASES], ids=[c[0] for c in USAGE_CASES])
def test_incomplete_credentials_are_a_usage_error_before_any_connection(script, change, phrase):
    listener = Listener()
    try:
        env = script_env(listener.address, KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", KAFKA_SASL_MECHANISM="PLAIN",
                         KAFKA_SASL_USERNAME=PLAIN_USER, KAFKA_SASL_PASSWORD=PLAIN_PASSWORD)
        env.update(change)
        result = run_script(script, "--topic", "Users", env=env)
        time.sleep(0.3)
    finally:
        listener.close()
    assert result.returncode == 2, result
    assert result.err_lines == [line for line in result.err_lines if line.startswith("error:")], result
    assert len(result.err_lines) == 1 and phrase in result.err_lines[0], result
    assert listener.connections == 0, "the script connected before checking its settings"
    no_secret_in(result, PLAIN_PASSWORD)
