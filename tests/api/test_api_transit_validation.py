"""Refused transit router requests: each names its field and writes nothing."""

from __future__ import annotations

from api_builders import error_names, make_gateway, single
from api_harness import CBN_VERSION as CBN
from transit_builders import attach, make_transit_router, make_unattached, route_entries

MISSING_CEN = "cen-doesnotexist0000000"
MISSING_TR = "tr-doesnotexist00000000"
MISSING_VCO = "vco-doesnotexist0000000"


def test_attachment_requests_name_the_bad_field_and_leave_the_connection_unattached(server, tenant):
    cen, tr, table = make_transit_router(tenant)
    vco = make_unattached(server, tenant, RemoteSubnet="192.168.7.0/24")
    base = {"CenId": cen, "TransitRouterId": tr, "VpnId": vco}
    other_cen = tenant.cbn("CreateCen")["CenId"]
    cases = [
        ({"TransitRouterId": MISSING_TR}, "TransitRouterId", 404),
        ({"CenId": MISSING_CEN}, "CenId", 404),
        ({"CenId": other_cen}, "CenId", 400),
        ({"VpnId": MISSING_VCO}, "VpnId", 404),
        ({"Zone": [{"ZoneId": "zone-nowhere"}]}, "ZoneId", 404),
        ({"AutoPublishRouteEnabled": "maybe"}, "AutoPublishRouteEnabled", 400),
        ({"TransitRouterAttachmentName": "https://x"}, "TransitRouterAttachmentName", 400),
    ]
    for change, field, status in cases:
        if "AutoPublishRouteEnabled" in change:  # not a boolean: the typed SDK model would refuse to send it
            err = tenant.raw_fails("CreateTransitRouterVpnAttachment", version=CBN, **{**base, **change})
        else:
            err = tenant.cbn_fails("CreateTransitRouterVpnAttachment", **{**base, **change})
        assert err.status_code == status and error_names(err, field), (change, err.data)
    conn = tenant("DescribeVpnConnection", VpnConnectionId=vco)
    assert (conn["AttachType"], conn["InternetIp"]) == ("NO_ASSOCIATED", "0.0.0.0")
    assert tenant.cbn("ListTransitRouterVpnAttachments")["TransitRouterAttachments"] == []
    assert route_entries(tenant, table) == []

    # Attaching an attached connection, or one on a VPN gateway, is refused naming VpnId.
    attach(tenant, cen, tr, vco)
    err = tenant.cbn_fails("CreateTransitRouterVpnAttachment", **base)
    assert err.status_code == 400 and error_names(err, "VpnId") and error_names(err, "detach"), err.data
    gw = make_gateway(tenant)
    on_gw = tenant("CreateVpnConnection", **single(gw, tenant("CreateCustomerGateway",
                                                                IpAddress=server.next_ip())["CustomerGatewayId"]))
    err = tenant.cbn_fails("CreateTransitRouterVpnAttachment", **{**base, "VpnId": on_gw["VpnConnectionId"]})
    assert err.status_code == 400 and error_names(err, "VpnId"), err.data
    assert len(tenant.cbn("ListTransitRouterVpnAttachments")["TransitRouterAttachments"]) == 1


def test_cen_router_and_route_table_requests_name_the_bad_field(server, tenant):
    cen, tr, table = make_transit_router(tenant)
    att = attach(tenant, cen, tr, make_unattached(server, tenant))
    cases = [
        ("CreateTransitRouter", {"CenId": MISSING_CEN}, "CenId", 404),
        ("CreateCen", {"Name": "x" * 129}, "Name", 400),
        ("ListTransitRouterRouteEntries", {"TransitRouterRouteTableId": "vtb-nothere"}, "TransitRouterRouteTableId",
         404),
        ("ListTransitRouterRouteEntries", {"TransitRouterRouteTableId": table, "MaxResults": 0}, "MaxResults", 400),
        ("EnableTransitRouterRouteTablePropagation",
         {"TransitRouterAttachmentId": "tr-attach-nothere", "TransitRouterRouteTableId": table},
         "TransitRouterAttachmentId", 404),
        ("CreateTransitRouterVpcAttachment", {"CenId": cen, "TransitRouterId": tr, "VpcId": "vpc-elsewhere"},
         "VpcId", 404),
        ("DeleteTransitRouterVpcAttachment", {"TransitRouterAttachmentId": att}, "TransitRouterAttachmentId", 404),
    ]
    for action, fields, field, status in cases:
        err = tenant.cbn_fails(action, **fields)
        assert err.status_code == status and error_names(err, field), (action, err.data)
    # A second route table of another transit router does not switch this one's attachment.
    _, _, other_table = make_transit_router(tenant)
    err = tenant.cbn_fails("DisableTransitRouterRouteTablePropagation", TransitRouterAttachmentId=att,
                           TransitRouterRouteTableId=other_table)
    assert err.status_code == 400 and error_names(err, "TransitRouterRouteTableId"), err.data
    assert [c["Name"] for c in tenant.cbn("DescribeCens")["Cens"]["Cen"]] == ["cen", "cen"]


