"""kill -9 during a burst of creates: every acknowledged create survives the restart, unchanged."""

import signal
import threading
import time

from api_builders import assert_fields, make_gateway, single, without_request_id
from api_harness import ApiServer
from helpers.netns import wait_until


def test_acknowledged_creates_survive_kill_9(strait, topo, tmp_path):
    srv = ApiServer(topo, strait, workdir=tmp_path)
    srv.start()
    api = srv.admin()
    gw = make_gateway(api)
    # resource id -> (describe action, id field, fields sent, full describe seen before the crash or None)
    acked: dict[str, tuple] = {}
    stopped = threading.Event()

    def burst():
        for i in range(250):
            try:
                sent = {"IpAddress": srv.next_ip(), "Name": f"burst-{i}", "Asn": str(64512 + i)}
                cgw = api("CreateCustomerGateway", **sent)["CustomerGatewayId"]
                acked[cgw] = ("DescribeCustomerGateway", "CustomerGatewayId", {**sent, "Asn": 64512 + i}, None)
                conn = single(gw, cgw, Name=f"burst-vco-{i}", IkeConfig={"Psk": f"burst-key-{i}"})
                vco = api("CreateVpnConnection", **conn)["VpnConnectionId"]
                acked[vco] = ("DescribeVpnConnection", "VpnConnectionId", {"Name": f"burst-vco-{i}",
                                                                           "CustomerGatewayId": cgw}, None)
                for rid in (cgw, vco):
                    action, key, fields, _ = acked[rid]
                    acked[rid] = (action, key, fields, without_request_id(api(action, **{key: rid})))
            except Exception:
                if stopped.is_set():
                    return  # the server is gone: whatever was in flight was never acknowledged
                raise

    errors = []
    worker = threading.Thread(target=lambda: _record(burst, errors), daemon=True)
    worker.start()
    wait_until(lambda: len(acked) >= 40 or not worker.is_alive(), timeout=60, what="40 acknowledged creates")
    assert not errors, errors
    time.sleep(0.05)
    assert worker.is_alive(), "the burst ended before kill -9"
    stopped.set()
    srv.stop(signal.SIGKILL)
    worker.join(timeout=30)
    assert not errors, errors
    assert len(acked) >= 40

    srv.start()
    api = srv.admin()
    for rid, (action, key, fields, seen) in acked.items():
        body = api(action, **{key: rid})
        assert_fields(body, fields, f"{rid} after restart")
        if seen is not None:
            assert without_request_id(body) == seen, f"{rid} changed across kill -9"
    assert api("DescribeVpnConnections", VpnGatewayId=gw)["TotalCount"] >= sum(
        1 for a, *_ in acked.values() if a == "DescribeVpnConnection")


def _record(fn, errors):
    try:
        fn()
    except Exception as e:  # surfaced in the test thread
        errors.append(repr(e))
