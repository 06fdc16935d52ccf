// log_view.py's page. Record keys, values and group names are untrusted: they only ever reach the page
// through textContent, title and dataset, never innerHTML, so none of them can become markup or run.
"use strict";

const TEXT = {
  "en": {
    title: "See the log", where: (s) => `topic ${s.topic} at ${s.bootstrap}; the last ${s.keep} records of each partition`,
    partition: "partition", leader: (id) => id === null || id === undefined || id < 0 ? "no leader" : `leader broker ${id}`,
    endOffset: (n) => `log end offset ${n} (the next record gets ${n})`,
    hover: "Hover over or click a record to see it.",
    offset: "offset", key: "key", timestamp: "timestamp", value: "value", none: "(none)",
    tombstone: "tombstone: a null value, by convention \"the record with this key was deleted\"",
    aborted: "aborted: written in a transaction that was aborted; read_committed consumers skip it",
    gap: (a, b) => a === b ? `offset ${a}: no record a consumer will see` : `offsets ${a}–${b}: no record a consumer will see`,
    gapWhy: "a transaction marker (commit or abort), or a record removed by compaction",
    deleted: (a, b) => `${a === b ? `offset ${a}` : `offsets ${a}–${b}`}: deleted, before the log start offset ${b + 1} (removed by retention or delete_records); no consumer will see ${a === b ? "it" : "them"}`,
    endCell: "the log end: where the next record goes",
    bytes: (n) => `${n} bytes`, json: "JSON", notJson: "not JSON: shown as text",
    group: "group", state: "state", lag: "lag", totalLag: (n) => `total lag ${n}`,
    committedAt: (n) => `committed ${n}`, older: (n) => `committed ${n} (left of the row)`, nothing: "nothing committed",
    members: (n) => `${n} member(s)`, noMembers: "no member running: the lag can only grow",
    holds: (ps) => ps.length ? `partitions ${ps.join(", ")}` : "no partition (standby)",
    change: (c) => `${c.joined ? c.joined + " joined, " : ""}${c.left ? c.left + " left, " : ""}partitions reassigned: now ${c.members} member(s)`,
    lagChart: "lag over the last minutes",
    banner: (s) => `cannot reach Kafka at ${s.bootstrap}: retrying`,
    lostServer: "lost the connection to log_view.py: retrying",
    legend: "Colour follows the key. Striped: tombstone. Red stripes: aborted. Dashed grey: an offset with no record. Crossed out: deleted, before the log start. Green line: where a group has committed; orange: its lag.",
  },
  "zh-CN": {
    title: "看见日志", where: (s) => `主题 ${s.topic}，位于 ${s.bootstrap}；每个分区最近的 ${s.keep} 条记录`,
    partition: "分区", leader: (id) => id === null || id === undefined || id < 0 ? "无 leader" : `leader 是 broker ${id}`,
    endOffset: (n) => `日志末尾 offset ${n}（下一条记录的 offset 是 ${n}）`,
    hover: "把鼠标移到一条记录上或点击它，查看详情。",
    offset: "offset", key: "key", timestamp: "时间戳", value: "value", none: "（无）",
    tombstone: "墓碑：value 为 null，按惯例表示“这个 key 的记录已删除”",
    aborted: "已中止：写在一个被中止的事务里；read_committed 消费者会跳过它",
    gap: (a, b) => a === b ? `offset ${a}：没有消费者能看到的记录` : `offset ${a}–${b}：没有消费者能看到的记录`,
    gapWhy: "事务标记（提交或中止），或被压缩删除的记录",
    deleted: (a, b) => `offset ${a === b ? a : `${a}–${b}`}：已删除，在日志起始 offset ${b + 1} 之前（被保留策略或 delete_records 删除）；没有消费者能看到它们`,
    endCell: "日志末尾：下一条记录写在这里",
    bytes: (n) => `${n} 字节`, json: "JSON", notJson: "不是 JSON：按文本显示",
    group: "消费者组", state: "状态", lag: "lag", totalLag: (n) => `总 lag ${n}`,
    committedAt: (n) => `已提交 ${n}`, older: (n) => `已提交 ${n}（在这一行左边）`, nothing: "尚未提交",
    members: (n) => `${n} 个成员`, noMembers: "没有成员在运行：lag 只会增长",
    holds: (ps) => ps.length ? `分区 ${ps.join(", ")}` : "没有分区（待命）",
    change: (c) => `${c.joined ? c.joined + " 个加入，" : ""}${c.left ? c.left + " 个离开，" : ""}分区重新分配：现在 ${c.members} 个成员`,
    lagChart: "最近几分钟的 lag",
    banner: (s) => `无法连接 ${s.bootstrap} 上的 Kafka：正在重试`,
    lostServer: "与 log_view.py 的连接断了：正在重试",
    legend: "颜色跟随 key。灰色斜纹：墓碑。红色斜纹：已中止。灰色虚线：这个 offset 没有记录。划掉的：已删除，在日志起始之前。绿线：组提交到的位置；橙色：它的 lag。",
  },
};

