"""route_users.py and count_professions.py, the two stream-processing stages, on a real broker.

Every test ends by reading the outputs with read_committed and comparing them with the truth computed from
the input: the latest count of each profession, each good user once in UsersByProfession, each bad record
once in the dead-letter topic. The input is written by librdkafka (confluent-kafka) and by Kafka's Java
console producer, not by the kit.
"""

import collections
import json
import random
import re
import signal
import time

import helpers

import pytest
from kafka import KafkaConsumer, TopicPartition
from support import (
    create_topic,
    java_tool,
    librdkafka_produce,
    run_script,
    script_env,
    start_script,
    unique_name,
)

import route_users

CONSOLE_PRODUCER = "kafka.tools.ConsoleProducer"
PROFESSIONS = ["Teacher", "Nurse", "Architect", "Chef", "Pilot", "Plumber", "Designer", "Data Engineer",
               "Baker", "Lawyer", "Farmer", "Welder"]
BATCH = re.compile(r"^Batch: +(\d+) in +(\d+) out +(?:(\d+) to DLQ +)?partitions \[[\d, ]*\] +(.*)$")
ASSIGNED = re.compile(r"^Group .*: assigned partitions \[([\d, ]*)\]")
PAUSED = r"^\(test\) pausing"
NOT_JSON, NO_PROFESSION = "not JSON", "no profession"
Record = collections.namedtuple("Record", "key value headers partition offset")


