#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into fuzz/corpus/<target>/seed-*.

Seeds come from the repository: the transcripts in tests/transcripts/, the demo
mails in assets/demo/, the messages and settings files in fuzz/seeds/. Run it
again after adding any of those; the seeds are committed, the corpus a fuzz run
grows next to them is not (see fuzz/.gitignore).
"""

import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
FUZZ = ROOT / "fuzz"
CORPUS = FUZZ / "corpus"
SOURCES = FUZZ / "seeds"


def transcripts():
    """(name, [(side, line bytes)]) for every transcript."""
    for path in sorted((ROOT / "tests/transcripts").glob("*.txt")):
        items = []
        for line in path.read_bytes().split(b"\n"):
            if line.startswith(b"S: ") or line == b"S:":
                items.append(("S", line[3:]))
            elif line.startswith(b"C: "):
                items.append(("C", line[3:]))
        yield path.stem, items


# --- framing: [limits] [shape: n-1, 0x80 for bare LF] [selectors] [k] [k u16 cut points]
#     server bytes

FRAMING_SELECTOR = {
    b"STAT": 0, b"LIST": 1, b"UIDL": 3, b"TOP": 5, b"RETR": 6, b"CAPA": 8,
    b"NOOP": 9, b"DELE": 10,
}


def framing_selector(command):
    words = command.split()
    keyword = words[0].upper()
    if keyword in (b"LIST", b"UIDL") and len(words) > 1:
        return FRAMING_SELECTOR[keyword] + 1
    return FRAMING_SELECTOR.get(keyword)


def framing_seed(selectors, wire, cuts=(), limits=0, bare_lf=False):
    shape = len(selectors) - 1 | (0x80 if bare_lf else 0)
    head = bytes([limits, shape, *selectors, len(cuts)])
    head += b"".join(struct.pack("<H", c) for c in cuts)
    return head + wire


def framing_seeds():
    for name, items in transcripts():
        # Everything after the last login command's reply: the transaction.
        logins = [i for i, (side, text) in enumerate(items) if side == "C"
                  and text.split(b" ")[0].upper() in (b"PASS", b"APOP", b"AUTH")]
        if not logins:
            continue
        i = logins[-1] + 1
        while i < len(items) and not (items[i][0] == "S" and not items[i][1].startswith(b"+ ")):
            i += 1
        selectors, server = [], []
        for side, text in items[i + 1:]:
            if side == "C":
                if text.upper() == b"QUIT":
                    break
                selector = framing_selector(text)
                if selector is None:
                    break
                selectors.append(selector)
            else:
                server.append(text + b"\r\n")
        if selectors:
            wire = b"".join(server)
            yield f"transcript-{name}", framing_seed(selectors[:12], wire, (len(wire) // 2, 3))
    demo = sorted((ROOT / "assets/demo").glob("*.eml"))
    for path in demo[:6]:
        body = path.read_bytes()
        stuffed = b"".join(
            (b"." + line if line.startswith(b".") else line)
            for line in body.splitlines(keepends=True)
        )
        if not stuffed.endswith(b"\r\n"):
            stuffed += b"\r\n"
        wire = b"+OK message follows\r\n" + stuffed + b".\r\n"
        # RETR collected, then the same streamed.
        yield f"retr-{path.stem}", framing_seed([6, 7], wire + wire, (40, 41, 200))
    yield "mixed", framing_seed(
        [0, 1, 3, 5, 8, 2, 4, 9, 10],
        b"+OK 2 320\r\n"
        b"+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n"
        b"+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n"
        b"+OK\r\nSubject: hi\r\n\r\n..first line\r\n.\r\n"
        b"+OK Capability list follows\r\nTOP\r\nUSER\r\nSASL PLAIN CRAM-MD5\r\n"
        b"RESP-CODES\r\nLOGIN-DELAY 900\r\nPIPELINING\r\nEXPIRE NEVER\r\nUIDL\r\n"
        b"IMPLEMENTATION Shlemazle-Plotz-v302\r\n.\r\n"
        b"+OK 2 200\r\n+OK 2 QhdPYR:00WBw1Ph7x7\r\n-ERR [SYS/TEMP] busy\r\n+OK deleted\r\n",
        (5, 17, 18, 19, 90),
    )
    yield "small-limits", framing_seed(
        [6, 7, 5, 0],
        b"+OK\r\n" + b"x" * 300 + b"\r\n.\r\n+OK\r\n" + b"y" * 300 + b"\r\n.\r\n"
        b"+OK " + b"z" * 300 + b"\r\nSubject: z\r\n.\r\n+OK 1 1\r\n",
        (100, 101),
        limits=0x21,
    )
    yield "bare-lf", framing_seed(
        [1, 6, 3, 7],
        b"+OK\n1 100\n.\n+OK\nSubject: x\n\n..body\n.\n+OK\n1 a\n2 b\r\n.\r\n"
        b"+OK\nline\n.\n",
        (3, 30),
        bare_lf=True,
    )
    yield "bare-lf-content-on-crlf-server", framing_seed(
        [1, 6], b"+OK\r\n1 100\n.\n2 200\r\n.\r\n+OK\r\nSubject: x\n.\n\r\n.\r\n", ()
    )


# --- session: a script of client actions and server bytes (see fuzz_targets/session.rs)

SUBMIT, SUBMIT_STREAMED, FEED, POLL, TLS_UP, AUTH_ANSWER, WINDOW = 0, 130, 2, 5, 7, 8, 9
SESSION_SELECTOR = {
    b"USER": 0, b"PASS": 1, b"APOP": 2, b"CAPA": 5, b"STLS": 6, b"STAT": 7, b"LIST": 8,
    b"UIDL": 10, b"TOP": 12, b"RETR": 13, b"DELE": 14, b"RSET": 15, b"NOOP": 15 | 64,
    b"QUIT": 15 | 128,
}


def feed(data):
    out = b""
    for i in range(0, len(data), 255):
        piece = data[i:i + 255]
        out += bytes([FEED, len(piece)]) + piece
    return out


def session_seeds():
    for name, items in transcripts():
        script = bytes([0, WINDOW, 8])
        last_server = b""
        for side, text in items:
            if side == "S":
                script += feed(text + b"\r\n")
                last_server = text
                continue
            words = text.split(b" ")
            keyword = words[0].upper()
            if last_server.startswith(b"+ "):
                script += bytes([AUTH_ANSWER, 1]) + text[:4]
            elif keyword == b"AUTH":
                if len(words) > 2:
                    script += bytes([SUBMIT, 4]) + text[-4:].ljust(4, b"=")
                else:
                    script += bytes([SUBMIT, 3])
            elif keyword in (b"USER", b"PASS"):
                script += bytes([SUBMIT, SESSION_SELECTOR[keyword]]) + (words[1] + b"xxx")[:3]
            elif keyword in SESSION_SELECTOR:
                selector = SESSION_SELECTOR[keyword]
                if keyword in (b"LIST", b"UIDL") and len(words) > 1:
                    selector += 1
                script += bytes([SUBMIT, selector])
            else:
                continue
            script += bytes([POLL])
            if keyword == b"STLS":
                # The reply comes next; the handshake after it.
                script += feed(b"+OK Begin TLS\r\n") + bytes([TLS_UP])
                last_server = b"+OK"
        yield f"transcript-{name}", script
    greeting = feed(b"+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>\r\n")
    yield "retr-streamed", (
        bytes([0]) + greeting + bytes([SUBMIT, 0]) + b"bob" + bytes([POLL]) + feed(b"+OK\r\n")
        + bytes([SUBMIT, 1]) + b"pwd" + bytes([POLL]) + feed(b"+OK\r\n")
        + bytes([SUBMIT_STREAMED, 13, POLL])
        + feed(b"+OK 120 octets\r\nSubject: x\r\n\r\n..dot\r\nline\r\n.\r\n")
        + bytes([SUBMIT, SESSION_SELECTOR[b"QUIT"], POLL]) + feed(b"+OK bye\r\n")
    )
    yield "auth-login-cancel", (
        bytes([0]) + greeting + bytes([SUBMIT, 3, POLL]) + feed(b"+ VXNlcm5hbWU6\r\n")
        + bytes([AUTH_ANSWER, 0, POLL]) + feed(b"-ERR cancelled\r\n")
        + bytes([SUBMIT, 2, POLL]) + feed(b"+OK maildrop locked\r\n")
    )
    yield "small-limits", (
        bytes([0x11]) + greeting + bytes([SUBMIT, 5, POLL])
        + feed(b"+OK " + b"c" * 200 + b"\r\nTOP\r\n.\r\n")
        + bytes([SUBMIT, 1]) + b"pwd" + bytes([POLL]) + feed(b"+OK\r\n")
    )


# --- preview: [lines] message bytes -----------------------------------------------------

def preview_seeds():
    for path in sorted((ROOT / "assets/demo").glob("*.eml")):
        yield f"demo-{path.stem}", bytes([10]) + path.read_bytes()
    for path in sorted((SOURCES / "mail").glob("*.eml")):
        yield f"mail-{path.stem}", bytes([10]) + path.read_bytes()


# --- settings: a settings file -----------------------------------------------------------

def settings_seeds():
    for path in sorted((SOURCES / "settings").glob("*.toml")):
        yield f"file-{path.stem}", path.read_bytes()


def main():
    for target, seeds in [
        ("framing", framing_seeds()),
        ("session", session_seeds()),
        ("preview", preview_seeds()),
        ("settings", settings_seeds()),
    ]:
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("seed-*"):
            old.unlink()
        count = 0
        for name, data in seeds:
            (folder / f"seed-{name}").write_bytes(data)
            count += 1
        print(f"{target}: {count} seeds")


if __name__ == "__main__":
    main()
