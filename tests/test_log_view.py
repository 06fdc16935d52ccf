"""log_view.py in a real browser (Chromium driven by Playwright), while the kit's scripts change the log.

Each test starts its own log_view.py on a free port (--port 0) for its own topic and groups, so the tests can
run in parallel. Without a Chromium the browser tests skip with one line that says how to get one; in CI
(CI=true) they fail instead, so CI never passes with them skipped. The error paths need no browser.
"""

import os
import re
import socket
import struct
import time
from datetime import datetime

import chromium
import local_kafka
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, OffsetAndMetadata, TopicPartition
from support import REPO, create_topic, produce_raw, run_script, script_env, start_script, unique_name
from test_watch_lag import table_rows

SCREENSHOTS = REPO / "docs" / "images"
SHOT_SIZE = {"width": 1100, "height": 620}


@pytest.fixture(scope="module")
def browser():
    why = chromium.missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs every browser test: {why}")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = chromium.launch(playwright)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=SHOT_SIZE, locale="en-US")
    opened = context.new_page()
    opened.set_default_timeout(15000)
    opened.errors = []
    opened.on("pageerror", lambda error: opened.errors.append(str(error)))
    yield opened
    context.close()
    assert not opened.errors, f"the page's JavaScript failed: {opened.errors}"


class LogView:
    """log_view.py running in the background, and the address it printed."""

    def __init__(self, bootstrap, topic, *args):
        self.process = start_script("log_view.py", "--topic", topic, "--port", 0, *args, bootstrap=bootstrap)
        self.url = re.search(r"Open (http://127\.0\.0\.1:\d+/) in your browser",
                             self.process.wait_for(r"^Open http://", timeout=30)).group(1)

    def stop(self):
        assert self.process.interrupt() == 0, self.process.text


@pytest.fixture
def log_view(bootstrap):
    started = []

    def start(topic, *args, bootstrap=bootstrap):
        view = LogView(bootstrap, topic, *args)
        started.append(view)
        return view

    yield start
    for view in started:
        view.process.kill()


def cell(page, partition, offset, kind="record"):
    return page.locator(f'.cell[data-partition="{partition}"][data-offset="{offset}"][data-kind="{kind}"]')


def group_box(page, group):
    return page.locator(f'article.group[data-group="{group}"]')


def page_lags(page, group):
    """{partition: (committed, lag)} as the group's lanes on the page show them, where it has committed."""
    return {p: tuple(v) for p, v in page.evaluate("""group => Object.fromEntries([...document.querySelectorAll('.lane')]
        .filter(lane => lane.dataset.group === group && lane.dataset.committed !== '')
        .map(lane => [lane.dataset.partition, [Number(lane.dataset.committed),
                                               Number(lane.querySelector('.lag').dataset.lag)]]))""", group).items()}


def marker_offsets(page, group):
    """{partition: the offset of the cell the group's marker stands under}."""
    return page.evaluate("""group => Object.fromEntries([...document.querySelectorAll('.lane')]
        .filter(lane => lane.dataset.group === group).map(lane => {
            const slots = [...lane.querySelectorAll('.slot')];
            const at = slots.findIndex(slot => slot.classList.contains('marker'));
            const cells = lane.parentElement.querySelectorAll('.cells .cell');
            return [lane.dataset.partition, at < 0 ? null : Number(cells[at].dataset.offset)];
        }).filter(([partition, offset]) => offset !== null))""", group)


def lag_chart(page, group):
    """The heights of the points of the group's lag chart, oldest first: the more lag, the higher the point."""
    points = group_box(page, group).locator("svg.lag-chart polyline").get_attribute("points")
    height = float(group_box(page, group).locator("svg.lag-chart").get_attribute("height"))
    return [height - float(point.split(",")[1]) for point in points.split()]


def sent_to(result):
    """(partition, offset) from producer.py's 'Sent' line."""
    assert result.returncode == 0, result
    found = re.search(r"^Sent  topic \S+  partition (\d+) +offset (\d+)", result.stdout, re.M)
    return int(found.group(1)), int(found.group(2))


