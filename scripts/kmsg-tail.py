#!/usr/bin/env python3
"""Tail /dev/kmsg from its end and keep the records that name one interface.

Usage: kmsg-tail.py IFNAME END_MARK OUT [SECONDS [any]]

Writes every record whose message contains "IN=IFNAME " (with "any": IFNAME
anywhere in the message, e.g. OUT=IFNAME) to OUT, one per line, until a record
contains END_MARK or SECONDS (default 300) pass.
Used by the capture scripts that record real kernel LOG lines for golden
files and detection scenarios.
"""
import errno
import os
import select
import sys
import time

ifname, mark, out = sys.argv[1], sys.argv[2], sys.argv[3]
seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 300
anywhere = len(sys.argv) > 5 and sys.argv[5] == "any"
fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
os.lseek(fd, 0, os.SEEK_END)
deadline = time.monotonic() + seconds
want = "IN=%s " % ifname
with open(out, "w") as f:
    while time.monotonic() < deadline:
        try:
            rec = os.read(fd, 8192)
        except OSError as e:
            if e.errno == errno.EAGAIN:
                select.select([fd], [], [], 0.5)
                continue
            if e.errno == errno.EPIPE:  # records overwritten before we read them
                continue
            raise
        line = rec.decode("utf-8", "replace").split("\n", 1)[0]
        if mark in line:
            break
        msg = line.split(";", 1)[1] if ";" in line else ""
        if (ifname if anywhere else want) in msg:
            f.write(line + "\n")
            f.flush()