def test_vpc_api_attachment_actions_check_their_input(server, tenant):
    err = tenant.fails("CreateVpnAttachment", LocalSubnet="10.0.0.0/16", RemoteSubnet="192.168.0.0/24",
                       CustomerGatewayId="cgw-doesnotexist0000000")
    assert err.status_code == 404 and error_names(err, "CustomerGatewayId"), err.data
    err = tenant.fails("DescribeVpnAttachments", AttachType="VPNGW")
    assert err.status_code == 400 and error_names(err, "AttachType"), err.data
    err = tenant.fails("DescribeVpnCrossAccountAuthorizations", VpnConnectionId=MISSING_VCO)
    assert err.status_code == 404 and error_names(err, "VpnConnectionId"), err.data
    assert tenant("DescribeVpnAttachments")["VpnAttachments"] == []


def test_unknown_versions_and_actions_are_refused(tenant):
    for version in (CBN, "2016-04-28"):
        err = tenant.raw_fails("CreateSomethingElse", version=version)
        assert (err.status_code, err.code) == (404, "InvalidAction.NotFound"), err.data
    err = tenant.raw_fails("DescribeCens", version="2099-01-01")
    assert (err.status_code, err.code) == (400, "InvalidVersion"), err.data
    err = tenant.raw_fails("DescribeCens")
    assert err.code == "InvalidAction.NotFound", f"a CBN action answered as the VPC API: {err.data}"


def test_hostile_parameter_shapes_are_refused_with_a_client_error(server, tenant):
    cen, tr, table = make_transit_router(tenant)
    vco = make_unattached(server, tenant)
    cases = [
        ("ListTransitRouterRouteEntries", {"TransitRouterRouteTableId": table, "NextToken": "not-a-token"},
         "NextToken"),
        ("ListTransitRouterRouteEntries", {"TransitRouterRouteTableId": table, "MaxResults": "1000"}, "MaxResults"),
        ("ListTransitRouterVpnAttachments", {"MaxResults": "-1"}, "MaxResults"),
        ("DescribeCens", {"Filter.0.Key": "CenId"}, "Filter"),
        ("DescribeCens", {"Filter.1.Key": "Color", "Filter.1.Value.1": "red"}, "Filter.1.Key"),
        ("CreateTransitRouterVpnAttachment",
         {"CenId": cen, "TransitRouterId": tr, "VpnId": vco, "Zone.x.ZoneId": "zone-a"}, "Zone"),
        ("CreateTransitRouterVpnAttachment",
         {"CenId": cen, "TransitRouterId": tr, "VpnId": vco, "VpnOwnerId": "1' OR '1'='1"}, "VpnOwnerId"),
        ("GrantInstanceToTransitRouter",
         {"InstanceType": "VPN", "InstanceId": vco, "CenId": cen, "CenOwnerId": "x" * 5000}, "CenId"),
    ]
    for action, fields, field in cases:
        err = tenant.raw_fails(action, version=CBN, **fields)
        assert 400 <= err.status_code < 500 and error_names(err, field), (action, fields, err.data)
    assert tenant("DescribeVpnConnection", VpnConnectionId=vco)["AttachType"] == "NO_ASSOCIATED"
