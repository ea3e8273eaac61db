"""`strait serve` with no config file (defaults) and with flags that override the file."""

import pytest

from api_harness import Api, ApiServer, PORT, REGION
from helpers.netns import Topology


@pytest.fixture
def bare_server(strait):
    """An ApiServer whose process the test starts itself, with the arguments it chooses."""
    topo = Topology(tag="srv")
    srv = None
    try:
        srv = ApiServer(topo, strait)
        yield srv
    finally:
        topo.close()
        if srv is not None:
            srv.cleanup()


def test_no_config_starts_on_defaults_and_serves_the_sdk(bare_server):
    # No --config at all: only where to listen and store (the namespace has no 127.0.0.1 reachable from here).
    bare_server.start(f"--listen {bare_server.endpoint} --data-dir {bare_server.data_dir}")
    api = bare_server.admin()
    gw = api("CreateVpnGateway", VpcId="vpc-local", Name="defaults")
    described = api("DescribeVpnGateway", VpnGatewayId=gw["VpnGatewayId"])
    assert described["Status"] == "active"
    assert described["VpcId"] == "vpc-local"
    # The default zone's documentation address is the gateway's public IP.
    assert described["InternetIp"] == "192.0.2.1"
    assert api("DescribeVpnGateways")["TotalCount"] == 1


def test_flags_override_the_config_file(bare_server):
    # The file names a region the flag replaces and a listen address on which nothing must answer.
    text = bare_server.config.read_text()
    bare_server.config.write_text(text.replace(f'listen = "{bare_server.endpoint}"', 'listen = "127.0.0.1:9"')
                                  .replace(f'region = "{REGION}"', 'region = "file-region"'))
    bare_server.start(f"--config {bare_server.config} --listen {bare_server.host}:{PORT} --region {REGION}")
    api = Api(bare_server.endpoint, bare_server.admin_credentials())
    gw = api("CreateVpnGateway", VpcId="vpc-local", VSwitchId="zone-b")
    # Zones still come from the file: zone-b's address, and zone-a's as the disaster-recovery one.
    assert api("DescribeVpnGateway", VpnGatewayId=gw["VpnGatewayId"])["InternetIp"] == "203.0.113.2"