def test_a_record_produced_appears_in_its_row_at_its_offset_within_a_second(bootstrap, log_view, page):
    topic = create_topic(bootstrap, unique_name("view-rows"), partitions=3)
    view = log_view(topic)
    page.goto(view.url)
    page.wait_for_selector('.partition[data-partition="2"]')
    assert page.locator(".partition").count() == 3
    # The rows come first; their leaders with the first answer of the admin client, which a busy machine slows.
    page.locator('.partition[data-partition="0"] .row-head').filter(has_text="leader broker 0").wait_for()

    sent = []
    for name in ("Lin", "Ana", "Lin"):
        before = time.time()
        partition, offset = sent_to(run_script("producer.py", "--topic", topic, "--name", name, bootstrap=bootstrap))
        sent.append((partition, offset, before, time.time()))
        shown = cell(page, partition, offset)
        shown.wait_for(timeout=1000)  # the record was acknowledged before producer.py exited
        assert shown.locator(".key").inner_text() == name
    lins = page.locator(".cell[data-kind=record]").filter(has_text="Lin")
    assert lins.count() == 2
    assert len({lins.nth(i).get_attribute("data-partition") for i in range(2)}) == 1, "one key, one partition"
    assert len({lins.nth(i).evaluate("e => e.style.backgroundColor") for i in range(2)}) == 1, "one key, one colour"

    lins.first.click()
    details = page.locator("#details")
    partition, offset, before, after = sent[0]  # the first Lin: the leftmost of the two
    assert details.locator("h3").inner_text() == f"partition {partition} · offset {offset}"
    stamped = datetime.fromisoformat(details.locator(".detail-time").inner_text()).timestamp()
    assert before - 0.001 <= stamped <= after, "the timestamp producer.py gave the record as it sent it"
    assert details.locator(".detail-key").inner_text() == "Lin"
    assert '"name": "Lin"' in details.locator(".detail-value").inner_text()

    page.click("#languages button[data-lang='zh-CN']")
    assert page.locator('.partition[data-partition="0"] .row-head').inner_text().startswith("分区 0")
    chinese = page.context.browser.new_context(locale="zh-CN")
    try:
        in_chinese = chinese.new_page()
        in_chinese.goto(view.url)
        in_chinese.wait_for_selector(".partition")
        assert in_chinese.locator("h1").inner_text().startswith("看见日志")
        in_chinese.click("#languages button[data-lang='en']")
        assert in_chinese.locator("h1").inner_text().startswith("See the log")
    finally:
        chinese.close()
    view.stop()
    assert not [line for line in view.process.lines if "GET /" in line], "no request log in the terminal"


def test_a_second_consumer_in_the_group_shows_the_assignment_move(bootstrap, log_view, page):
    topic = create_topic(bootstrap, unique_name("view-move"), partitions=2)
    group = unique_name("view-move")
    view = log_view(topic)
    page.goto(view.url)
    page.wait_for_selector(".partition")
    first = start_script("consumer.py", "--topic", topic, "--group", group, bootstrap=bootstrap)
    second = None
    try:
        # Each member shows within 1 s of its consumer.py saying it has joined (the groups are read every 0.5 s).
        first.wait_for(r"assigned partitions \[0, 1\]")
        members = group_box(page, group).locator("li.member")
        page.wait_for_function("""group => { const box = [...document.querySelectorAll('article.group')]
            .find(b => b.dataset.group === group); return box && box.querySelectorAll('li.member').length === 1
            && box.querySelector('li.member').dataset.partitions === '0,1'; }""", arg=group, timeout=1000)
        second = start_script("consumer.py", "--topic", topic, "--group", group, bootstrap=bootstrap)
        second.wait_for(r"assigned partitions \[\d\]")  # after the first has given up a partition: a rebalance
        page.wait_for_function("""group => { const box = [...document.querySelectorAll('article.group')]
            .find(b => b.dataset.group === group);
            return box && [...box.querySelectorAll('li.member')].map(m => m.dataset.partitions).sort().join() === '0,1'
            && box.classList.contains('changed'); }""", arg=group, timeout=1000)
        assert members.count() == 2
        change = group_box(page, group).locator("li.change").first.inner_text()
        assert "1 joined" in change and "now 2 member(s)" in change, change
    finally:
        first.interrupt()
        if second:
            second.interrupt()


