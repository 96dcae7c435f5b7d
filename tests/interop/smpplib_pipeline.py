"""An independent ESME (python smpplib) that pipelines: binds as transmitter, sends COUNT
submit_sm back to back without reading a single response, then reads all the responses.

Prints one JSON object: how many submit_sm_resp came back with each status, and how many
distinct message ids.

usage: smpplib_pipeline.py HOST PORT SYSTEM_ID PASSWORD COUNT
"""
import collections
import json
import sys

import smpplib.client
import smpplib.consts
import smpplib.smpp


def main():
    host, port, system_id, password, count = sys.argv[1:6]
    count = int(count)
    client = smpplib.client.Client(host, int(port), timeout=60, allow_unknown_opt_params=True)
    client.connect()
    client.bind_transmitter(system_id=system_id, password=password)

    for n in range(count):
        client.send_message(
            source_addr_ton=smpplib.consts.SMPP_TON_INTL,
            source_addr="447700900123",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
            destination_addr="447700900001",
            short_message=("pipelined %d" % n).encode(),
        )

    statuses = collections.Counter()
    ids = set()
    while sum(statuses.values()) < count:
        pdu = client.read_pdu()
        if pdu.command == "submit_sm_resp":
            statuses[str(pdu.status)] += 1
            if pdu.status == smpplib.consts.SMPP_ESME_ROK:
                ids.add(pdu.message_id)
        elif pdu.command == "enquire_link":
            client.send_pdu(smpplib.smpp.make_pdu(
                "enquire_link_resp", client=client, sequence=pdu.sequence))

    client.unbind()
    client.disconnect()
    print(json.dumps({"statuses": statuses, "distinct_ids": len(ids)}), flush=True)


if __name__ == "__main__":
    main()
