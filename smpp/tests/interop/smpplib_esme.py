"""An independent ESME (python smpplib) for interop tests against smsgw's SMPP server.

Binds as transceiver, submits the messages given on the command line, reports each
submit_sm_resp, then waits for deliver_sm PDUs and reports them, unbinding after the expected
count. Output is one JSON object per line so the Rust test can assert on it.

usage: smpplib_esme.py HOST PORT SYSTEM_ID PASSWORD EXPECTED_DELIVERS TEXT...
"""
import json
import socket
import sys

import smpplib.client
import smpplib.consts
import smpplib.gsm


def emit(**event):
    print(json.dumps(event), flush=True)


def main():
    host, port, system_id, password, expected = sys.argv[1:6]
    texts = sys.argv[6:]
    expected = int(expected)
    delivered = []

    client = smpplib.client.Client(host, int(port), timeout=20, allow_unknown_opt_params=True)

    def on_sent(pdu):
        emit(event="submit_sm_resp", status=pdu.status, message_id=pdu.message_id.decode())

    def on_received(pdu):
        text = pdu.short_message.decode("utf-8", "replace")
        delivered.append(text)
        emit(event="deliver_sm", source=pdu.source_addr.decode(), text=text,
             esm_class=pdu.esm_class)
        return smpplib.consts.SMPP_ESME_ROK

    def on_error(pdu):
        emit(event="error", command=pdu.command, status=pdu.status)

    client.set_message_sent_handler(on_sent)
    client.set_message_received_handler(on_received)
    client.set_error_pdu_handler(on_error)
    client.connect()
    client.bind_transceiver(system_id=system_id, password=password)
    emit(event="bound")

    for text in texts:
        parts, encoding, esm_class = smpplib.gsm.make_parts(text)
        for part in parts:
            client.send_message(
                source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
                source_addr="smpplib",
                dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                destination_addr="447700900001",
                short_message=part,
                data_coding=encoding,
                esm_class=esm_class,
                registered_delivery=True,
            )
            client.read_once()  # the submit_sm_resp

    # enquire_link from the ESME is answered; it also marks "submits done" for the test.
    client.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=client))
    client.read_once()
    emit(event="enquire_link_resp")

    while len(delivered) < expected:
        try:
            client.read_once()
        except socket.timeout:
            emit(event="timeout")
            break

    client.unbind()
    emit(event="unbound")
    client.disconnect()


if __name__ == "__main__":
    main()