class Pipeline:
    """The topics of one test: Users -> route_users.py -> UsersByProfession, Users.DLQ -> count_professions.py
    -> ProfessionCounts, each with a unique name, and the truth about what was written to Users."""

    def __init__(self, bootstrap, seed=None):
        self.bootstrap = bootstrap
        self.random = random.Random(seed)  # a seed gives two tests the same professions, so the same truth
        prefix = unique_name("proc")
        self.users, self.by_profession = f"{prefix}-Users", f"{prefix}-UsersByProfession"
        self.dlq, self.counts = f"{prefix}-Users.DLQ", f"{prefix}-ProfessionCounts"
        self.route_group, self.count_group = f"{prefix}-route", f"{prefix}-count"
        create_topic(bootstrap, self.users, partitions=3)
        self.good, self.bad, self.next_id = [], [], 0
        self.reasons = {}  # (key, value) of each bad record: the reason its DLQ header must give

    def route_args(self, *extra):
        return ["route_users.py", "--topic", self.users, "--output", self.by_profession, "--dlq", self.dlq,
                "--group", self.route_group, *extra]

    def count_args(self, *extra):
        return ["count_professions.py", "--topic", self.by_profession, "--output", self.counts,
                "--group", self.count_group, *extra]

    def send_users(self, count):
        """`count` good users, by librdkafka, each profession chosen at random."""
        records = []
        for _ in range(count):
            self.next_id += 1
            user = {"id": self.next_id, "name": f"user-{self.next_id}", "profession": self.random.choice(PROFESSIONS)}
            value = json.dumps(user).encode()
            records.append((f"user-{self.next_id}".encode(), value))
        librdkafka_produce(self.bootstrap, self.users, records, **{"linger.ms": 50})
        self.good += [value for _, value in records]

    def send_bad(self):
        """50 records route_users.py cannot use: 40 by librdkafka (some with keys), 10 by the console producer.

        Each comes with the reason its DLQ header must give: not JSON, not a JSON object, or no profession.
        """
        bad = [(b"k-text", b"hello, plain text", NOT_JSON), (None, b"\xff\xfe not text", NOT_JSON),
               (b"k-list", b"[1, 2, 3]", "not a JSON object (a JSON array)"),
               (b"k-none", b'{"name": "No profession"}', NO_PROFESSION),
               (b"k-num", b'{"name": "N", "profession": 7}', NO_PROFESSION),
               (b"k-null", b"null", "not a JSON object (a JSON null)"), (b"k-empty", b"", NOT_JSON)]
        bad += [(f"bad-{n}".encode(), f"not json {n}".encode(), NOT_JSON) for n in range(len(bad), 40)]
        librdkafka_produce(self.bootstrap, self.users, [(key, value) for key, value, _ in bad])
        lines = ([(f"console not json {n}", NOT_JSON) for n in range(5)]
                 + [(f'{{"console": {n}}}', NO_PROFESSION) for n in range(4)]
                 + [("42", "not a JSON object (a JSON number)")])
        result = java_tool(CONSOLE_PRODUCER, "--bootstrap-server", self.bootstrap, "--topic", self.users,
                           input="".join(line + "\n" for line, _ in lines))
        assert result.returncode == 0, result.stderr
        bad += [(None, line.encode(), reason) for line, reason in lines]
        self.bad += [(key, value) for key, value, _ in bad]
        self.reasons.update({(key, value): reason for key, value, reason in bad})

    def true_counts(self):
        return dict(collections.Counter(json.loads(v)["profession"] for v in self.good))

    def committed_counts(self):
        return {r.key.decode(): json.loads(r.value)["count"] for r in latest(read_committed(self.bootstrap,
                                                                                              self.counts))}

    def wait_for_counts(self, expected_total, timeout=120):
        """The committed counts once they add up to expected_total (or whatever they are at the deadline)."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.committed_counts()
            if sum(counts.values()) >= expected_total or time.monotonic() > deadline:
                return counts
            time.sleep(1)

    def assert_exact(self):
        counts = self.committed_counts()
        assert counts == self.true_counts(), "every profession's latest count equals the true count"
        routed = read_committed(self.bootstrap, self.by_profession)
        assert collections.Counter(r.value for r in routed) == collections.Counter(self.good), \
            "each good user exactly once"
        assert all(r.key.decode() == json.loads(r.value)["profession"] for r in routed), "keyed by profession"
        dead = read_committed(self.bootstrap, self.dlq)
        assert collections.Counter((r.key, r.value) for r in dead) == collections.Counter(self.bad), \
            "each bad record exactly once in the DLQ, with its original key and value"
        where = {(r.key, r.value): r for r in read_committed(self.bootstrap, self.users)}  # where each really is
        for r in dead:
            source = where[(r.key, r.value)]
            assert r.headers == {"reason": self.reasons[(r.key, r.value)], "source.topic": self.users,
                                 "source.partition": str(source.partition), "source.offset": str(source.offset)}, \
                (r, source)


def read_committed(bootstrap, topic):
    """Every committed record, as a Record (headers as {name: text}), in order per partition."""
    reader = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False)
    try:
        deadline = time.monotonic() + 60
        while not reader.partitions_for_topic(topic) and time.monotonic() < deadline:
            time.sleep(0.2)  # a new reader knows no topic until its first metadata answer
        parts = [TopicPartition(topic, p) for p in reader.partitions_for_topic(topic)]
        reader.assign(parts)
        reader.seek_to_beginning(*parts)
        ends = reader.end_offsets(parts)
        found = []
        while any(reader.position(tp) < ends[tp] for tp in parts) and time.monotonic() < deadline:
            for records in reader.poll(timeout_ms=500).values():
                found += [Record(r.key, r.value, {k: v.decode() for k, v in r.headers}, r.partition, r.offset)
                          for r in records]
        return found
    finally:
        reader.close()


def latest(records):
    """The last record of each key, as a compacted topic keeps it."""
    return list({record.key: record for record in records}.values())


def run_stage(pipeline, args, timeout=6):
    result = run_script(*args, "--timeout", timeout, bootstrap=pipeline.bootstrap, timeout=240)
    assert result.returncode == 0, result
    assert "Traceback" not in result.stderr, result
    return result


def batches(lines):
    return [BATCH.match(line).groups() for line in lines if BATCH.match(line)]


def test_both_stages_route_and_count_exactly_once(bootstrap):
    pipeline = Pipeline(bootstrap)
    # Two copies of route_users.py share the three partitions of Users; both are in the group before any user.
    routes = [start_stage(pipeline, pipeline.route_args()) for _ in range(2)]
    try:
        wait_until(lambda: sorted(owned(routes[0]) + owned(routes[1])) == [0, 1, 2]
                   and owned(routes[0]) and owned(routes[1]), "the two copies split the partitions", routes)
        pipeline.send_users(10_000)
        pipeline.send_bad()
        pipeline.send_users(10_000)
        wait_until(lambda: sum(int(b[0]) for r in routes for b in batches(r.lines)) >= 20_050,
                   "the copies' committed batches hold every record", routes)
    finally:
        stopped = stop(*routes)
    assert_clean_exit(stopped)
    done = [batches(route.lines) for route in routes]
    assert all(done) and all(outcome == "committed" for b in done for *_, outcome in b), stopped
    assert sum(int(b[0]) for b in done[0] + done[1]) == 20_050, "no batch committed twice: " + str(stopped)
    assert sum(int(b[2]) for b in done[0] + done[1]) == 50, stopped
    summaries = [re.search(r"^Routed ([\d,]+) record\(s\)", route.text, re.M) for route in routes]
    assert sum(int(found[1].replace(",", "")) for found in summaries) == 20_050, stopped
    created = f"Created topic '{pipeline.by_profession}' with 3 partition(s)."
    assert sum(route.lines.count(created) for route in routes) == 1, stopped  # by whichever copy came first

    counted = run_stage(pipeline, pipeline.count_args())
    assert f"Created topic '{pipeline.counts}' with 3 partition(s) (cleanup.policy=compact)." in counted.lines
    assert all(outcome == "committed" for *_, outcome in batches(counted.lines)), counted
    pipeline.assert_exact()


def test_a_new_member_is_given_every_partition_at_its_first_join(bootstrap):
    """helpers.subscribe, as both stages call it, fetches the topic's partitions before the first poll joins.
    Without that, a consumer that subscribed right after it was created joined before kafka-python had the
    topic's metadata (19 times in 20 here), and said it waited as a standby, then got its partitions."""
    topic = unique_name("first-join")
    create_topic(bootstrap, topic, partitions=3)
    for _ in range(3):
        group = unique_name("first-join")
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, **route_users.CONSUMER_CONFIG)
        news = helpers.AssignmentNews(consumer, group, topic)
        try:
            assert helpers.subscribe(consumer, topic, news) == {0, 1, 2}
            deadline = time.monotonic() + 30
            while not news.lines and time.monotonic() < deadline:
                assert consumer.poll(timeout_ms=200) == {}
            assert news.lines == [f"Group '{group}': assigned partitions [0, 1, 2] of topic '{topic}'"]
        finally:
            consumer.close()


