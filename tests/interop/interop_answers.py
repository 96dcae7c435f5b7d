"""What the smpplib scripts of tests/interop share: reading the answer to a request."""
import smpplib.smpp


def next_answer(client):
    """The next PDU that is not an enquire_link (those are answered)."""
    while True:
        pdu = client.read_pdu()
        if pdu.command == "enquire_link":
            client.send_pdu(smpplib.smpp.make_pdu(
                "enquire_link_resp", client=client, sequence=pdu.sequence))
            continue
        return pdu