def test_a_commit_moves_the_marker_within_a_second_the_lag_equals_watch_lag_and_the_chart_follows(
        bootstrap, log_view, page):
    topic = create_topic(bootstrap, unique_name("view-lag"), partitions=2)
    group = unique_name("view-lag")
    assert run_script("bulk_producer.py", "--topic", topic, "--count", 30, bootstrap=bootstrap).returncode == 0
    view = log_view(topic)
    page.goto(view.url)
    page.wait_for_selector(".partition")
    markers = {}

    def read_and_commit(count, total_read):
        consumed = run_script("consumer.py", "--topic", topic, "--group", group, "--max-messages", count,
                              bootstrap=bootstrap)
        assert consumed.returncode == 0, consumed
        # consumer.py has committed when it exits: the markers move within 1 s (the groups are read every 0.5 s).
        page.wait_for_function("""([group, read]) => [...document.querySelectorAll('.lane')]
            .filter(lane => lane.dataset.group === group).reduce((sum, lane) => sum + Number(lane.dataset.committed), 0)
            === read""", arg=[group, total_read], timeout=1000)
        watched = run_script("watch_lag.py", "--topic", topic, "--group", group, bootstrap=bootstrap)
        rows = table_rows(watched.stdout)  # only the partitions the group has committed on, and the total
        shown = page_lags(page, group)
        assert shown == {p: (rows[p][1], rows[p][2]) for p in rows if p != "total"}, watched
        assert rows["total"][1] == total_read
        assert group_box(page, group).locator(".total-lag").get_attribute("data-lag") == str(rows["total"][2])
        moved = marker_offsets(page, group)
        assert moved == {p: committed for p, (committed, _) in shown.items()}, "each marker stands at its offset"
        assert moved != markers, "the commit moved a marker"
        markers.update(moved)
        return rows["total"][2]

    assert read_and_commit(10, 10) == 20
    chart = lag_chart(page, group)
    assert chart, "the group's lag chart is drawn"
    # Nobody reads while 6 more records come: the lag grows, and the chart's line rises.
    produce_raw(bootstrap, topic, [b'{"name": "More"}'] * 6)
    page.wait_for_function("group => [...document.querySelectorAll('article.group')].some(b => b.dataset.group"
                           " === group && b.querySelector('.total-lag').dataset.lag === '26')", arg=group)
    grown = lag_chart(page, group)
    assert len(grown) > len(chart) and grown[-1] > grown[len(chart) - 1], ("the line rose with the lag", grown)
    assert read_and_commit(12, 22) == 14
    shrunk = lag_chart(page, group)
    assert len(shrunk) > len(grown) and shrunk[-1] < shrunk[len(grown) - 1], ("the line fell with the lag", shrunk)


def kinds_in_row(page, partition):
    """[(offset, kind)] of a partition's row, left to right."""
    return [(int(offset), kind) for offset, kind in page.locator(f'.cell[data-partition="{partition}"]').evaluate_all(
        "cells => cells.map(c => [c.dataset.offset, c.dataset.kind])")]


def test_aborted_and_deleted_records_are_drawn_as_such(bootstrap, log_view, page):
    topic = create_topic(bootstrap, unique_name("view-txn"))
    view = log_view(topic)
    page.goto(view.url)
    aborted = run_script("transactional_producer.py", "--topic", topic, "--count", 3, "--abort", bootstrap=bootstrap)
    assert aborted.returncode == 0, aborted
    assert run_script("transactional_producer.py", "--topic", topic, "--count", 2, bootstrap=bootstrap).returncode == 0
    cell(page, 0, 7, "end").wait_for()
    for offset in (0, 1, 2):
        cell(page, 0, offset, "aborted").wait_for()
    for offset in (4, 5):
        assert cell(page, 0, offset).count() == 1, "committed records are drawn as records"
    for marker in (3, 6):  # each transaction ends with a marker: an offset no consumer sees
        gap = cell(page, 0, marker, "gap")
        assert gap.count() == 1 and "transaction marker" in gap.get_attribute("title")
    cell(page, 0, 1, "aborted").click()
    assert "aborted" in page.locator("#details .detail-aborted").inner_text()

    # Records deleted from the start of the log, as retention does: one crossed-out slot, neither hidden nor records.
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_records({TopicPartition(topic, 0): 5})
    finally:
        admin.close()
    expected = [(0, "deleted"), (5, "record"), (6, "gap"), (7, "end")]
    cell(page, 0, 0, "deleted").wait_for()
    assert kinds_in_row(page, 0) == expected
    deleted = cell(page, 0, 0, "deleted")
    assert deleted.get_attribute("data-to") == "4" and "before the log start offset 5" in deleted.get_attribute("title")
    page.goto(log_view(topic).url)  # a page started after the deletion draws them alike
    # Its row knows the log's start and end at once and fills in as its reader reaches them: the marker at
    # offset 6 is the last cell drawn (seen in CI, a row of only [deleted, end] when the end was waited for).
    cell(page, 0, 6, "gap").wait_for()
    assert kinds_in_row(page, 0) == expected