def test_count_professions_refuses_topics_that_are_not_co_partitioned_or_not_compacted(bootstrap):
    pipeline = Pipeline(bootstrap)
    create_topic(bootstrap, pipeline.by_profession, partitions=3)
    create_topic(bootstrap, pipeline.counts, partitions=2, configs={"cleanup.policy": "compact"})
    wrong_count = run_script(*pipeline.count_args(), bootstrap=bootstrap)
    assert wrong_count.returncode == 2 and wrong_count.err_lines == [
        f"error: topic '{pipeline.counts}' has 2 partition(s) but its input has 3: they must be co-partitioned "
        f"(partition p of one holds the keys of partition p of the other); delete it or choose another name"], \
        wrong_count
    not_compacted = unique_name("counts")
    create_topic(bootstrap, not_compacted, partitions=3)
    refused = run_script(*pipeline.count_args("--output", not_compacted), bootstrap=bootstrap)
    assert refused.returncode == 2 and len(refused.err_lines) == 1, refused
    assert f"topic '{not_compacted}' is not compacted (cleanup.policy=delete)" in refused.err_lines[0], refused


def start_stage(pipeline, args, **env):
    return start_script(*args, env=script_env(pipeline.bootstrap, **env))


def owned(stage):
    """The partitions a running stage last said it owns (none while a rebalance it announced is under way)."""
    partitions = []
    for line in stage.text.splitlines():
        found = ASSIGNED.match(line)
        if found:
            partitions = [int(p) for p in found[1].split(",") if p.strip()]
        elif ": rebalancing, partitions" in line:
            partitions = []
    return partitions


def wait_until(condition, what, stages, timeout=120):
    """Check the stages' output until the condition holds (their new lines are the events waited for)."""
    deadline = time.monotonic() + timeout
    while not condition():
        outputs = "\n---\n".join(stage.text for stage in stages)
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}\n{outputs}"
        assert all(stage.process.poll() is None for stage in stages), f"a stage exited:\n{outputs}"
        time.sleep(0.1)


