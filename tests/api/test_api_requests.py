"""Request-level behaviour of the API: DryRun, ClientToken, concurrency, pagination, tags and VPN routes."""

from concurrent.futures import ThreadPoolExecutor

from api_harness import Api

from api_builders import assert_fields, assert_not_found, make_cgw, make_gateway, single, tags_of


def test_dry_run_answers_dry_run_operation_and_creates_nothing(server, tenant):
    gw = make_gateway(tenant)
    cgw, _ = make_cgw(server, tenant)
    err = tenant.fails("CreateVpnConnection", **single(gw, cgw, DryRun=True, Name="dry"))
    assert err.code == "DryRunOperation", err.data
    assert tenant("DescribeVpnConnections", VpnGatewayId=gw)["TotalCount"] == 0

    # A dry run still validates: an invalid request answers with its own error, not DryRunOperation.
    bad = tenant.fails("CreateVpnConnection", **single(gw, cgw, DryRun=True, IkeConfig={"IkeEncAlg": "blowfish"}))
    assert bad.code != "DryRunOperation" and 400 <= bad.status_code < 500, bad.data

    vco = tenant("CreateVpnConnection", **single(gw, cgw))["VpnConnectionId"]
    err = tenant.fails("CreateVpnRouteEntry", VpnGatewayId=gw, RouteDest="192.168.9.0/24", NextHop=vco, Weight=100,
                       PublishVpc=False, DryRun=True)
    assert err.code == "DryRunOperation", err.data
    assert tenant("DescribeVpnRouteEntries", VpnGatewayId=gw)["TotalCount"] == 0


def test_client_token_makes_a_create_idempotent(server, tenant):
    ip = server.next_ip()
    first = tenant("CreateCustomerGateway", IpAddress=ip, Name="once", ClientToken="cgw-token-1")
    again = tenant("CreateCustomerGateway", IpAddress=ip, Name="once", ClientToken="cgw-token-1")
    assert first["CustomerGatewayId"] == again["CustomerGatewayId"]
    assert tenant("DescribeCustomerGateways")["TotalCount"] == 1

    gw = make_gateway(tenant)
    conn = single(gw, first["CustomerGatewayId"], ClientToken="vco-token-1")
    a = tenant("CreateVpnConnection", **conn)["VpnConnectionId"]
    b = tenant("CreateVpnConnection", **conn)["VpnConnectionId"]
    assert a == b
    assert tenant("DescribeVpnConnections", VpnGatewayId=gw)["TotalCount"] == 1

    # Another token is another resource.
    other = tenant("CreateCustomerGateway", IpAddress=server.next_ip(), ClientToken="cgw-token-2")
    assert other["CustomerGatewayId"] != first["CustomerGatewayId"]


def test_concurrent_creates_all_land_with_distinct_ids(server, tenant):
    addresses = [server.next_ip() for _ in range(60)]
    clients = [Api(server.endpoint, tenant.creds) for _ in range(6)]

    def create(n):
        return clients[n % len(clients)]("CreateCustomerGateway", IpAddress=addresses[n], Name=f"c-{n}")[
            "CustomerGatewayId"]

    with ThreadPoolExecutor(max_workers=6) as pool:
        made = list(pool.map(create, range(len(addresses))))
    assert len(set(made)) == len(addresses)
    assert tenant("DescribeCustomerGateways")["TotalCount"] == len(addresses)
    for n in (0, 29, 59):
        assert_fields(tenant("DescribeCustomerGateway", CustomerGatewayId=made[n]),
                      {"IpAddress": addresses[n], "Name": f"c-{n}"})


def test_page_number_pagination(server, tenant):
    made = {make_cgw(server, tenant, Name=f"page-{i}")[0] for i in range(7)}
    seen = []
    for page, size in ((1, 3), (2, 3), (3, 1)):
        body = tenant("DescribeCustomerGateways", PageNumber=page, PageSize=3)
        assert_fields(body, {"TotalCount": 7, "PageNumber": page, "PageSize": 3}, f"page {page}")
        items = body["CustomerGateways"]["CustomerGateway"]
        assert len(items) == size, f"page {page}: {items}"
        seen += [i["CustomerGatewayId"] for i in items]
    assert sorted(seen) == sorted(made), "pages overlap or miss a customer gateway"
    empty = tenant("DescribeCustomerGateways", PageNumber=4, PageSize=3)
    assert not (empty.get("CustomerGateways") or {}).get("CustomerGateway")
    # Default page size is 10: all seven fit.
    assert len(tenant("DescribeCustomerGateways")["CustomerGateways"]["CustomerGateway"]) == 7


