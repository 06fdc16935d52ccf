"""log_view.py's machinery: what the page is told (TopicLog) and the web server that tells it (PageServer).

The page is kept live with Server-Sent Events, not a WebSocket: the news only flows one way (to the page),
SSE is plain HTTP that Python's standard library serves as it is (a WebSocket needs a handshake and a frame
codec, or a package), and the browser's EventSource reconnects by itself when log_view.py restarts.

Safety: the page is built with textContent only, and the Content-Security-Policy header below lets no inline
script run, so a record's key or value can never become markup or code. Only the bootstrap address is sent
to the page, never a security setting or a password. The request log is off.
"""

import collections
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PAGE_DIR = Path(__file__).resolve().parent / "log_view_page"
PAGE_FILES = {"/": ("index.html", "text/html"), "/page.js": ("page.js", "text/javascript"),
              "/page.css": ("page.css", "text/css")}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
KEY_CHARS, VALUE_CHARS = 200, 2000  # what the page gets of a long key or value
LAG_HISTORY = 600  # lag samples kept per group: 5 minutes at two a second
CHANGES_KEPT = 5
UPDATES_EVERY_SECONDS = 0.05  # at most 20 updates a second to each page
KEEPALIVE_SECONDS = 10


def now_ms():
    return int(time.time() * 1000)


def text_of(data, limit):
    """Bytes as text for the page (invalid UTF-8 shown as U+FFFD), cut at `limit` characters."""
    if data is None:
        return None
    text = data.decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + f"… ({len(data):,} bytes)"


def is_json(data):
    try:
        json.loads(data)
        return True
    except (ValueError, TypeError):
        return False


class TopicLog:
    """The last N records of each partition, the groups on the topic, and the broker's state, as the page sees them."""

    def __init__(self, topic, bootstrap, partitions, keep):
        self.topic, self.bootstrap, self.partitions, self.keep = topic, bootstrap, partitions, keep
        self.records = {p: collections.deque(maxlen=keep) for p in partitions}
        self.seen_by_read_committed = {p: collections.deque(maxlen=2 * keep) for p in partitions}
        self.positions = {p: (0, 0) for p in partitions}
        self.starts = {}
        self.ends, self.oldest, self.leaders = {}, {}, {}
        # Kept for every group seen on the topic, even while it is gone for a moment (a rebalance).
        self.groups, self.lag_history, self.changes, self.settled = {}, {}, {}, {}
        self.reachable, self.down_since = True, None
        self.changed = True
        self.version, self.body = 0, b"{}"
        self.condition = threading.Condition()
        # log_view.py's two threads (records, groups) both write and publish: each holds the lock to do so.
        self.lock = threading.Lock()

    # -- fed by log_view.py's main thread

    def set_starts(self, starts):
        self.starts = starts

    def add_records(self, partition, records):
        kept = [{"offset": r.offset, "timestamp": r.timestamp, "key": text_of(r.key, KEY_CHARS),
                 "value": text_of(r.value, VALUE_CHARS), "json": r.value is not None and is_json(r.value),
                 "bytes": -1 if r.value is None else len(r.value)} for r in records]
        with self.lock:
            self.records[partition].extend(kept)
            self.changed |= bool(records)

    def add_committed(self, partition, offsets):
        with self.lock:
            self.seen_by_read_committed[partition].extend(offsets)
            self.changed |= bool(offsets)

    def set_positions(self, positions):
        with self.lock:
            self.changed |= positions != self.positions
            self.positions = positions

    # -- fed by log_view.py's groups thread (and by set_ends() at the start)

    def set_ends(self, ends, oldest=None):
        with self.lock:
            oldest = oldest or {}
            self.changed |= ends != self.ends or oldest != self.oldest  # the log start moves when records are deleted
            self.ends, self.oldest = ends, oldest

    def set_leaders(self, leaders):
        with self.lock:
            self.changed |= leaders != self.leaders
            self.leaders = leaders

    def set_broker_reachable(self, reachable):
        with self.lock:
            if reachable != self.reachable:
                self.reachable, self.down_since, self.changed = reachable, None if reachable else now_ms(), True

    def set_groups(self, groups):
        with self.lock:
            self._set_groups(groups)

    def _set_groups(self, groups):
        at = now_ms()
        for group_id, group in groups.items():
            lag = {p: self.ends.get(p, 0) - offset for p, offset in group["committed"].items()}
            # As watch_lag.py counts it: a partition the group has not committed on yet is unread from its
            # oldest offset (where the kit's consumers start) to its end.
            unread = sum(end - self.oldest.get(p, 0) for p, end in self.ends.items() if p not in lag)
            group["lag"], group["total_lag"] = lag, sum(lag.values()) + unread
            history = self.lag_history.setdefault(group_id, collections.deque(maxlen=LAG_HISTORY))
            history.append((at, group["total_lag"]))
            # Mid-rebalance a group has no assignment yet: compare settled assignments only.
            if group["state"] in ("Stable", "Empty"):
                before, after = self.settled.get(group_id), assignment(group)
                if before is not None and before != after:
                    self.note_change(group_id, before, after, at)
                self.settled[group_id] = after
        self.changed |= groups != self.groups
        self.changed |= bool(groups)  # the lag charts move on
        self.groups = groups

    def note_change(self, group_id, before, after, at):
        old, new = {member for member, _ in before}, {member for member, _ in after}
        change = {"at": at, "joined": len(new - old), "left": len(old - new), "members": len(new)}
        self.changes.setdefault(group_id, collections.deque(maxlen=CHANGES_KEPT)).append(change)

    def publish(self):
        """Encode what changed once, for every page that listens. Both threads publish what they changed at once
        (a commit or a member joining need not wait for the next record); under the lock, so the newest wins."""
        with self.lock:
            if not self.changed:
                return
            self.changed = False
            body = json.dumps(self.snapshot(), separators=(",", ":")).encode()  # ASCII: one SSE line
            with self.condition:
                self.version += 1
                self.body = body
                self.condition.notify_all()

    def snapshot(self):
        partitions = []
        for p in self.partitions:
            read_to, committed_read_to = self.positions.get(p, (0, 0))
            visible = set(self.seen_by_read_committed[p])
            # The row starts where the reader started, until older records make room for newer ones.
            kept = self.records[p]
            first = kept[0]["offset"] if len(kept) == self.keep else self.starts.get(p, 0)
            # Offsets before the log start are deleted (retention, delete_records), even those read a moment ago.
            log_start = self.oldest.get(p, 0)
            records = []
            for record in kept:
                if record["offset"] < log_start:
                    continue
                # Skipped by the read_committed reader although it has read past it: an aborted transaction's.
                aborted = record["offset"] < committed_read_to and record["offset"] not in visible
                records.append(dict(record, aborted=aborted))
            partitions.append({"partition": p, "leader": self.leaders.get(p), "first": first, "log_start": log_start,
                               "read_to": read_to, "end": max(self.ends.get(p, 0), read_to), "records": records})
        groups = [{"id": group_id, **group, "history": list(self.lag_history.get(group_id, ())),
                   "changes": list(self.changes.get(group_id, ()))} for group_id, group in sorted(self.groups.items())]
        return {"topic": self.topic, "bootstrap": self.bootstrap, "keep": self.keep, "reachable": self.reachable,
                "down_since": self.down_since, "partitions": partitions, "groups": groups, "sent_at": now_ms()}

    # -- read by the pages' connections

    def wait_for_news(self, seen_version, timeout):
        with self.condition:
            self.condition.wait_for(lambda: self.version != seen_version, timeout=timeout)
            return self.version, self.body


