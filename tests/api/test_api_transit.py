"""Transit routers through the official SDKs (issue #7 scope 3): the CBN API's CEN instances, transit routers,
attachments and route table, and the VPC API's connections attached to nothing (CreateVpnAttachment)."""

from __future__ import annotations

from api_builders import error_names, make_cgw
from transit_builders import attach, make_transit_router, make_unattached, route_entries, vpn_attachment


def describe(api, vco: str) -> dict:
    return api("DescribeVpnConnection", VpnConnectionId=vco)


def test_transit_router_life_cycle_attach_detach_and_delete_rules(server, tenant):
    cen, tr, table = make_transit_router(tenant)
    assert cen.startswith("cen-") and tr.startswith("tr-") and table.startswith("vtb-")
    cens = tenant.cbn("DescribeCens")["Cens"]["Cen"]
    assert [(c["CenId"], c["Status"]) for c in cens] == [(cen, "Active")]
    routers = tenant.cbn("ListTransitRouters", CenId=cen)["TransitRouters"]
    assert [(t["TransitRouterId"], t["Status"], t["AliUid"]) for t in routers] == [
        (tr, "Active", int(tenant.account_id))]
    tables = tenant.cbn("ListTransitRouterRouteTables", TransitRouterId=tr)["TransitRouterRouteTables"]
    assert tables[0]["TransitRouterRouteTableType"] == "System"

    vco = make_unattached(server, tenant)
    conn = describe(tenant, vco)
    assert conn["AttachType"] == "NO_ASSOCIATED" and conn.get("TransitRouterId", "") == ""
    listed = tenant("DescribeVpnAttachments", AttachType="NO_ASSOCIATED")["VpnAttachments"]
    assert [a["InstanceId"] for a in listed] == [vco]

    att = attach(tenant, cen, tr, vco, Zone=[{"ZoneId": "zone-b"}])
    assert att.startswith("tr-attach-")
    conn = describe(tenant, vco)
    assert (conn["AttachType"], conn["TransitRouterId"], conn["TransitRouterName"]) == ("CEN", tr, "tr")
    assert (conn["InternetIp"], conn["ZoneNo"]) == ("203.0.113.2", "zone-b"), "tunnel on zone-b's gateway IP"
    assert conn["IkeConfig"]["LocalId"] == "203.0.113.2"
    listed = tenant("DescribeVpnAttachments", AttachType="CEN")["VpnAttachments"]
    assert [(a["InstanceId"], a["TransitRouterId"], a["TransitRouterName"]) for a in listed] == [(vco, tr, "tr")]
    row = tenant.cbn("ListTransitRouterVpnAttachments", TransitRouterId=tr)["TransitRouterAttachments"]
    assert [(r["TransitRouterAttachmentId"], r["VpnId"], r["Status"], r["VpnOwnerId"], r["Zones"])
            for r in row] == [(att, vco, "Attached", int(tenant.account_id), [{"ZoneId": "zone-b"}])]

    # Spec §3: an attached connection is not deleted before it is detached; nor is its transit router.
    for action in ("DeleteVpnConnection", "DeleteVpnAttachment"):
        err = tenant.fails(action, VpnConnectionId=vco)
        assert err.status_code == 400 and error_names(err, "detach"), err.data
    err = tenant.cbn_fails("DeleteTransitRouter", TransitRouterId=tr)
    assert error_names(err, "DependencyViolation"), err.data
    assert describe(tenant, vco)["AttachType"] == "CEN"

    tenant.cbn("DeleteTransitRouterVpnAttachment", TransitRouterAttachmentId=att)
    conn = describe(tenant, vco)
    assert (conn["AttachType"], conn.get("TransitRouterId", "")) == ("NO_ASSOCIATED", "")
    assert conn["InternetIp"] == "0.0.0.0", "a connection attached to nothing has no gateway IP"
    assert tenant.cbn("ListTransitRouterVpnAttachments", TransitRouterId=tr)["TransitRouterAttachments"] == []
    err = tenant.cbn_fails("DeleteCen", CenId=cen)
    assert error_names(err, "DependencyViolation"), err.data
    tenant("DeleteVpnAttachment", VpnConnectionId=vco)
    tenant.cbn("DeleteTransitRouter", TransitRouterId=tr)
    tenant.cbn("DeleteCen", CenId=cen)
    assert tenant.cbn("DescribeCens")["Cens"]["Cen"] == []