let lang = chooseLanguage();
let state = null;
let selected = null; // {partition, offset} of the record whose details are shown
let pinned = false;
const firstSeen = new Map(); // "partition/offset" -> when the page first drew it, for the highlight
let drawnBefore = false; // the records of the first drawing are not highlighted as new

function chooseLanguage() {
  const saved = localStorage.getItem("log-view-language");
  if (saved && TEXT[saved]) return saved;
  return (navigator.languages || [navigator.language || "en"]).some((l) => /^zh/i.test(l)) ? "zh-CN" : "en";
}

function t(name, ...args) {
  const entry = TEXT[lang][name];
  return typeof entry === "function" ? entry(...args) : entry;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function keyColour(key) {
  if (key === null) return "hsl(0, 0%, 85%)";
  let hash = 0;
  for (const ch of key) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `hsl(${hash % 360}, 70%, 78%)`;
}

function setLanguage(name) {
  lang = name;
  localStorage.setItem("log-view-language", name);
  render();
}

function slotsOf(p) {
  // One slot per offset from the row's first offset to where the reader is, runs of empty offsets as one slot.
  // Offsets before the log start are deleted: one slot for all of them (log_view.py sends none of their records).
  const slots = [];
  let next = p.first;
  if (p.log_start > next) {
    slots.push({kind: "deleted", from: next, to: p.log_start - 1});
    next = p.log_start;
  }
  for (const r of p.records) {
    if (r.offset < next) continue;
    if (r.offset > next) slots.push({kind: "gap", from: next, to: r.offset - 1});
    slots.push({kind: r.aborted ? "aborted" : r.value === null ? "tombstone" : "record", from: r.offset, to: r.offset, record: r});
    next = r.offset + 1;
  }
  if (p.read_to > next) slots.push({kind: "gap", from: next, to: p.read_to - 1});
  slots.push({kind: "end", from: p.end, to: p.end});
  return slots;
}

function render() {
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll("[data-text]")) node.textContent = t(node.dataset.text);
  for (const button of document.querySelectorAll("#languages button")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === lang));
  }
  if (!state) return;
  document.title = `${t("title")}: ${state.topic}`;
  document.getElementById("topic").textContent = state.topic;
  document.getElementById("where").textContent = t("where", state);
  const banner = document.getElementById("banner");
  banner.hidden = state.reachable;
  banner.textContent = state.reachable ? "" : t("banner", state);
  renderLog();
  renderGroups();
  showDetails();
}

