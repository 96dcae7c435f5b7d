"""A hostile ESME built on python smpplib (an independent SMPP implementation): binds again and
again with wrong credentials, each on a fresh connection, then once with the right ones.

Modes: `rotate` binds with N different unknown system_ids; `guess` binds N times as
SYSTEM_ID with wrong passwords. After the flood it binds as SYSTEM_ID with PASSWORD and
unbinds. Output is one JSON object per line (the status of each bind) for the Rust test.

usage: smpplib_bad_binds.py HOST PORT SYSTEM_ID PASSWORD MODE N
"""
import json
import sys

import smpplib.client
import smpplib.exceptions


def emit(**event):
    print(json.dumps(event), flush=True)


def bind(host, port, system_id, password):
    """The command_status of one bind_transceiver on a fresh connection (0 when bound)."""
    client = smpplib.client.Client(host, port, timeout=20, allow_unknown_opt_params=True)
    client.connect()
    try:
        client.bind_transceiver(system_id=system_id, password=password)
    except smpplib.exceptions.PDUError as error:
        client.disconnect()
        return error.args[1]
    client.unbind()
    client.disconnect()
    return 0


def main():
    host, port, system_id, password, mode, count = sys.argv[1:7]
    port, count = int(port), int(count)
    for n in range(count):
        if mode == "rotate":
            status = bind(host, port, f"rot{n}", "guess")
        else:
            status = bind(host, port, system_id, f"guess-{n}")
        emit(event="flood_bind", n=n, status=status)
    emit(event="right_bind", status=bind(host, port, system_id, password))


if __name__ == "__main__":
    main()