def assignment(group):
    return {(m["id"], tuple(m["partitions"])) for m in group["members"]}


class PageServer(ThreadingHTTPServer):
    """Serves the page's three files and its event stream; binds at once, so a port in use fails at start."""

    daemon_threads = True  # a page left open does not keep Ctrl-C from ending the script

    def __init__(self, host, port):
        self.files = {path: ((PAGE_DIR / name).read_bytes(), kind) for path, (name, kind) in PAGE_FILES.items()}
        self.log = None
        self.thread = None
        super().__init__((host, port), PageRequest)

    @property
    def address(self):
        host, port = self.server_address[:2]
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"

    def serve(self, log):
        self.log = log
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self.thread.start()

    def stop(self):
        if self.thread:
            self.shutdown()
        self.server_close()


class PageRequest(BaseHTTPRequestHandler):
    server_version = "log_view"
    sys_version = ""

    def log_message(self, format, *args):
        pass  # no request log: nothing about the page's visitors or records ends up in the terminal

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/events":
            return self.send_events()
        if path == "/favicon.ico":
            return self.reply(204, b"", "image/x-icon")
        if path not in self.server.files:
            return self.reply(404, b"not found", "text/plain")
        body, kind = self.server.files[path]
        self.reply(200, body, kind)

    def reply(self, status, body, kind):
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_events(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        seen = 0  # version 0 is the empty log before the first publish()
        try:
            self.wfile.write(b"retry: 1000\n\n")  # the browser reconnects after 1 s when log_view.py restarts
            while True:
                version, body = self.server.log.wait_for_news(seen, KEEPALIVE_SECONDS)
                self.wfile.write(b": still here\n\n" if version == seen else b"data: " + body + b"\n\n")
                self.wfile.flush()
                seen = version
                time.sleep(UPDATES_EVERY_SECONDS)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page was closed
