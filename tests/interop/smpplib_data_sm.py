"""An independent ESME (python smpplib) that submits MTs with data_sm: binds as transmitter,
sends one data_sm per destination (the text in message_payload, a receipt asked) and reads
each answer before the next.

Prints one JSON object per line: the destination, the response's command and status, and its
message_id.

usage: smpplib_data_sm.py HOST PORT SYSTEM_ID PASSWORD TEXT DESTINATION [DESTINATION...]
An empty TEXT sends a data_sm without message_payload.
"""
import json
import sys

import smpplib.client
import smpplib.smpp

from interop_answers import mt_fields, next_answer


def text(value):
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return value or ""


def main():
    host, port, system_id, password, body = sys.argv[1:6]
    client = smpplib.client.Client(host, int(port), timeout=30, allow_unknown_opt_params=True)
    client.connect()
    client.bind_transmitter(system_id=system_id, password=password)
    for destination in sys.argv[6:]:
        fields = dict(mt_fields(destination), service_type="", esm_class=0, data_coding=0)
        if body:
            fields["message_payload"] = body.encode("ascii")
        client.send_pdu(smpplib.smpp.make_pdu("data_sm", client=client, **fields))
        pdu = next_answer(client)
        answer = {"destination": destination, "command": pdu.command, "status": int(pdu.status)}
        if pdu.command == "data_sm_resp":
            answer["message_id"] = text(getattr(pdu, "message_id", ""))
        print(json.dumps(answer), flush=True)
    client.unbind()
    client.disconnect()


if __name__ == "__main__":
    main()
