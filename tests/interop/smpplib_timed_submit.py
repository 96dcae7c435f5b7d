"""An independent ESME (python smpplib) that submits one MT with a schedule_delivery_time and
a validity_period, then reads the deliver_sm it gets for WAIT seconds (answering each).

Prints one JSON object per line: first the submit_sm_resp (status, message_id, at: the time it
came, seconds since the epoch), then each deliver_sm (esm_class, receipted_message_id,
message_state TLVs, short_message, at).

usage: smpplib_timed_submit.py HOST PORT SYSTEM_ID PASSWORD DESTINATION SCHEDULE VALIDITY WAIT
(SCHEDULE and VALIDITY: SMPP time strings, or - for none)
"""
import json
import socket
import sys
import time

import smpplib.client
import smpplib.exceptions
import smpplib.smpp

from interop_answers import mt_fields, next_answer


def text(value):
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return value or ""


def main():
    host, port, system_id, password, destination, schedule, validity, wait = sys.argv[1:9]
    client = smpplib.client.Client(host, int(port), timeout=30, allow_unknown_opt_params=True)
    client.connect()
    client.bind_transceiver(system_id=system_id, password=password)
    fields = dict(mt_fields(destination), short_message=b"timed hello")
    if schedule != "-":
        fields["schedule_delivery_time"] = schedule
    if validity != "-":
        fields["validity_period"] = validity
    pdu = smpplib.smpp.make_pdu("submit_sm", client=client, **fields)
    client.send_pdu(pdu)
    resp = next_answer(client)
    print(json.dumps({
        "command": resp.command,
        "status": int(resp.status),
        "message_id": text(getattr(resp, "message_id", b"")),
        "at": time.time(),
    }), flush=True)
    deadline = time.time() + float(wait)
    while time.time() < deadline:
        client._socket.settimeout(max(0.1, deadline - time.time()))
        try:
            deliver = next_answer(client)
        except (socket.timeout, smpplib.exceptions.ConnectionError):
            break
        if deliver.command != "deliver_sm":
            continue
        client.send_pdu(smpplib.smpp.make_pdu(
            "deliver_sm_resp", client=client, sequence=deliver.sequence))
        print(json.dumps({
            "command": "deliver_sm",
            "esm_class": deliver.esm_class,
            "receipted_message_id": text(getattr(deliver, "receipted_message_id", b"")),
            "message_state": getattr(deliver, "message_state", None),
            "short_message": text(deliver.short_message),
            "at": time.time(),
        }), flush=True)
    client._socket.settimeout(30)
    client.unbind()
    client.disconnect()


if __name__ == "__main__":
    main()
