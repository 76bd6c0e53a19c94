"""The programs the gang tests run on every rank, written into the test project (plain python3, stdlib only).

ALLREDUCE is a rendezvous and an all-reduce over TCP driven only by the environment contract: rank 0
listens on MASTER_ADDR:MASTER_PORT, every other rank connects and sends its vector, rank 0 sums them and
sends the sum back to all. (torch's gloo would do the same; Debian's python3-torch takes minutes to install,
so the tests use this: docs/multinode.md.)
"""

ALLREDUCE = r"""
import json, os, socket, struct, sys, time

rank = int(os.environ["NODE_RANK"])
nodes = int(os.environ["NNODES"])
addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
mine = [float(rank + 1), float(10 * (rank + 1))]

def send(sock, values):
    sock.sendall(struct.pack("!I", len(values)) + struct.pack(f"!{len(values)}d", *values))

def recv_exact(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("peer closed")
        data += chunk
    return data

def recv(sock):
    (count,) = struct.unpack("!I", recv_exact(sock, 4))
    return list(struct.unpack(f"!{count}d", recv_exact(sock, 8 * count)))

if rank == 0:
    server = socket.create_server(("", port))
    peers = [server.accept()[0] for _ in range(nodes - 1)]
    total = list(mine)
    for peer in peers:
        for i, value in enumerate(recv(peer)):
            total[i] += value
    for peer in peers:
        send(peer, total)
else:
    deadline = time.monotonic() + 30
    while True:
        try:
            sock = socket.create_connection((addr, port), timeout=5)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    send(sock, mine)
    total = recv(sock)
os.makedirs("out", exist_ok=True)
with open("out/allreduce.json", "w") as handle:
    json.dump({"rank": rank, "sum": total}, handle)
print(f"rank {rank}: sum {total}")
"""

ENV_DUMP = r"""
import json, os, sys
names = sys.argv[1:]
record = {name: os.environ.get(name) for name in names}
hostfile = os.environ.get("WB_HOSTFILE")
record["hostfile"] = open(hostfile).read() if hostfile and os.path.exists(hostfile) else None
os.makedirs("out", exist_ok=True)
with open("out/env.json", "w") as handle:
    json.dump(record, handle)
sys.stdout.buffer.write(b"rank " + os.environ["NODE_RANK"].encode() + b" \x00\xff bytes\n")
sys.stderr.write("stderr of rank " + os.environ["NODE_RANK"] + "\n")
"""

# Rank FAIL_RANK exits FAIL_CODE after a second; the others would sleep a minute, and print when SIGINT/TERM come.
FAIL_ONE = r"""
import os, signal, sys, time
rank = int(os.environ["NODE_RANK"])
def on_signal(signo, frame):
    print(f"rank {rank} got signal {signo}", flush=True)
    if signo == signal.SIGINT:
        time.sleep(1.5)  # cleans up a while, as a training script would: every rank's SIGINT lands first
    sys.exit(128 + signo)
signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)
print(f"rank {rank} up", flush=True)
fail_rank = int(sys.argv[1]) if len(sys.argv) > 1 else -1
if rank == fail_rank:
    time.sleep(1)
    sys.exit(int(sys.argv[2]))
for _ in range(600):
    time.sleep(0.1)
"""
