"""What the smpplib scripts of tests/interop share: reading the answer to a request, and the
addresses of an MT."""
import smpplib.consts
import smpplib.smpp


def mt_fields(destination):
    """The fields of an MT from 447700900123 to `destination` (both international), asking
    for a receipt."""
    return dict(
        source_addr_ton=smpplib.consts.SMPP_TON_INTL,
        source_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
        source_addr="447700900123",
        dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
        dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
        destination_addr=destination,
        registered_delivery=1,
    )


def next_answer(client):
    """The next PDU that is not an enquire_link (those are answered)."""
    while True:
        pdu = client.read_pdu()
        if pdu.command == "enquire_link":
            client.send_pdu(smpplib.smpp.make_pdu(
                "enquire_link_resp", client=client, sequence=pdu.sequence))
            continue
        return pdu