def test_hostile_keys_values_and_group_names_are_shown_as_text_and_run_nothing(bootstrap, log_view, page):
    topic = create_topic(bootstrap, unique_name("view-hostile"))
    key = '<img src=x onerror="alert(1)">'
    value = '<script>alert(2)</script><b onmouseover=alert(3)>bold</b>{{7*7}}${alert(4)}'
    group = f'<b>g</b>"\'&<script>alert(5)</script> 组 {unique_name("odd")}'
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    view = log_view(topic)
    page.goto(view.url)
    page.wait_for_selector(".partition")
    elements = page.evaluate("() => document.querySelectorAll('*').length")
    produce_raw(bootstrap, topic, [value.encode(), None, "\ufffd\u202e".encode() + b"\xff"],
                keys=[key.encode(), key.encode(), None])
    reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        reader.commit({TopicPartition(topic, 0): OffsetAndMetadata(1, "", -1)})
    finally:
        reader.close()
    hostile = cell(page, 0, 0)
    hostile.wait_for()
    page.locator(".cell[data-kind=tombstone]").wait_for()
    page.wait_for_function("group => [...document.querySelectorAll('article.group .name')]"
                           ".some(n => n.textContent === group)", arg=group)
    assert hostile.locator(".key").inner_text() == key
    hostile.hover()
    hostile.click()
    assert page.locator("#details .detail-value").inner_text() == value
    assert page.locator("#details .detail-key").inner_text() == key
    page.locator(".cell[data-kind=tombstone]").click()
    assert "tombstone" in page.locator("#details .detail-tombstone").inner_text()
    page.wait_for_timeout(300)  # a handler would have fired by now
    assert dialogs == []
    assert page.evaluate("() => document.querySelectorAll('img, b, iframe, object').length") == 0
    assert page.evaluate("() => [...document.scripts].map(s => s.getAttribute('src'))") == ["/page.js"]
    # No element of the data's own: the page grew by its cells, lane and group box, all of the page's kinds.
    kinds = page.evaluate("() => [...new Set([...document.querySelectorAll('body *')].map(e => e.tagName))]")
    assert set(kinds) <= {"HEADER", "H1", "SPAN", "P", "NAV", "BUTTON", "DIV", "MAIN", "SECTION", "ASIDE", "H2", "H3",
                          "STRONG", "PRE", "UL", "LI", "ARTICLE", "FOOTER", "svg", "polyline", "text"}, kinds
    assert page.evaluate("() => document.querySelectorAll('*').length") > elements


@pytest.mark.slow
def test_a_broker_restart_shows_the_banner_then_recovers(stack_factory, log_view, page):
    stack = stack_factory.start(auto_create=True)  # a broker that would create any topic asked for
    topic = create_topic(stack.bootstrap, unique_name("view-restart"))
    missing = run_script("log_view.py", "--topic", "no-such-topic", "--port", 0, bootstrap=stack.bootstrap)
    assert missing.returncode == 1 and "topic 'no-such-topic' does not exist" in missing.stderr, missing
    admin = KafkaAdminClient(bootstrap_servers=stack.bootstrap)
    try:
        assert "no-such-topic" not in admin.list_topics(), "log_view.py never creates a topic"
    finally:
        admin.close()

    view = log_view(topic, bootstrap=stack.bootstrap)
    page.goto(view.url)
    page.wait_for_selector(".partition")
    no_group_on(stack.bootstrap)
    banner = page.locator("#banner")
    assert banner.is_hidden()
    stack.stop_broker(0)
    banner.wait_for(state="visible", timeout=20000)
    assert banner.inner_text() == f"cannot reach Kafka at {stack.bootstrap}: retrying"
    stack.start()
    banner.wait_for(state="hidden", timeout=60000)
    partition, offset = sent_to(run_script("producer.py", "--topic", topic, "--name", "Back",
                                           bootstrap=stack.bootstrap))
    cell(page, partition, offset).wait_for(timeout=10000)
    no_group_on(stack.bootstrap)  # nor when it reads again after the restart


