"""Checks, over the raw NATS protocol, what the multi-site store design relies on in a
nats-server >= 2.12: per-message Nats-Expected-Last-Subject-Sequence inside an atomic batch
(one failing stores none), and per-message TTL claims (Nats-TTL) that expire and can be taken
again. Exits non-zero if any expectation fails.

    nats-server -js -sd "$(mktemp -d)" -a 127.0.0.1 -p 4333 &
    python3 proto/nats-batch-check.py 4333
"""
import json
import socket
import sys
import time
import uuid

sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
reader = sock.makefile("rb")
requests = 0


def line():
    return reader.readline().decode().rstrip("\r\n")


def read_msg():
    while True:
        current = line()
        if current == "PING":
            sock.sendall(b"PONG\r\n")
        elif current.startswith("HMSG") or current.startswith("MSG"):
            parts = current.split()
            total = int(parts[-1])
            data = reader.read(total + 2)[:total]
            header_len = int(parts[-2]) if current.startswith("HMSG") else 0
            return data[header_len:].decode()


def frame(subject, payload, headers, reply=None):
    target = f"{subject} {reply}" if reply else subject
    body = payload.encode()
    if not headers:
        return f"PUB {target} {len(body)}\r\n".encode() + body + b"\r\n"
    head = ("NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    return f"HPUB {target} {len(head)} {len(head) + len(body)}\r\n".encode() + head + body + b"\r\n"


def request(subject, payload, headers=None):
    global requests
    requests += 1
    sock.sendall(frame(subject, payload, headers, f"_INBOX.check.{requests}"))
    return json.loads(read_msg())


def batch(messages):
    """Publishes (subject, expected last subject sequence, extra headers) as one atomic batch."""
    batch_id = uuid.uuid4().hex[:16]
    for number, (subject, expected, extra) in enumerate(messages, 1):
        headers = {"Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(number),
                   "Nats-Expected-Last-Subject-Sequence": str(expected), **extra}
        if number == len(messages):
            headers["Nats-Batch-Commit"] = "1"
            return request(subject, "x", headers)
        sock.sendall(frame(subject, "x", headers))


def last_seq(subject):
    answer = request("$JS.API.STREAM.MSG.GET.CHECK", json.dumps({"last_by_subj": subject}))
    return answer.get("message", {}).get("seq", 0)


def expect(what, ok):
    print(("ok    " if ok else "FAILED ") + what)
    if not ok:
        sys.exit(1)


line()
sock.sendall(b'CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\nSUB _INBOX.check.* 1\r\n')
created = request("$JS.API.STREAM.CREATE.CHECK", json.dumps({
    "name": "CHECK", "subjects": ["t.>"], "storage": "memory", "num_replicas": 1,
    "max_msgs_per_subject": 1, "allow_atomic": True, "allow_msg_ttl": True}))
expect("stream with allow_atomic and allow_msg_ttl", created.get("config", {}).get("allow_atomic") is True)

expect("a batch of two new keys commits", batch([("t.a", 0, {}), ("t.b", 0, {})]).get("count") == 2)
failed = batch([("t.c", 0, {}), ("t.a", 0, {})])
expect("a stale expectation on the last message fails the batch",
       failed.get("error", {}).get("err_code") == 10071)
expect("... and stores none of it", last_seq("t.c") == 0)
failed = batch([("t.b", 99, {}), ("t.e", 0, {})])
expect("a stale expectation on the first message fails the batch",
       failed.get("error", {}).get("err_code") == 10071 and last_seq("t.e") == 0)
committed = batch([("t.a", last_seq("t.a"), {}), ("t.d", 0, {"Nats-TTL": "1s"})])
expect("the current sequence and a TTL claim commit", committed.get("count") == 2)
expect("no sequence was consumed by the failed batches", committed.get("seq") == 4)
time.sleep(2.5)
expect("the TTL claim is gone after its TTL", last_seq("t.d") == 0)
expect("and can be claimed again", batch([("t.d", 0, {"Nats-TTL": "1s"})]).get("count") == 1)
