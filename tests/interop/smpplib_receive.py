"""An independent ESME (python smpplib) that receives MOs: binds as receiver, answers each
deliver_sm OK until COUNT arrived, then unbinds.

Prints one JSON object per deliver_sm: esm_class, data_coding, short_message and
message_payload (hex, "" when absent) and the SAR values (null when absent).

usage: smpplib_receive.py HOST PORT SYSTEM_ID PASSWORD COUNT
"""
import json
import sys

import smpplib.client
import smpplib.consts
import smpplib.smpp

from interop_answers import next_answer


def octets(value):
    if value is None:
        return ""
    if isinstance(value, str):
        value = value.encode("latin-1")
    return value.hex()


def main():
    host, port, system_id, password, count = sys.argv[1:6]
    client = smpplib.client.Client(host, int(port), timeout=30, allow_unknown_opt_params=True)
    client.connect()
    client.bind_receiver(system_id=system_id, password=password)
    received = 0
    while received < int(count):
        pdu = next_answer(client)
        if pdu.command != "deliver_sm":
            continue
        print(json.dumps({
            "esm_class": pdu.esm_class,
            "data_coding": pdu.data_coding,
            "short_message": octets(pdu.short_message),
            "message_payload": octets(getattr(pdu, "message_payload", None)),
            "sar": [getattr(pdu, "sar_msg_ref_num", None),
                    getattr(pdu, "sar_total_segments", None),
                    getattr(pdu, "sar_segment_seqnum", None)],
        }), flush=True)
        resp = smpplib.smpp.make_pdu("deliver_sm_resp", client=client,
                                     status=smpplib.consts.SMPP_ESME_ROK)
        resp.sequence = pdu.sequence
        client.send_pdu(resp)
        received += 1
    client.unbind()
    client.disconnect()


if __name__ == "__main__":
    main()
