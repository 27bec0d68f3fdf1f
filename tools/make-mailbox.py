#!/usr/bin/env python3
"""Fill a Maildir with realistic, deterministic test mail (Python 3 standard library only).

    tools/make-mailbox.py --maildir DIR [--count N] [--seed S] [--total-mb MB]
                          [--profile mixed|small|large] [--clean] [--chown UID:GID]

Writes N RFC 5322 messages with CRLF line endings into DIR/new/ (via DIR/tmp/, like an
MDA). File names carry ",S=<size>,W=<size>" (file size = CRLF wire size), so Dovecot
can answer STAT/LIST without reading the files, and they sort in generation order, so a
POP3 server numbers the messages 1..N in that order. The same arguments always produce
byte-identical files and names.

Profiles (sizes are targets; --total-mb scales them so the sum lands near MB MiB):
  mixed  (default) like a real inbox: ~8% short notifications (0.5-2 KB), ~62% text or
         multipart/alternative mail (2-20 KB), ~17% HTML newsletters (20-100 KB) and
         ~13% mail with base64 attachments, which take whatever size is left of MB.
  small  text and multipart/alternative only, sizes spread around MB/N.
  large  every message has one or more base64 attachments, size MB/N +-20%.

Content: varied senders and subjects, including RFC 2047 encoded words (UTF-8 "B" and
"Q", ISO-8859-1 "Q") in Subject and display names; Date, Message-ID, some In-Reply-To /
References threads, Received chains; text/plain in 7bit, 8bit or quoted-printable;
multipart/alternative with HTML; multipart/mixed with PDF / JPEG / ZIP / CSV attachments
(some with RFC 2231 encoded file names); body lines that start with "." (including a
lone "." and "..") so that POP3 dot-stuffing is exercised.

Also writes DIR.manifest.json: count, total bytes, and per message its file name, size,
sha256, Message-ID and kind.
"""
import argparse
import base64
import binascii
import datetime
import hashlib
import json
import math
import os
import random
import shutil
import sys

MIB = 1024 * 1024
CRLF = "\r\n"

# ---------------------------------------------------------------------------- vocabulary

WORDS = (
    "the a an and or but if then so because while with without about above after before "
    "under over between into onto from to for of on in at by as is are was were be been "
    "have has had do does did will would can could should may might must we you they it "
    "this that these those our your their my his her its all some any each every other "
    "meeting invoice report attached please regards thanks update project schedule account "
    "payment order shipping delivery customer support review draft budget quarter team "
    "release version feature request ticket issue fix deadline agenda minutes proposal "
    "contract offer price discount newsletter subscription event conference travel hotel "
    "flight booking confirmation receipt statement balance transfer password security "
    "server backup database network storage mailbox message folder calendar reminder "
    "weekend holiday family photos garden recipe dinner lunch coffee morning evening "
    "today tomorrow yesterday week month year monday tuesday wednesday thursday friday "
    "new old next last first final quick short long important urgent small large great"
).split()

FIRST = ["Alice", "Bob", "Carol", "David", "Erin", "Frank", "Grace", "Heidi", "Ivan",
         "Judy", "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor",
         "Walter", "Yvonne", "Zoe", "Liam", "Emma", "Noah", "Mia", "Lucas", "Hannah"]
LAST = ["Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Thomas", "Johnson",
        "Roberts", "Walker", "Wright", "Robinson", "Thompson", "White", "Hughes", "Edwards",
        "Green", "Hall", "Wood", "Harris", "Martin", "Clarke", "Baker", "Turner"]
# (display name, charset) pairs that need RFC 2047
INTL_NAMES = [
    ("José Müller", "utf-8"), ("Zoë Ångström", "utf-8"), ("Łukasz Żółć", "utf-8"),
    ("Дмитрий Иванов", "utf-8"), ("山田 太郎", "utf-8"), ("Ελένη Παπαδοπούλου", "utf-8"),
    ("François Dupré", "iso-8859-1"), ("Jürgen Weiß", "iso-8859-1"),
    ("Inês Conceição", "iso-8859-1"), ("Søren Kierkegård", "iso-8859-1"),
    ("Björk Guðmundsdóttir", "iso-8859-1"), ("María José Núñez", "iso-8859-1"),
]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com",
           "lists.example.org", "shop.example.net", "corp.example", "uni.example.edu"]
