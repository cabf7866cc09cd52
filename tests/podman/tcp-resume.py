#!/usr/bin/env python3
"""tcp-resume.py T0_NS HOST [PORT [LIMIT_S]]

Print the seconds from T0_NS (a CLOCK_REALTIME timestamp in ns, `date +%s%N`)
until a TCP connect to HOST:PORT (default 80) succeeds, trying every 10 ms
with a 100 ms connect timeout, for at most LIMIT_S seconds (default 30).
Prints "timeout" and exits 1 if it never succeeds.  Run inside the BOTTLE's
network namespace (nsenter -n), so it needs nothing from the image.
"""
import socket
import sys
import time

t0 = int(sys.argv[1]) / 1e9
host = sys.argv[2]
port = int(sys.argv[3]) if len(sys.argv) > 3 else 80
deadline = time.time() + (float(sys.argv[4]) if len(sys.argv) > 4 else 30)
while time.time() < deadline:
    s = socket.socket()
    s.settimeout(0.1)
    try:
        s.connect((host, port))
        print("%.3f" % (time.time() - t0))
        sys.exit(0)
    except OSError:
        time.sleep(0.01)
    finally:
        s.close()
print("timeout")
sys.exit(1)