def test_dual_tunnel_connection_takes_two_zones_and_keeps_its_tunnels_across_attach(server, tenant):
    cen, tr, _ = make_transit_router(tenant)
    vco = make_unattached(server, tenant, dual=True)
    before = describe(tenant, vco)["TunnelOptionsSpecification"]["TunnelOptions"]
    attach(tenant, cen, tr, vco)
    after = describe(tenant, vco)["TunnelOptionsSpecification"]["TunnelOptions"]
    assert [t["TunnelId"] for t in after] == [t["TunnelId"] for t in before]
    assert [(t["ZoneNo"], t["InternetIp"]) for t in sorted(after, key=lambda t: t["Role"])] == [
        ("zone-a", "203.0.113.1"), ("zone-b", "203.0.113.2")], "master on the first zone, slave on the next"


def test_advanced_options_default_on_and_switch_per_attachment(server, tenant):
    cen, tr, table = make_transit_router(tenant)
    on = attach(tenant, cen, tr, make_unattached(server, tenant))
    off = attach(tenant, cen, tr, make_unattached(server, tenant), AutoPublishRouteEnabled=False,
                 RouteTableAssociationEnabled=False, RouteTablePropagationEnabled=False)
    flags = ("AutoPublishRouteEnabled", "RouteTableAssociationEnabled", "RouteTablePropagationEnabled")
    assert [vpn_attachment(tenant, on)[f] for f in flags] == [True, True, True]
    assert [vpn_attachment(tenant, off)[f] for f in flags] == [False, False, False]

    def related(action: str, key: str) -> list[str]:
        rows = tenant.cbn(action, TransitRouterRouteTableId=table)[key]
        return sorted(r["TransitRouterAttachmentId"] for r in rows)

    assert related("ListTransitRouterRouteTablePropagations", "TransitRouterPropagations") == [on]
    assert related("ListTransitRouterRouteTableAssociations", "TransitRouterAssociations") == [on]

    ids = {"TransitRouterRouteTableId": table}
    tenant.cbn("EnableTransitRouterRouteTablePropagation", TransitRouterAttachmentId=off, **ids)
    tenant.cbn("AssociateTransitRouterAttachmentWithRouteTable", TransitRouterAttachmentId=off, **ids)
    tenant.cbn("UpdateTransitRouterVpnAttachmentAttribute", TransitRouterAttachmentId=off,
               AutoPublishRouteEnabled=True, TransitRouterAttachmentName="second")
    tenant.cbn("DisableTransitRouterRouteTablePropagation", TransitRouterAttachmentId=on, **ids)
    tenant.cbn("DissociateTransitRouterAttachmentFromRouteTable", TransitRouterAttachmentId=on, **ids)
    assert [vpn_attachment(tenant, on)[f] for f in flags] == [True, False, False]
    assert [vpn_attachment(tenant, off)[f] for f in flags] == [True, True, True]
    assert vpn_attachment(tenant, off)["TransitRouterAttachmentName"] == "second"
    assert related("ListTransitRouterRouteTablePropagations", "TransitRouterPropagations") == [off]
    assert related("ListTransitRouterRouteTableAssociations", "TransitRouterAssociations") == [off]