def test_tags_on_gateways_connections_and_customer_gateways(server, tenant):
    gw = make_gateway(tenant)
    cgw, _ = make_cgw(server, tenant, Tags=[{"Key": "site", "Value": "osaka"}])
    assert tags_of(tenant("DescribeCustomerGateway", CustomerGatewayId=cgw)) == {"site": "osaka"}
    vco = tenant("CreateVpnConnection", **single(gw, cgw, Tags=[{"Key": "tier", "Value": "gold"}]))["VpnConnectionId"]
    assert tags_of(tenant("DescribeVpnConnection", VpnConnectionId=vco)) == {"tier": "gold"}

    tenant("TagResources", ResourceType="VPNGATEWAY", ResourceId=[gw],
           Tag=[{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": ""}])
    assert tags_of(tenant("DescribeVpnGateway", VpnGatewayId=gw)) == {"env": "prod", "team": ""}
    listed = tenant("ListTagResources", ResourceType="VPNGATEWAY", ResourceId=[gw])["TagResources"]["TagResource"]
    assert {(t["ResourceId"], t["TagKey"], t.get("TagValue", "")) for t in listed} == {
        (gw, "env", "prod"), (gw, "team", "")}

    tenant("TagResources", ResourceType="VPNCONNECTION", ResourceId=[vco], Tag=[{"Key": "env", "Value": "prod"}])
    assert tags_of(tenant("DescribeVpnConnection", VpnConnectionId=vco)) == {"tier": "gold", "env": "prod"}
    # Filtering a list by tag finds the tagged connection only.
    untagged = tenant("CreateVpnConnection", **single(gw, make_cgw(server, tenant)[0]))["VpnConnectionId"]
    found = tenant("DescribeVpnConnections", VpnGatewayId=gw, Tag=[{"Key": "env", "Value": "prod"}])
    assert {c["VpnConnectionId"] for c in found["VpnConnections"]["VpnConnection"]} == {vco}, f"not {untagged}"

    tenant("UnTagResources", ResourceType="VPNGATEWAY", ResourceId=[gw], TagKey=["env"])
    assert tags_of(tenant("DescribeVpnGateway", VpnGatewayId=gw)) == {"team": ""}
    tenant("UnTagResources", ResourceType="CUSTOMERGATEWAY", ResourceId=[cgw], All=True)
    assert tags_of(tenant("DescribeCustomerGateway", CustomerGatewayId=cgw)) == {}


def test_list_tag_resources_pages_with_next_token(tenant):
    gws = [make_gateway(tenant) for _ in range(5)]
    tenant("TagResources", ResourceType="VPNGATEWAY", ResourceId=gws, Tag=[{"Key": "fleet", "Value": "a"}])
    seen, token = [], None
    for _ in range(10):
        body = tenant("ListTagResources", ResourceType="VPNGATEWAY", Tag=[{"Key": "fleet", "Value": "a"}],
                      MaxResults=2, **({"NextToken": token} if token else {}))
        page = body["TagResources"]["TagResource"]
        assert len(page) <= 2
        seen += [t["ResourceId"] for t in page]
        token = body.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(gws)


def routes(api, gw):
    return {(r["RouteDest"], r["NextHop"]): r for r in
            api("DescribeVpnRouteEntries", VpnGatewayId=gw, PageSize=50)["VpnRouteEntries"]["VpnRouteEntry"]}


def pbr_routes(api, gw):
    body = api("DescribeVpnPbrRouteEntries", VpnGatewayId=gw, PageSize=50)
    return {(r["RouteSource"], r["RouteDest"], r["NextHop"]): r for r in body["VpnPbrRouteEntries"]["VpnPbrRouteEntry"]}


def test_destination_routes_active_standby_weight_and_publish(server, tenant):
    gw = make_gateway(tenant)
    active = tenant("CreateVpnConnection", **single(gw, make_cgw(server, tenant)[0]))["VpnConnectionId"]
    standby = tenant("CreateVpnConnection", **single(gw, make_cgw(server, tenant)[0]))["VpnConnectionId"]
    dest = "192.168.10.0/24"
    common = {"VpnGatewayId": gw, "RouteDest": dest, "PublishVpc": False}
    tenant("CreateVpnRouteEntry", NextHop=active, Weight=100, Description="primary", **common)
    tenant("CreateVpnRouteEntry", NextHop=standby, Weight=0, **common)
    table = routes(tenant, gw)
    assert_fields(table[(dest, active)], {"Weight": 100, "VpnInstanceId": gw}, "active route")
    assert_fields(table[(dest, standby)], {"Weight": 0}, "standby route")
    assert table[(dest, active)]["State"] != "published"

    tenant("ModifyVpnRouteEntryWeight", VpnGatewayId=gw, RouteDest=dest, NextHop=active, Weight=100, NewWeight=0)
    assert_fields(routes(tenant, gw)[(dest, active)], {"Weight": 0}, "after weight change")

    tenant("PublishVpnRouteEntry", VpnGatewayId=gw, RouteDest=dest, NextHop=standby, RouteType="dbr",
           PublishVpc=True)
    assert_fields(routes(tenant, gw)[(dest, standby)], {"State": "published"}, "after publish")
    tenant("PublishVpnRouteEntry", VpnGatewayId=gw, RouteDest=dest, NextHop=standby, RouteType="dbr",
           PublishVpc=False)
    assert routes(tenant, gw)[(dest, standby)]["State"] != "published"

    tenant("DeleteVpnRouteEntry", VpnGatewayId=gw, RouteDest=dest, NextHop=active, Weight=0)
    assert set(routes(tenant, gw)) == {(dest, standby)}


def test_policy_routes_priority_weight_and_delete(server, tenant):
    gw = make_gateway(tenant)
    vco = tenant("CreateVpnConnection", **single(gw, make_cgw(server, tenant)[0]))["VpnConnectionId"]
    key = ("10.0.1.0/24", "192.168.20.0/24", vco)
    base = {"VpnGatewayId": gw, "RouteSource": key[0], "RouteDest": key[1], "NextHop": vco}
    tenant("CreateVpnPbrRouteEntry", Weight=100, PublishVpc=False, **base)
    tenant("CreateVpnPbrRouteEntry", VpnGatewayId=gw, RouteSource="10.0.2.0/24", RouteDest="192.168.21.0/24",
           NextHop=vco, Weight=0, Priority=5, PublishVpc=False)
    table = pbr_routes(tenant, gw)
    # Priority defaults to 10 when omitted.
    assert_fields(table[key], {"Weight": 100, "Priority": 10}, "policy route")
    assert_fields(table[("10.0.2.0/24", "192.168.21.0/24", vco)], {"Weight": 0, "Priority": 5}, "second route")

    tenant("ModifyVpnPbrRouteEntryPriority", Weight=100, Priority=10, NewPriority=20, **base)
    assert_fields(pbr_routes(tenant, gw)[key], {"Priority": 20, "Weight": 100}, "after priority change")
    tenant("ModifyVpnPbrRouteEntryWeight", Weight=100, Priority=20, NewWeight=0, **base)
    assert_fields(pbr_routes(tenant, gw)[key], {"Priority": 20, "Weight": 0}, "after weight change")

    tenant("DeleteVpnPbrRouteEntry", Weight=0, Priority=20, **base)
    assert key not in pbr_routes(tenant, gw)
    assert tenant("DescribeVpnPbrRouteEntries", VpnGatewayId=gw)["TotalCount"] == 1


def test_routes_of_an_unknown_gateway_are_not_found(tenant):
    assert_not_found(tenant.fails("DescribeVpnRouteEntries", VpnGatewayId="vpn-doesnotexist0000"))