ORGS = ["Example Corp", "Acme Widgets", "Globex", "Initech", "Umbrella Travel",
        "Stark Supplies", "Wayne Logistics", "Hooli Cloud"]
INTL_SUBJECTS = [
    ("Grüße aus München – Übersicht für nächste Woche", "utf-8"),
    ("Réunion de jeudi : compte rendu et prévisions", "iso-8859-1"),
    ("Ihre Bestellung wurde versandt – Lieferung voraussichtlich Montag", "utf-8"),
    ("Счёт на оплату № 4711", "utf-8"),
    ("会議の議事録をお送りします", "utf-8"),
    ("Café, crème brûlée et façades ensoleillées", "iso-8859-1"),
    ("Ελάτε στη συνάντηση της Παρασκευής", "utf-8"),
    ("Zażółć gęślą jaźń – poprawiona umowa", "utf-8"),
    ("Año nuevo, señales nuevas: ¿qué opinas?", "iso-8859-1"),
    ("Party 🎉 on Friday — bring snacks 🍕", "utf-8"),
    ("Smörgåsbord för hela avdelningen", "iso-8859-1"),
]
INTL_TEXT = [
    "Sehr geehrte Damen und Herren, anbei erhalten Sie die Übersicht für das nächste "
    "Quartal. Bitte prüfen Sie die Änderungen bis Freitag. Mit freundlichen Grüßen",
    "Bonjour à tous, voici le compte rendu de la réunion de jeudi. Les prévisions "
    "budgétaires ont été révisées ; merci de vérifier les éléments suivants.",
    "Hola, ¿podrías revisar la propuesta antes del miércoles? Gracias, señora Núñez.",
    "Привет! Посылаю отчёт за прошлый месяц, посмотри, пожалуйста, до понедельника.",
    "お疲れ様です。来週の会議の資料を添付しますので、ご確認ください。",
    "Hej! Vi ses på fredag för smörgåsbord och kaffe på kontoret.",
]
DOT_LINES = [".", "..", "...", ".signature follows", ". leading dot and space",
             "..double dot line", ".hidden file: .bashrc", "...and so on"]