def test_route_table_lists_local_networks_and_one_next_hop_per_propagating_attachment(server, tenant):
    cen, tr, table = make_transit_router(tenant)
    assert route_entries(tenant, table) == []
    vpc_att = tenant.cbn("CreateTransitRouterVpcAttachment", CenId=cen, TransitRouterId=tr,
                         VpcId="vpc-local")["TransitRouterAttachmentId"]
    assert route_entries(tenant, table) == [("10.0.0.0/16", vpc_att, "VPC")]
    rows = tenant.cbn("ListTransitRouterVpcAttachments", TransitRouterId=tr)["TransitRouterAttachments"]
    assert [(r["TransitRouterAttachmentId"], r["VpcId"], r["Status"]) for r in rows] == [
        (vpc_att, "vpc-local", "Attached")]

    # Protected data flows: each connection's RemoteSubnet is a route with that connection as next hop (ECMP).
    vcos = [make_unattached(server, tenant, RemoteSubnet="192.168.0.0/24") for _ in range(3)]
    atts = [attach(tenant, cen, tr, v) for v in vcos]
    entries = route_entries(tenant, table)
    assert entries == sorted([("10.0.0.0/16", vpc_att, "VPC")] + [("192.168.0.0/24", a, "VPN") for a in atts])
    full = tenant.cbn("ListTransitRouterRouteEntries", TransitRouterRouteTableId=table,
                      TransitRouterRouteEntryDestinationCidrBlock="192.168.0.0/24")["TransitRouterRouteEntries"]
    assert sorted((e["TransitRouterRouteEntryNextHopId"], e["TransitRouterRouteEntryNextHopResourceId"])
                  for e in full) == sorted(zip(atts, vcos))

    tenant.cbn("DisableTransitRouterRouteTablePropagation", TransitRouterAttachmentId=atts[0],
               TransitRouterRouteTableId=table)
    assert [e[1] for e in route_entries(tenant, table) if e[0] == "192.168.0.0/24"] == sorted(atts[1:])

    # Paging: MaxResults and NextToken walk the whole table.
    first = tenant.cbn("ListTransitRouterRouteEntries", TransitRouterRouteTableId=table, MaxResults=2)
    assert (len(first["TransitRouterRouteEntries"]), first["TotalCount"]) == (2, 3) and first["NextToken"]
    rest = tenant.cbn("ListTransitRouterRouteEntries", TransitRouterRouteTableId=table, MaxResults=2,
                      NextToken=first["NextToken"])
    assert len(rest["TransitRouterRouteEntries"]) == 1 and not rest.get("NextToken")

    tenant.cbn("DeleteTransitRouterVpcAttachment", TransitRouterAttachmentId=vpc_att)
    assert "10.0.0.0/16" not in [e[0] for e in route_entries(tenant, table)]


def test_modify_rules_follow_the_association(server, tenant):
    cen, tr, _ = make_transit_router(tenant)
    # Attached to nothing: the customer gateway is fixed, the rest may change.
    loose = make_unattached(server, tenant)
    err = tenant.fails("ModifyVpnAttachmentAttribute", VpnConnectionId=loose,
                       CustomerGatewayId=make_cgw(server, tenant)[0])
    assert error_names(err, "CustomerGatewayId"), err.data
    tenant("ModifyVpnAttachmentAttribute", VpnConnectionId=loose, Name="renamed")
    assert describe(tenant, loose)["Name"] == "renamed"

    # Attached, single tunnel: name, routing mode and settings may change; the attachment stays.
    single = make_unattached(server, tenant)
    attach(tenant, cen, tr, single)
    tenant("ModifyVpnAttachmentAttribute", VpnConnectionId=single, Name="s2", LocalSubnet="10.0.1.0/24",
           EffectImmediately=True)
    conn = describe(tenant, single)
    assert (conn["Name"], conn["LocalSubnet"], conn["AttachType"]) == ("s2", "10.0.1.0/24", "CEN")

    # Attached, dual tunnel: only the routing mode and EffectImmediately may change.
    dual = make_unattached(server, tenant, dual=True)
    attach(tenant, cen, tr, dual)
    err = tenant.fails("ModifyVpnAttachmentAttribute", VpnConnectionId=dual, Name="nope")
    assert err.code == "OperationUnsupported.Name", err.data
    tenant("ModifyVpnAttachmentAttribute", VpnConnectionId=dual, RemoteSubnet="192.168.5.0/24",
           EffectImmediately=False)
    conn = describe(tenant, dual)
    assert (conn["RemoteSubnet"], conn["EffectImmediately"], conn["Name"]) == ("192.168.5.0/24", False, "")


def test_tenants_see_and_use_only_their_own_transit_resources(server, tenant):
    other = server.create_account("transit-other")
    cen, tr, table = make_transit_router(tenant)
    vco = make_unattached(server, tenant)
    att = attach(tenant, cen, tr, vco)

    assert other.cbn("DescribeCens")["Cens"]["Cen"] == []
    assert other.cbn("ListTransitRouters", TransitRouterId=tr)["TransitRouters"] == []
    assert other.cbn("ListTransitRouterVpnAttachments")["TransitRouterAttachments"] == []
    assert other("DescribeVpnAttachments")["VpnAttachments"] == []
    checks = [
        ("CreateTransitRouter", {"CenId": cen}, "CenId"),
        ("DeleteCen", {"CenId": cen}, "CenId"),
        ("DeleteTransitRouter", {"TransitRouterId": tr}, "TransitRouterId"),
        ("ListTransitRouterRouteEntries", {"TransitRouterRouteTableId": table}, "TransitRouterRouteTableId"),
        ("DeleteTransitRouterVpnAttachment", {"TransitRouterAttachmentId": att}, "TransitRouterAttachmentId"),
        ("EnableTransitRouterRouteTablePropagation",
         {"TransitRouterAttachmentId": att, "TransitRouterRouteTableId": table}, "TransitRouterAttachmentId"),
    ]
    for action, fields, field in checks:
        err = other.cbn_fails(action, **fields)
        assert err.status_code == 404 and error_names(err, field), (action, err.data)
    # Another tenant's connection, named without its owner, is simply not found in the caller's account.
    ocen, otr, _ = make_transit_router(other)
    err = other.cbn_fails("CreateTransitRouterVpnAttachment", CenId=ocen, TransitRouterId=otr,
                          VpnId=make_unattached(server, tenant))
    assert err.status_code == 404 and error_names(err, "VpnId"), err.data
    assert describe(tenant, vco)["TransitRouterId"] == tr