def no_group_on(bootstrap):
    """log_view.py reads with assign() and seek(): no consumer group exists on a broker where only it reads."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        assert admin.list_groups() == [], "log_view.py joined a group"
    finally:
        admin.close()


def free_port():
    return local_kafka.free_port()


@pytest.mark.parametrize("case", ["unknown topic", "port in use", "no broker", "password, no broker"])
def test_errors_are_one_line_and_a_nonzero_exit_within_five_seconds(case, bootstrap, topic):
    args, env, holder = ["--topic", topic, "--port", 0], script_env(bootstrap), None
    if case == "unknown topic":
        args[1], expected = "no-such-topic-here", "error: topic 'no-such-topic-here' does not exist at "
    elif case == "port in use":
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        args[3] = holder.getsockname()[1]
        expected = f"error: cannot serve the page on 127.0.0.1:{args[3]}: "
    else:
        env = script_env(f"localhost:{free_port()}")
        expected = f"error: cannot reach Kafka at {env['KAFKA_BOOTSTRAP_SERVERS']}: start it"
        if case.startswith("password"):
            env.update(KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", KAFKA_SASL_USERNAME="learner",
                       KAFKA_SASL_PASSWORD="hunter2-very-secret")
            args += ["--verbose", "--host", "127.0.0.2"]
    try:
        result = run_script("log_view.py", *args, env=env)
    finally:
        if holder:
            holder.close()
    # Within 5 s of the script's own work: what merely starting Python and importing kafka-python takes on this
    # (shared, maybe busy) machine right now is not the script's doing.
    start_up = run_script("tests/support.py", env=env).seconds  # imports kafka-python, does nothing
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr and result.seconds - start_up < 5, (result, start_up)
    if case.startswith("password"):  # --verbose: kafka-python's own log lines come first, without the password
        assert "hunter2" not in result.stdout + result.stderr
        assert result.err_lines[-1].startswith(expected), result
        assert result.lines == ["Warning: --host 127.0.0.2 lets other machines open the page and read every record "
                                "of the topic; the page has no login."]
    else:
        assert len(result.err_lines) == 1 and result.err_lines[0].startswith(expected), result


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.mark.slow
def test_screenshots_for_the_docs_are_taken_from_the_live_page(bootstrap, log_view, page):
    """docs/see-the-log.md shows these: a producer sending, two consumers sharing, lag growing then shrinking."""
    topic = create_topic(bootstrap, unique_name("Users"), partitions=3)
    group = unique_name("users-demo")  # of its own: another test's member would rebalance it
    view = log_view(topic, "--records", 24)
    page.goto(view.url)
    page.wait_for_selector('.partition[data-partition="2"]')
    started = time.time()
    shots = {}

    def shoot(name):
        path = SCREENSHOTS / name
        SCREENSHOTS.mkdir(exist_ok=True)
        # The machine taking them may have no Chinese font: the 简体中文 button would show as boxes.
        page.evaluate("() => { document.getElementById('languages').hidden = true; }")
        page.wait_for_timeout(400)  # let the last update land
        page.screenshot(path=str(path))
        shots[name] = path

    for name in ("Ana", "Ben", "Lin", "Mei", "Ana"):
        sent_to(run_script("producer.py", "--topic", topic, "--name", name, bootstrap=bootstrap))
    assert run_script("bulk_producer.py", "--topic", topic, "--count", 12, bootstrap=bootstrap).returncode == 0
    page.wait_for_function("() => document.querySelectorAll('.cell[data-kind=record]').length === 17")
    page.locator(".cell[data-kind=record]").first.hover()  # its details show beside the rows
    shoot("log-view-records.png")

    consumers = [start_script("consumer.py", "--topic", topic, "--group", group, bootstrap=bootstrap)]
    try:
        consumers[0].wait_for(r"assigned partitions \[0, 1, 2\]")
        consumers.append(start_script("consumer.py", "--topic", topic, "--group", group, bootstrap=bootstrap))
        consumers[1].wait_for(r"assigned partitions \[")
        page.wait_for_function("group => [...document.querySelectorAll('article.group')].some(b => b.dataset.group"
                               " === group && b.querySelectorAll('li.member').length === 2 && "
                               "b.querySelector('.total-lag').dataset.lag === '0')", arg=group, timeout=30000)
        shoot("log-view-two-consumers.png")
    finally:
        for consumer in consumers:
            consumer.interrupt()
    for _ in range(3):  # nobody reads: the lag grows with every batch
        assert run_script("bulk_producer.py", "--topic", topic, "--count", 15, bootstrap=bootstrap).returncode == 0
        page.wait_for_timeout(700)
    catch_up = run_script("consumer.py", "--topic", topic, "--group", group, "--timeout", 2, bootstrap=bootstrap)
    assert catch_up.returncode == 0 and "Received 45 records" in catch_up.stdout, catch_up
    page.wait_for_function("group => [...document.querySelectorAll('article.group')].some(b => b.dataset.group"
                           " === group && b.querySelector('.total-lag').dataset.lag === '0')", arg=group)
    # The page draws the groups anew on every update: find and scroll in one step, or the box found may be gone.
    page.evaluate("group => [...document.querySelectorAll('article.group')].find(b => b.dataset.group === group)"
                  ".scrollIntoView({block: 'nearest'})", group)
    shoot("log-view-lag.png")

    for name, path in shots.items():
        assert path.stat().st_mtime >= started - 1, f"{name} was not written by this run"
        assert png_size(path) == (SHOT_SIZE["width"], SHOT_SIZE["height"]), name
        assert 10_000 < path.stat().st_size < 400_000, (name, path.stat().st_size)
