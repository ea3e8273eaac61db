"""API latency benchmark: 500 CreateCustomerGateway + DescribeCustomerGateway pairs through the official SDK.

Starts `strait serve` in a namespace exactly as the API tests do, times each pair, and prints
`p50_ms=X p99_ms=Y` as its last line. Everything it starts is removed on exit, even on failure.
"""

import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_harness import ApiServer  # noqa: E402
from helpers.netns import Topology, strait_bin  # noqa: E402

PAIRS = 500
WARMUP = 20


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    topo = Topology(tag="bch")
    server = None
    try:
        server = ApiServer(topo, strait_bin())
        server.start()
        api = server.admin()
        pairs_ms = []
        for i in range(WARMUP + PAIRS):
            start = time.perf_counter()
            cgw = api("CreateCustomerGateway", IpAddress=server.next_ip(), Name=f"bench-{i}")["CustomerGatewayId"]
            api("DescribeCustomerGateway", CustomerGatewayId=cgw)
            if i >= WARMUP:
                pairs_ms.append((time.perf_counter() - start) * 1000)
        q = statistics.quantiles(pairs_ms, n=100, method="inclusive")
        print(f"pairs={len(pairs_ms)} mean_ms={statistics.fmean(pairs_ms):.2f} max_ms={max(pairs_ms):.2f}")
        print(f"p50_ms={q[49]:.2f} p99_ms={q[98]:.2f}")
    finally:
        topo.close()
        if server is not None:
            server.cleanup()


if __name__ == "__main__":
    main()