ATTACH_TYPES = [
    ("application/pdf", "pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
    ("image/jpeg", "jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01"),
    ("image/png", "png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
    ("application/zip", "zip", b"PK\x03\x04\x14\x00\x00\x00\x08\x00"),
    ("application/octet-stream", "bin", b""),
]
ATTACH_NAMES = ["report", "invoice", "photo", "scan", "slides", "archive", "contract",
                "statement", "holiday", "backup", "data"]
INTL_FILENAMES = ["Übersicht_März", "résumé_final", "отчёт", "写真", "presupuesto_año"]

# ---------------------------------------------------------------------------- encoders


def encode_word(text, charset, rng):
    """RFC 2047 encoded words (B or Q, chosen at random), each at most 75 chars,
    separated by CRLF SP (folded) when more than one is needed."""
    raw = text.encode(charset)
    use_q = charset != "utf-8" or rng.random() < 0.4
    prefix = "=?%s?%s?" % (charset.upper(), "Q" if use_q else "B")
    budget = 75 - len(prefix) - 2
    words, chunk = [], b""
    # split on character boundaries so every word decodes on its own
    for ch in text:
        b = ch.encode(charset)
        trial = chunk + b
        size = len(q_encode(trial)) if use_q else 4 * math.ceil(len(trial) / 3)
        if size > budget and chunk:
            words.append(chunk)
            chunk = b
        else:
            chunk = trial
    if chunk:
        words.append(chunk)
    assert b"".join(words) == raw
    enc = [prefix + (q_encode(w) if use_q else base64.b64encode(w).decode()) + "?=" for w in words]
    return (CRLF + " ").join(enc)


def q_encode(b):
    out = []
    for c in b:
        if c == 0x20:
            out.append("_")
        elif (0x30 <= c <= 0x39) or (0x41 <= c <= 0x5A) or (0x61 <= c <= 0x7A) or c in b"!*+-/":
            out.append(chr(c))
        else:
            out.append("=%02X" % c)
    return "".join(out)


def fold(name, value):
    """A header line folded at spaces to stay under ~78 chars where possible."""
    line = name + ": "
    out = []
    for word in value.split(" "):
        if len(line) + len(word) > 76 and line.strip() and not line.endswith(": "):
            out.append(line.rstrip(" "))
            line = " "
        line += word + " "
    out.append(line.rstrip(" "))
    return CRLF.join(out)


def b64_lines(data):
    enc = base64.b64encode(data).decode()
    return CRLF.join(enc[i:i + 76] for i in range(0, len(enc), 76))


def b64_size(n):
    """Bytes of b64_lines() output for n raw bytes (no final CRLF)."""
    chars = 4 * math.ceil(n / 3)
    lines = max(1, math.ceil(chars / 76))
    return chars + 2 * (lines - 1)


def qp_lines(text, charset):
    enc = binascii.b2a_qp(text.encode(charset), istext=True, header=False)
    return enc.decode("ascii").replace("\n", CRLF)


# ---------------------------------------------------------------------------- generator


class Generator:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.seed = seed
        r = self.rng
        self.sentences = []
        for _ in range(1500):
            n = r.randint(5, 18)
            ws = [r.choice(WORDS) for _ in range(n)]
            s = " ".join(ws).capitalize()
            if r.random() < 0.15:
                s += ", " + " ".join(r.choice(WORDS) for _ in range(r.randint(2, 6)))
            self.sentences.append(s + r.choice([".", ".", ".", "!", "?"]))
        self.people = []
        for i in range(120):
            if i % 5 == 4:
                name, cs = r.choice(INTL_NAMES)
            else:
                name, cs = "%s %s" % (r.choice(FIRST), r.choice(LAST)), "us-ascii"
            local = "".join(c for c in name.lower().replace(" ", ".") if c.isascii() and (c.isalnum() or c == "."))
            local = local.strip(".") or "user%d" % i
            self.people.append((name, cs, "%s@%s" % (local, r.choice(DOMAINS))))
        self.me = ("Test User", "us-ascii", "test.user@example.com")
        self.threads = []

    # -- pieces --

    def address(self, person):
        name, cs, addr = person
        if cs != "us-ascii":
            return "%s <%s>" % (encode_word(name, cs, self.rng), addr)
        if self.rng.random() < 0.1:
            last, first = name.split(" ", 1)[1], name.split(" ", 1)[0]
            return '"%s, %s" <%s>' % (last, first, addr)
        if self.rng.random() < 0.1:
            return addr
        return "%s <%s>" % (name, addr)

    def subject(self, kind):
        r = self.rng
        if r.random() < 0.2:
            text, cs = r.choice(INTL_SUBJECTS)
            return encode_word(text, cs, r)
        words = " ".join(r.choice(WORDS) for _ in range(r.randint(2, 9))).capitalize()
        if kind == "notify":
            return "[%s] %s #%d" % (r.choice(ORGS), words, r.randint(100, 99999))
        if kind == "newsletter":
            return "%s newsletter: %s" % (r.choice(ORGS), words)
        if r.random() < 0.05:  # a long subject that needs folding
            words += " " + " ".join(r.choice(WORDS) for _ in range(20))
        return words

    def paragraph_text(self, nbytes):
        """Plain ASCII text of about nbytes (CRLF, lines <= 76), with dot lines."""
        r = self.rng
        lines, size, line = [], 0, ""
        while size < nbytes:
            if r.random() < 0.03:
                if line:
                    lines.append(line)
                    size += len(line) + 2
                    line = ""
                d = r.choice(DOT_LINES)
                lines.append(d)
                size += len(d) + 2
                continue
            s = r.choice(self.sentences)
            if len(line) + len(s) + 1 > 72:
                lines.append(line)
                size += len(line) + 2
                line = s
                if r.random() < 0.2:
                    lines.append("")
                    size += 2
            else:
                line = (line + " " + s) if line else s
        if line:
            lines.append(line)
        return CRLF.join(lines) + CRLF

    def html_from_text(self, text, title):
        paras = [p for p in text.split(CRLF + CRLF) if p.strip()]
        body = "".join("<p>%s</p>\r\n" % p.replace("&", "&amp;").replace("<", "&lt;")
                       for p in paras)
        return ("<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"><title>%s</title>"
                "</head>\r\n<body style=\"font-family: sans-serif\">\r\n%s"
                "<p style=\"color:#888\">You receive this mail because you subscribed."
                " <a href=\"https://example.com/unsubscribe\">Unsubscribe</a></p>\r\n"
                "</body></html>\r\n" % (title, body))

    def text_part(self, nbytes):
        """(headers, body) of a text/plain part of about nbytes."""
        r = self.rng
        x = r.random()
        if x < 0.2:
            intl = r.choice(INTL_TEXT)
            text = intl + "\r\n\r\n" + self.paragraph_text(max(0, nbytes - len(intl) * 2))
            if r.random() < 0.5 and all(ord(c) < 256 for c in intl):
                cs = "iso-8859-1"
            else:
                cs = "utf-8"
            body = qp_lines(text.replace(CRLF, "\n"), cs)
            if not body.endswith(CRLF):
                body += CRLF
            return ("Content-Type: text/plain; charset=%s\r\n"
                    "Content-Transfer-Encoding: quoted-printable\r\n" % cs, body)
        text = self.paragraph_text(nbytes)
        if x < 0.3:
            return ("Content-Type: text/plain; charset=utf-8; format=flowed\r\n"
                    "Content-Transfer-Encoding: 8bit\r\n", text + "-- \r\nSent from my phone \u2014 sorry for typos\r\n")
        return ("Content-Type: text/plain; charset=us-ascii\r\n"
                "Content-Transfer-Encoding: 7bit\r\n", text)

    def attachment(self, raw_size, boundary):
        r = self.rng
        ctype, ext, magic = r.choice(ATTACH_TYPES)
        data = magic + r.randbytes(max(0, raw_size - len(magic)))
        if r.random() < 0.15:
            base = r.choice(INTL_FILENAMES)
            fname = "%s.%s" % (base, ext)
            quoted = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else
                             "".join("%%%02X" % b for b in c.encode("utf-8")) for c in fname)
            disp = "attachment;\r\n filename*=UTF-8''%s" % quoted
            name_param = ""
        else:
            fname = "%s-%d.%s" % (r.choice(ATTACH_NAMES), r.randint(1, 999), ext)
            disp = "attachment; filename=\"%s\"" % fname
            name_param = "; name=\"%s\"" % fname
        return ("--%s\r\nContent-Type: %s%s\r\nContent-Transfer-Encoding: base64\r\n"
                "Content-Disposition: %s\r\n\r\n%s\r\n" % (boundary, ctype, name_param, disp, b64_lines(data)))

    # -- whole messages --

    def headers(self, i, when, kind):
        r = self.rng
        sender = self.people[r.randrange(len(self.people))]
        mid = "<%s.%d.%d@%s>" % (hashlib.sha1(b"%d-%d" % (self.seed, i)).hexdigest()[:16],
                                 i, self.seed, sender[2].split("@")[1])
        h = []
        hops = r.randint(1, 3)
        for hop in range(hops):
            t = when - datetime.timedelta(seconds=(hops - hop) * r.randint(1, 30))
            h.append("Received: from mx%d.%s (mx%d.%s [192.0.2.%d])\r\n\tby mail.example.com "
                     "(Postfix) with ESMTPS id %X\r\n\tfor <%s>; %s"
                     % (hop + 1, sender[2].split("@")[1], hop + 1, sender[2].split("@")[1],
                        r.randint(1, 254), r.getrandbits(40), self.me[2], fmt_date(t)))
        h.append("Date: " + fmt_date(when))
        h.append("From: " + self.address(sender))
        h.append("To: " + self.address(self.me))
        if r.random() < 0.15:
            others = [self.address(self.people[r.randrange(len(self.people))]) for _ in range(r.randint(1, 4))]
            h.append(fold("Cc", ", ".join(others)))
        subj = self.subject(kind)
        if kind in ("text", "alt") and self.threads and r.random() < 0.2:
            parent, psubj = r.choice(self.threads)
            h.append("In-Reply-To: " + parent)
            h.append(fold("References", parent))
            subj = "Re: " + psubj
        elif kind in ("text", "alt"):
            self.threads.append((mid, subj))
            if len(self.threads) > 50:
                self.threads.pop(0)
        if "=?" in subj:
            h.append("Subject: " + subj)
        else:
            h.append(fold("Subject", subj))
        h.append("Message-ID: " + mid)
        h.append("MIME-Version: 1.0")
        if r.random() < 0.5:
            h.append("X-Mailer: %s" % r.choice(["Letterbox Test Generator 1.0", "Thunderbird 115.6",
                                                "Apple Mail (2.3731)", "Microsoft Outlook 16.0"]))
        if kind in ("newsletter", "notify"):
            h.append("List-Unsubscribe: <mailto:unsubscribe@%s>" % sender[2].split("@")[1])
            h.append("Precedence: bulk")
        return CRLF.join(h) + CRLF, mid

    def message(self, i, when, kind, target):
        """Bytes of one message of about `target` bytes."""
        r = self.rng
        head, mid = self.headers(i, when, kind)
        boundary = "=_lb_%d_%08x" % (i, r.getrandbits(32))
        if kind in ("text", "notify"):
            ph, body = self.text_part(max(200, target - len(head) - 120))
            msg = head + ph + CRLF + body
        elif kind in ("alt", "newsletter"):
            # text ~ 1/3, html ~ 2/3 of the body budget
            budget = max(600, target - len(head) - 400)
            ph, text = self.text_part(budget // 3)
            html = self.html_from_text(self.paragraph_text(budget * 2 // 3 - 250), "News")
            msg = (head + "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n"
                   "This is a multi-part message in MIME format.\r\n"
                   "--%s\r\n%s\r\n%s"
                   "--%s\r\nContent-Type: text/html; charset=utf-8\r\n"
                   "Content-Transfer-Encoding: 8bit\r\n\r\n%s"
                   "--%s--\r\n" % (boundary, boundary, ph, text, boundary, html, boundary))
        else:  # attach
            ph, text = self.text_part(r.randint(300, 2500))
            start = (head + "Content-Type: multipart/mixed;\r\n boundary=\"%s\"\r\n\r\n"
                     "This is a multi-part message in MIME format.\r\n"
                     "--%s\r\n%s\r\n%s" % (boundary, boundary, ph, text))
            end = "--%s--\r\n" % boundary
            n_att = 1 if r.random() < 0.7 else r.randint(2, 3)
            # share the remaining budget, then compute raw sizes from the base64 overhead
            room = max(1000 * n_att, target - len(start.encode("utf-8")) - len(end) - 260 * n_att)
            weights = [r.random() + 0.2 for _ in range(n_att)]
            parts = []
            for w in weights:
                enc_len = int(room * w / sum(weights))
                raw = max(64, enc_len * 57 // 78)
                parts.append(self.attachment(raw, boundary))
            msg = start + "".join(parts) + end
        return msg.encode("utf-8")


def fmt_date(dt):
    days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    off = dt.utcoffset() or datetime.timedelta(0)
    mins = int(off.total_seconds() // 60)
    sign = "+" if mins >= 0 else "-"
    mins = abs(mins)
    return "%s, %02d %s %04d %02d:%02d:%02d %s%02d%02d" % (
        days[dt.weekday()], dt.day, months[dt.month - 1], dt.year, dt.hour, dt.minute,
        dt.second, sign, mins // 60, mins % 60)


# ---------------------------------------------------------------------------- planning


def plan(rng, count, profile, total):
    """[(kind, target size)] for each message; total is bytes or None."""
    def logu(lo, hi):
        return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))

    kinds = []
    if profile == "small":
        avg = total / count if total else 5000
        for _ in range(count):
            kind = "alt" if rng.random() < 0.4 else "text"
            kinds.append([kind, max(700, int(avg * rng.lognormvariate(0, 0.5)))])
    elif profile == "large":
        avg = total / count if total else 500 * 1024
        for _ in range(count):
            kinds.append(["attach", max(3000, int(avg * rng.uniform(0.8, 1.2)))])
    else:
        for _ in range(count):
            x = rng.random()
            if x < 0.08:
                kinds.append(["notify", logu(600, 2000)])
            elif x < 0.70:
                kinds.append(["alt" if rng.random() < 0.45 else "text", logu(2000, 20000)])
            elif x < 0.87:
                kinds.append(["newsletter", logu(20000, 100000)])
            else:
                kinds.append(["attach", logu(100 * 1024, 2 * MIB)])
        if total:
            att = [k for k in kinds if k[0] == "attach"]
            if not att:  # make sure there is somewhere to put the bulk
                kinds[-1] = ["attach", 100 * 1024]
                att = [kinds[-1]]
            rest = sum(k[1] for k in kinds if k[0] != "attach")
            room = total - rest
            min_att = 8 * 1024
            if room < min_att * len(att):
                # budget too small for this mix: shrink everything, attachments at min
                scale = max(0.05, (total - min_att * len(att)) / max(1, rest))
                for k in kinds:
                    if k[0] == "attach":
                        k[1] = min_att
                    else:
                        k[1] = max(600, int(k[1] * scale))
            else:
                weights = [rng.lognormvariate(0, 0.8) for _ in att]
                for k, w in zip(att, weights):
                    k[1] = max(min_att, int(room * w / sum(weights)))
    if total and profile != "mixed":
        s = sum(k[1] for k in kinds)
        for k in kinds:
            k[1] = max(600, int(k[1] * total / s))
    return kinds


# ---------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--maildir", required=True, help="Maildir to fill (new/ cur/ tmp/ are created)")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--total-mb", type=float, default=None, help="aim for about this many MiB in total")
    ap.add_argument("--profile", choices=["mixed", "small", "large"], default="mixed")
    ap.add_argument("--clean", action="store_true", help="remove existing mail (and Dovecot index files) first")
    ap.add_argument("--chown", metavar="UID:GID", help="give the maildir and messages to this numeric owner")
    a = ap.parse_args()
    if a.count < 1:
        ap.error("--count must be at least 1")
    owner = None
    if a.chown:
        try:
            uid, gid = (int(x) for x in a.chown.split(":"))
            owner = (uid, gid)
        except ValueError:
            ap.error("--chown wants numeric UID:GID")

    md = os.path.abspath(a.maildir)
    if a.clean and os.path.isdir(md):
        for sub in ("new", "cur", "tmp"):
            shutil.rmtree(os.path.join(md, sub), ignore_errors=True)
        for f in os.listdir(md):
            if f.startswith("dovecot") or f == "maildirfolder":
                p = os.path.join(md, f)
                if os.path.isfile(p):
                    os.remove(p)
    for sub in ("", "new", "cur", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
        if owner:
            os.chown(os.path.join(md, sub), *owner)

    total = int(a.total_mb * MIB) if a.total_mb else None
    gen = Generator(a.seed)
    kinds = plan(gen.rng, a.count, a.profile, total)

    # Dates: a year before a fixed point, increasing with the message number.
    end = datetime.datetime(2025, 6, 30, 18, 0, 0, tzinfo=datetime.timezone.utc)
    start = end - datetime.timedelta(days=365)
    step = (end - start) / a.count
    zones = [datetime.timezone(datetime.timedelta(hours=h)) for h in (0, 1, 2, -5, -8, 9, 5.5)]

    manifest = []
    written = 0
    planned = 0
    for i, (kind, target) in enumerate(kinds):
        planned += target
        # carry the error so far into the big messages so the total lands near the plan
        if kind == "attach" and total:
            target = max(3000, planned - written)
        when_utc = start + step * i + datetime.timedelta(seconds=gen.rng.randint(0, max(1, int(step.total_seconds() * 0.9))))
        when = when_utc.astimezone(gen.rng.choice(zones))
        data = gen.message(i + 1, when, kind, target)
        assert b"\n" not in data.replace(b"\r\n", b""), "bare LF"
        size = len(data)
        stamp = int(when_utc.timestamp())
        name = "%d.M%06dP%dQ%06d.letterbox-gen,S=%d,W=%d" % (stamp, i, a.seed, i + 1, size, size)
        tmp = os.path.join(md, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
        if owner:
            os.chown(tmp, *owner)
        os.replace(tmp, os.path.join(md, "new", name))
        mid = data.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0].decode()
        manifest.append({"file": name, "size": size, "sha256": hashlib.sha256(data).hexdigest(),
                         "message_id": mid, "kind": kind})
        written += size

    out = {"maildir": md, "profile": a.profile, "seed": a.seed, "count": a.count,
           "total_bytes": written, "total_mib": round(written / MIB, 3),
           "line_endings": "CRLF (file size = POP3 wire size)", "messages": manifest}
    mpath = md.rstrip("/") + ".manifest.json"
    with open(mpath, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("%s: %d messages, %d bytes (%.2f MiB), manifest %s"
          % (md, a.count, written, written / MIB, mpath), file=sys.stderr)


if __name__ == "__main__":
    main()
