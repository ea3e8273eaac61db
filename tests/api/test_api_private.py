"""Private VPN gateways through the SDK (issue #7 scope 5, seed 004): a gateway created with
NetworkType=private takes its zone's private address (`private_gateway_ips`), its connections run over
that address to a customer gateway with a private (RFC 1918) address, and a zone without private
addresses refuses a private gateway with an error naming the missing configuration key."""

from __future__ import annotations

import pytest

from api_builders import make_gateway, single
from api_harness import ZONE_IPS, ApiServer
from helpers.netns import Topology
from test_api_download import download_device
from transit_builders import attach, make_transit_router

PRIVATE_IP = "10.255.0.1"  # zone-a's address on the private line; zone-b has none
CPE_PRIVATE_IP = "192.168.100.1"  # the data center's device on the private line


@pytest.fixture(scope="module")
def private_server(strait):
    """`strait serve` whose zone-a also lists a private address (zone-b only its public one)."""
    topo = Topology(tag="prv")
    srv = None
    try:
        srv = ApiServer(topo, strait, private_ips={"zone-a": PRIVATE_IP})
        topo.run(srv.ns, f"ip addr add {PRIVATE_IP}/32 dev lo")
        srv.start()
        yield srv
    finally:
        topo.close()
        if srv is not None:
            srv.cleanup()


@pytest.fixture(scope="module")
def papi(private_server):
    """The admin tenant's SDK client on that server."""
    return private_server.admin()


def test_a_private_gateway_takes_the_private_address_and_its_connection_runs_over_it(papi):
    gw = make_gateway(papi, NetworkType="private", Name="private-line")
    body = papi("DescribeVpnGateway", VpnGatewayId=gw)
    # The SDK's DescribeVpnGateway has no separate private-address field: InternetIp is the address the
    # gateway terminates tunnels on, here the private one. zone-b has no private address, so no
    # disaster-recovery side.
    assert (body["NetworkType"], body["VSwitchId"], body["InternetIp"]) == ("private", "zone-a", PRIVATE_IP), body
    assert not body.get("DisasterRecoveryInternetIp"), body
    listed = papi("DescribeVpnGateways", VpnGatewayId=gw)["VpnGateways"]["VpnGateway"]
    assert [(g["VpnGatewayId"], g["InternetIp"], g["NetworkType"]) for g in listed] == [(gw, PRIVATE_IP, "private")]
    # A public gateway in the same zone keeps the public address.
    public = papi("DescribeVpnGateway", VpnGatewayId=make_gateway(papi, VSwitchId="zone-a"))
    assert (public["NetworkType"], public["InternetIp"]) == ("public", ZONE_IPS["zone-a"]), public

    # The device on the private line has a private address: a customer gateway may have one.
    cgw = papi("CreateCustomerGateway", IpAddress=CPE_PRIVATE_IP, Asn="65530")["CustomerGatewayId"]
    assert papi("DescribeCustomerGateway", CustomerGatewayId=cgw)["IpAddress"] == CPE_PRIVATE_IP
    vco = papi("CreateVpnConnection", **single(gw, cgw, LocalSubnet="0.0.0.0/0", RemoteSubnet="0.0.0.0/0",
                                                EnableNatTraversal=True))["VpnConnectionId"]
    conn = papi("DescribeVpnConnection", VpnConnectionId=vco)
    assert conn["NetworkType"] == "private", conn
    # The peer's downloaded configuration points it at the gateway's private address.
    swanctl = download_device(papi, vco, "strongswan")["DeviceConfig"]
    assert f"remote_addrs = {PRIVATE_IP}" in swanctl, swanctl
    assert f"local_addrs = {CPE_PRIVATE_IP}" in swanctl, swanctl


def test_a_zone_without_private_addresses_refuses_a_private_gateway(papi):
    e = papi.fails("CreateVpnGateway", VpcId="vpc-local", NetworkType="private", VSwitchId="zone-b")
    assert (e.code, e.status_code) == ("InvalidParameter.VSwitchId", 400), (e.code, e.message)
    assert "private_gateway_ips" in e.message and "zone-b" in e.message, e.message
    # Naming zone-b as the disaster-recovery side of a private gateway is refused the same way.
    e = papi.fails("CreateVpnGateway", VpcId="vpc-local", NetworkType="private", VSwitchId="zone-a",
                   DisasterRecoveryVSwitchId="zone-b")
    assert e.code == "InvalidParameter.DisasterRecoveryVSwitchId", (e.code, e.message)
    assert "private_gateway_ips" in e.message, e.message
    # A public gateway in zone-b is still fine.
    gw = make_gateway(papi, VSwitchId="zone-b")
    assert papi("DescribeVpnGateway", VpnGatewayId=gw)["InternetIp"] == ZONE_IPS["zone-b"]


def test_a_private_connection_attached_to_a_transit_router_takes_the_private_address(papi):
    """Seed 004 recommends attaching private IPsec connections to a transit router: a connection created
    with NetworkType=private (CreateVpnAttachment) takes the zone's private address when it attaches, only
    zones with one can hold it, and until it is attached there is no configuration to download."""
    cen, tr, _ = make_transit_router(papi)
    cgw = papi("CreateCustomerGateway", IpAddress="192.168.100.2")["CustomerGatewayId"]
    vco = papi("CreateVpnAttachment", CustomerGatewayId=cgw, NetworkType="private", LocalSubnet="10.0.0.0/16",
               RemoteSubnet="192.168.0.0/24")["VpnConnectionId"]
    assert papi("DescribeVpnConnection", VpnConnectionId=vco)["NetworkType"] == "private"
    e = papi.fails("DownloadVpnConnectionConfig", VpnConnectionId=vco)
    assert e.code == "IncorrectStatus.VpnConnection" and "attach" in e.message, (e.code, e.message)
    # The network type of a connection attached to nothing is fixed (spec §3).
    e = papi.fails("ModifyVpnAttachmentAttribute", VpnConnectionId=vco, NetworkType="public")
    assert "NetworkType" in e.code + e.message, (e.code, e.message)

    e = papi.cbn_fails("CreateTransitRouterVpnAttachment", CenId=cen, TransitRouterId=tr, VpnId=vco,
                       Zone=[{"ZoneId": "zone-b"}])
    assert "ZoneId" in e.code and "private" in e.message and "zone-a" in e.message, (e.code, e.message)
    assert papi("DescribeVpnConnection", VpnConnectionId=vco)["AttachType"] == "NO_ASSOCIATED"
    attach(papi, cen, tr, vco)
    conn = papi("DescribeVpnConnection", VpnConnectionId=vco)
    assert (conn["AttachType"], conn["InternetIp"], conn["ZoneNo"]) == ("CEN", PRIVATE_IP, "zone-a"), conn
    swanctl = download_device(papi, vco, "strongswan")["DeviceConfig"]
    assert f"remote_addrs = {PRIVATE_IP}" in swanctl, swanctl
    e = papi.fails("CreateVpnAttachment", CustomerGatewayId=cgw, NetworkType="dark", LocalSubnet="10.0.0.0/16",
                   RemoteSubnet="192.168.0.0/24")
    assert e.code == "InvalidParameter.NetworkType", (e.code, e.message)