def stop(*stages):
    """Ctrl-C each stage that still runs; [(exit code, output)]."""
    return [(stage.interrupt(timeout=60) if stage.process.poll() is None else stage.wait(), stage.text)
            for stage in stages]


def assert_clean_exit(stopped):
    for code, text in stopped:
        assert code == 0 and "Traceback" not in text, text
        assert re.search(r"^(Routed|Counted) [\d,]+ .* Stopped by Ctrl-C\.$", text, re.M), text


def test_restore_the_counts_continue_after_a_restart(bootstrap):
    pipeline = Pipeline(bootstrap)
    pipeline.send_users(3000)
    run_stage(pipeline, pipeline.route_args(), timeout=4)
    first = run_stage(pipeline, pipeline.count_args(), timeout=4)
    assert "Restored 0 count(s) for partitions [0, 1, 2]" in first.stdout, first
    pipeline.assert_exact()

    pipeline.send_users(2000)  # while count_professions.py is stopped
    run_stage(pipeline, pipeline.route_args(), timeout=4)
    again = run_stage(pipeline, pipeline.count_args(), timeout=4)
    assert "Restored 12 count(s) for partitions [0, 1, 2]" in again.stdout, again
    assert sum(int(b[0]) for b in batches(again.lines)) == 2000, "only the new users are read again"
    pipeline.assert_exact()  # the counts of all 5,000 users: they continued from the restored ones


@pytest.mark.slow
def test_each_stage_killed_three_times_at_random_moments_still_exact(bootstrap):
    pipeline = Pipeline(bootstrap)
    pipeline.send_bad()
    pipeline.send_users(4000)
    route = start_stage(pipeline, pipeline.route_args())
    route.wait_for(r"^Batch: ", timeout=90)  # route_users.py has created count_professions.py's input
    count = start_stage(pipeline, pipeline.count_args())
    try:
        for _round in range(3):
            for which in ("route", "count"):
                stage = route if which == "route" else count
                pipeline.send_users(2000)  # work for the stage while it is killed
                stage.wait_for(r"^Batch: ", timeout=90, count=stage.count(r"^Batch: ") + 1)
                time.sleep(random.uniform(0, 1.5))  # a random moment while batches flow
                stage.process.kill()  # SIGKILL: no cleanup at all
                stage.wait(10)
                pipeline.send_users(2000)
                args = pipeline.route_args() if which == "route" else pipeline.count_args()
                restarted = start_stage(pipeline, args)
                # The settings promise a restart after kill -9 resumes within 30 s, start-up included (session,
                # rebalance and transaction timeouts); the first committed batch proves it.
                restarted.wait_for(r"^Batch: .* committed$", timeout=30)
                route, count = (restarted, count) if which == "route" else (route, restarted)
        counts = pipeline.wait_for_counts(len(pipeline.good), timeout=180)
        assert sum(counts.values()) == len(pipeline.good), counts
    finally:
        stopped = stop(route, count)
    assert_clean_exit(stopped)
    pipeline.assert_exact()


@pytest.mark.slow
def test_a_stalled_copy_is_fenced_and_rejoins(bootstrap):
    pipeline = Pipeline(bootstrap)
    pipeline.send_users(6000)
    run_stage(pipeline, pipeline.route_args(), timeout=4)
    stalled = start_stage(pipeline, pipeline.count_args(), KIT_TEST_PAUSE_BEFORE_COMMIT=2)
    stalled.wait_for(r"^Group .*: assigned partitions \[0, 1, 2\]", timeout=60)
    stalled.wait_for(PAUSED, timeout=60)
    stalled.signal(signal.SIGSTOP)  # in the middle of a transaction, past its session timeout (10 s)
    other = start_stage(pipeline, pipeline.count_args())
    try:
        other.wait_for(r"^Group .*: assigned partitions \[0, 1, 2\]", timeout=60)
        stalled.signal(signal.SIGCONT)
        fenced = stalled.wait_for(r"^Transaction failed", timeout=60)
        print("the stalled copy said:\n" + stalled.text)
        assert re.match(r"^Transaction failed \(\w+: .*\): (aborted|fenced, a new producer takes over); reading "
                        r"again from the committed offsets$", fenced), fenced
        stalled.wait_for(r"^Group .*: assigned partitions", timeout=60, count=2)  # it rejoined the group
        counts = pipeline.wait_for_counts(len(pipeline.good), timeout=120)
        assert sum(counts.values()) == len(pipeline.good), counts
    finally:
        stalled.signal(signal.SIGCONT)
        stopped = stop(stalled, other)
    assert_clean_exit(stopped)
    pipeline.assert_exact()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["exactly-once", "at-least-once"])