function renderLog() {
  const log = document.getElementById("log");
  const rows = [];
  const now = Date.now();
  if (firstSeen.size > 20000) { // keep the map bounded on a busy topic
    for (const [id, at] of firstSeen) if (now - at > 5000) firstSeen.delete(id);
  }
  for (const p of state.partitions) {
    const row = el("div", "partition");
    row.dataset.partition = p.partition;
    const head = el("div", "row-head");
    head.append(el("strong", "", `${t("partition")} ${p.partition}`), " · ",
      el("span", "leader", t("leader", p.leader)), " · ", el("span", "end-offset", t("endOffset", p.end)));
    row.append(head);
    const track = el("div", "track"); // scrolls by itself, so a long row never hides a short one
    const cells = el("div", "cells");
    const slots = slotsOf(p);
    for (const slot of slots) cells.append(cellOf(p, slot, now));
    track.append(cells);
    for (const group of state.groups) {
      if (p.partition in group.committed || group.members.some((m) => m.partitions.includes(p.partition))) {
        track.append(laneOf(p, slots, group));
      }
    }
    row.append(track);
    rows.push(row);
  }
  const scrolledBack = new Map(); // partition -> where the reader scrolled its row to, away from the log end
  for (const track of log.querySelectorAll(".track")) {
    if (track.scrollLeft + track.clientWidth < track.scrollWidth - 40) scrolledBack.set(track.parentElement.dataset.partition, track.scrollLeft);
  }
  log.replaceChildren(...rows);
  for (const track of log.querySelectorAll(".track")) { // follow the log end, unless the reader scrolled back
    const back = scrolledBack.get(track.parentElement.dataset.partition);
    track.scrollLeft = back === undefined ? track.scrollWidth : back;
  }
  drawnBefore = true;
}

function cellOf(p, slot, now) {
  const cell = el("div", `slot cell ${slot.kind}`);
  cell.dataset.partition = p.partition;
  cell.dataset.offset = slot.from;
  cell.dataset.kind = slot.kind;
  if (slot.kind === "gap" || slot.kind === "deleted") {
    cell.dataset.to = slot.to;
    cell.append(el("span", "off", slot.from === slot.to ? slot.from : `${slot.from}…`),
      el("span", "key", slot.kind === "gap" ? "∅" : "✕"));
    cell.title = slot.kind === "gap" ? `${t("gap", slot.from, slot.to)}: ${t("gapWhy")}` : t("deleted", slot.from, slot.to);
  } else if (slot.kind === "end") {
    cell.append(el("span", "off", slot.from), el("span", "key", "→"));
    cell.title = t("endCell");
  } else {
    const r = slot.record;
    cell.style.backgroundColor = keyColour(r.key);
    cell.append(el("span", "off", r.offset), el("span", "key", r.key === null ? "–" : r.key));
    cell.title = `${t("offset")} ${r.offset} · ${t("key")} ${r.key === null ? t("none") : r.key}`;
    const id = `${p.partition}/${r.offset}`;
    if (!firstSeen.has(id)) firstSeen.set(id, drawnBefore ? now : 0);
    if (now - firstSeen.get(id) < 1200) cell.classList.add("fresh");
    if (selected && selected.partition === p.partition && selected.offset === r.offset) cell.classList.add("selected");
    cell.addEventListener("mouseenter", () => { if (!pinned) { selected = {partition: p.partition, offset: r.offset}; showDetails(); } });
    cell.addEventListener("click", () => {
      pinned = !(pinned && selected && selected.partition === p.partition && selected.offset === r.offset);
      selected = {partition: p.partition, offset: r.offset};
      render();
    });
  }
  return cell;
}

function laneOf(p, slots, group) {
  const lane = el("div", "lane");
  lane.dataset.group = group.id;
  lane.dataset.partition = p.partition;
  const committed = group.committed[p.partition];
  for (const slot of slots) {
    const s = el("div", "slot");
    if (committed !== undefined) {
      if (slot.to >= committed && slot.kind !== "end") s.classList.add("behind");
      if (slot.from <= committed && committed <= slot.to) s.classList.add("marker");
    }
    lane.append(s);
  }
  if (committed !== undefined && committed < p.first && lane.firstChild) lane.firstChild.classList.add("older");
  const label = el("span", "lane-label");
  label.append(el("span", "name", group.id), " ");
  if (committed === undefined) {
    label.append(t("nothing"));
  } else {
    label.append(committed < p.first ? t("older", committed) : t("committedAt", committed), " · ");
    const lag = el("span", "lag", `${t("lag")} ${group.lag[p.partition]}`);
    lag.dataset.lag = group.lag[p.partition];
    label.append(lag);
  }
  lane.dataset.committed = committed === undefined ? "" : committed;
  lane.append(label);
  return lane;
}

