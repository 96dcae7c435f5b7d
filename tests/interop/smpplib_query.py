"""An independent ESME (python smpplib) that asks the state of messages with query_sm: binds
as transceiver, sends one query_sm per id and reads each answer before the next.

Prints one JSON object per line: the id asked, the response's command and status, and for an
OK query_sm_resp its message_state, final_date and error_code.

usage: smpplib_query.py HOST PORT SYSTEM_ID PASSWORD ID [ID...]
"""
import json
import sys

import smpplib.client
import smpplib.consts

from interop_answers import next_answer


def text(value):
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return value or ""


def main():
    host, port, system_id, password = sys.argv[1:5]
    client = smpplib.client.Client(host, int(port), timeout=30, allow_unknown_opt_params=True)
    client.connect()
    client.bind_transceiver(system_id=system_id, password=password)
    for message_id in sys.argv[5:]:
        client.query_message(
            message_id=message_id,
            source_addr_ton=smpplib.consts.SMPP_TON_INTL,
            source_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
            source_addr="447700900123",
        )
        pdu = next_answer(client)
        answer = {"id": message_id, "command": pdu.command, "status": int(pdu.status)}
        if pdu.command == "query_sm_resp" and pdu.status == smpplib.consts.SMPP_ESME_ROK:
            answer.update(
                message_id=text(pdu.message_id),
                message_state=pdu.message_state,
                final_date=text(pdu.final_date),
                error_code=pdu.error_code,
            )
        print(json.dumps(answer), flush=True)
    client.unbind()
    client.disconnect()


if __name__ == "__main__":
    main()