def test_kill_9_between_the_sends_and_the_commit(bootstrap, mode):
    """The same kill in both modes: exact with transactions, too high without (the batch is counted twice).

    Both modes get the same users (one seed), so their counts can be compared: the chapter shows one run's.
    """
    pipeline = Pipeline(bootstrap, seed=19)
    pipeline.send_users(3000)
    run_stage(pipeline, pipeline.route_args(), timeout=4)
    extra = ["--at-least-once"] if mode == "at-least-once" else []
    doomed = start_stage(pipeline, pipeline.count_args(*extra), KIT_TEST_PAUSE_BEFORE_COMMIT=60)
    doomed.wait_for(PAUSED, timeout=60)  # its first batch's counts are sent (and flushed), the offsets are not
    doomed.kill()
    again = run_stage(pipeline, pipeline.count_args(*extra))
    # The killed copy's transaction stays open until the broker aborts it (transaction_timeout_ms, 10 s, and
    # the broker's check every 10 s): until then read_committed readers see only what came before it.
    counts, truth = pipeline.wait_for_counts(len(pipeline.good), timeout=60), pipeline.true_counts()
    print(f"{mode}: truth {sorted(truth.items())}\n{mode}: counts {sorted(counts.items())}\n{mode}: {again.lines[-1]}")
    if mode == "exactly-once":
        assert counts == truth, again
        pipeline.assert_exact()
    else:
        assert all(counts[p] >= truth[p] for p in truth), (counts, truth)
        assert sum(counts.values()) > sum(truth.values()), "the batch before the kill is counted twice"
        assert [b[3] for b in batches(again.lines)] == ["offsets committed"] * len(batches(again.lines))


@pytest.fixture
def own_broker(stack_factory):
    """A broker of the test's own, to stop and start: the session's broker is shared with other tests."""
    # One partition for each internal topic (50 by default): the first transaction, and their reload after the
    # restart, are quicker.
    stack = stack_factory.start(extra_properties={"offsets.topic.num.partitions": 1,
                                                  "transaction.state.log.num.partitions": 1})
    yield stack
    stack.stop()


@pytest.mark.slow
def test_both_stages_survive_a_broker_restart_mid_transaction(own_broker):
    pipeline = Pipeline(own_broker.bootstrap)
    pipeline.send_bad()
    pipeline.send_users(1000)
    run_stage(pipeline, pipeline.route_args("--max-messages", 1050))  # input for count_professions.py
    pipeline.send_users(1000)
    # Each stage pauses in its first batch with its transaction open (records sent, offsets not committed),
    # and the broker stops meanwhile: the commit reaches a broker that is going away or gone.
    route = start_stage(pipeline, pipeline.route_args(), KIT_TEST_PAUSE_BEFORE_COMMIT=1)
    count = start_stage(pipeline, pipeline.count_args(), KIT_TEST_PAUSE_BEFORE_COMMIT=1)
    try:
        route.wait_for(PAUSED, timeout=60)
        count.wait_for(PAUSED, timeout=60)
        own_broker.stop_broker(0)
        process, log = own_broker.start_broker(0)
        own_broker.wait_for_broker(process, log, 0)
        pipeline.send_users(1000)  # after the restart: the stages go on by themselves
        counts = pipeline.wait_for_counts(len(pipeline.good), timeout=90)
        assert sum(counts.values()) == len(pipeline.good), (counts, route.text, count.text)
        print(f"route_users.py said:\n{route.text}\ncount_professions.py said:\n{count.text}")
    finally:
        stopped = stop(route, count)
    assert_clean_exit(stopped)
    pipeline.assert_exact()