function renderGroups() {
  const boxes = [];
  for (const group of state.groups) {
    const box = el("article", "group");
    box.dataset.group = group.id;
    const title = el("h2");
    title.append(`${t("group")} `, el("span", "name", group.id), ` · ${t("state")} ${group.state} · `);
    const total = el("span", "total-lag", t("totalLag", group.total_lag));
    total.dataset.lag = group.total_lag;
    title.append(total);
    box.append(title);
    box.append(el("p", "", group.members.length ? t("members", group.members.length) : t("noMembers")));
    const members = el("ul", "members");
    for (const m of group.members) {
      const item = el("li", "member", `${m.client} ${m.host} …${m.id.slice(-8)}: ${t("holds", m.partitions)}`);
      item.dataset.partitions = m.partitions.join(",");
      members.append(item);
    }
    box.append(members);
    const last = group.changes.length ? group.changes[group.changes.length - 1].at : 0;
    if (group.changes.length) {
      const changes = el("ul", "changes");
      for (const c of group.changes.slice().reverse()) {
        const item = el("li", "change", `${new Date(c.at).toLocaleTimeString()}: ${t("change", c)}`);
        changes.append(item);
      }
      box.append(changes);
    }
    if (last && state.sent_at - last < 5000) box.classList.add("changed"); // highlighted for 5 s
    box.append(el("p", "", t("lagChart")), chartOf(group.history));
    boxes.push(box);
  }
  document.getElementById("groups").replaceChildren(...boxes);
}

function chartOf(history) {
  const ns = "http://www.w3.org/2000/svg";
  const width = 300, height = 70;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("class", "lag-chart");
  if (history.length) {
    const start = history[0][0], span = Math.max(history[history.length - 1][0] - start, 1);
    const top = Math.max(1, ...history.map((h) => h[1]));
    const points = history.map(([at, lag]) =>
      `${(4 + (at - start) / span * (width - 40)).toFixed(1)},${(height - 6 - lag / top * (height - 16)).toFixed(1)}`);
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", points.join(" "));
    svg.append(line);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", width - 34);
    label.setAttribute("y", 12);
    label.textContent = `max ${top}`;
    svg.append(label);
  }
  return svg;
}

function showDetails() {
  const box = document.getElementById("details");
  if (!state || !selected) return;
  const p = state.partitions.find((x) => x.partition === selected.partition);
  const r = p && p.records.find((x) => x.offset === selected.offset);
  if (!r) return;
  const parts = [el("h3", "", `${t("partition")} ${p.partition} · ${t("offset")} ${r.offset}`)];
  const rows = [[t("key"), r.key === null ? t("none") : r.key], [t("timestamp"), new Date(r.timestamp).toISOString()]];
  for (const [name, value] of rows) {
    const line = el("p");
    line.append(el("strong", "", `${name}: `), el("span", `detail-${name === t("key") ? "key" : "time"}`, value));
    parts.push(line);
  }
  if (r.aborted) parts.push(el("p", "detail-aborted", t("aborted")));
  if (r.value === null) {
    parts.push(el("p", "detail-tombstone", t("tombstone")));
  } else {
    let shown = r.value;
    try {
      if (r.json) shown = JSON.stringify(JSON.parse(r.value), null, 2);
    } catch (error) { /* Python's JSON also accepts NaN: shown as it came */ }
    parts.push(el("p", "", `${t("value")} (${t("bytes", r.bytes)}, ${r.json ? t("json") : t("notJson")}):`));
    parts.push(el("pre", "detail-value", shown));
  }
  box.replaceChildren(...parts);
}

function connect() {
  const events = new EventSource("/events");
  let drawing = false;
  events.onmessage = (message) => {
    state = JSON.parse(message.data);
    if (drawing) return; // a busy browser draws only the newest state, instead of falling behind
    drawing = true;
    requestAnimationFrame(() => { drawing = false; render(); });
  };
  events.onerror = () => {
    const banner = document.getElementById("banner");
    banner.hidden = false;
    banner.textContent = t("lostServer");
  };
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("#languages button")) {
    button.addEventListener("click", () => setLanguage(button.dataset.lang));
  }
  render();
  connect();
});