def _dropped(raw, kept, path=""):
    """Fields of `raw` that the SDK's model round trip (`kept`) lost, as dotted paths."""
    if isinstance(raw, dict):
        kept = kept if isinstance(kept, dict) else {}
        out = []
        for k, v in raw.items():
            out += [f"{path}{k}"] if k not in kept else _dropped(v, kept[k], f"{path}{k}.")
        return out
    if isinstance(raw, list):
        kept = kept if isinstance(kept, list) else []
        return [d for i, v in enumerate(raw) for d in _dropped(v, kept[i] if i < len(kept) else None, path)]
    return []


def test_answers_carry_only_fields_the_sdk_response_models_know(server, tenant):
    from alibabacloud_cbn20170912 import models as cbn_models
    from alibabacloud_vpc20160428 import models as vpc_models

    other = server.create_account("shape-b")
    cen, tr, table = make_transit_router(tenant)
    vco = make_unattached(server, tenant, dual=True)
    granted = make_unattached(server, tenant)
    ocen = other.cbn("CreateCen")["CenId"]
    tenant.cbn("GrantInstanceToTransitRouter", InstanceType="VPN", InstanceId=granted, CenId=ocen,
               CenOwnerId=int(other.account_id))
    att = attach(tenant, cen, tr, vco)
    tenant.cbn("CreateTransitRouterVpcAttachment", CenId=cen, TransitRouterId=tr, VpcId="vpc-local",
               ZoneMappings=[{"ZoneId": "zone-a"}])
    cbn = "2017-09-12"
    calls = [
        (cbn, "DescribeCens", {}),
        (cbn, "ListTransitRouters", {}),
        (cbn, "ListTransitRouterRouteTables", {"TransitRouterId": tr}),
        (cbn, "ListTransitRouterVpnAttachments", {}),
        (cbn, "ListTransitRouterVpcAttachments", {}),
        (cbn, "ListTransitRouterRouteEntries", {"TransitRouterRouteTableId": table}),
        (cbn, "ListTransitRouterRouteTablePropagations", {"TransitRouterRouteTableId": table}),
        (cbn, "ListTransitRouterRouteTableAssociations", {"TransitRouterRouteTableId": table}),
        (cbn, "CreateCen", {}),
        (cbn, "UpdateTransitRouterVpnAttachmentAttribute", {"TransitRouterAttachmentId": att}),
        ("2016-04-28", "DescribeVpnAttachments", {}),
        ("2016-04-28", "DescribeVpnCrossAccountAuthorizations", {"VpnConnectionId": granted}),
        ("2016-04-28", "CreateVpnAttachment", {"LocalSubnet": "10.0.0.0/16", "RemoteSubnet": "192.168.0.0/24",
                                               "CustomerGatewayId": make_cgw(server, tenant)[0]}),
    ]
    # ModifyVpnAttachmentAttribute answers the connection view ModifyVpnConnectionAttribute answers (a superset of
    # its model); the tests above read it through the SDK. Shown for raw callers only: the route table flags of an attachment and its region.
    extras = {"RouteTableAssociationEnabled", "RouteTablePropagationEnabled", "RegionId"}
    for version, action, fields in calls:
        raw = tenant.raw(action, version=version, **fields)
        models = cbn_models if version == cbn else vpc_models
        kept = getattr(models, f"{action}ResponseBody")().from_map(raw).to_map()
        lost = [d for d in _dropped(raw, kept) if d.rsplit(".", 1)[-1] not in extras]
        assert not lost, f"{action}: the SDK model drops {lost}"
