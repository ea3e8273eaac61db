"""Cross-account attachment through the official SDKs (issue #7 scope 4): tenant A grants tenant B's CEN its
connection (GrantInstanceToTransitRouter), B attaches it to its own transit router, and the rules around it."""

from __future__ import annotations

from api_builders import error_names
from transit_builders import make_transit_router, make_unattached, route_entries


def test_a_tenant_attaches_another_tenants_connection_only_while_granted(server):
    a = server.create_account("owner-a")
    b = server.create_account("cen-b")
    vco = make_unattached(server, a)
    cen, tr, table = make_transit_router(b)
    request = {"CenId": cen, "TransitRouterId": tr, "VpnId": vco, "VpnOwnerId": int(a.account_id)}
    grant = {"InstanceType": "VPN", "InstanceId": vco, "CenId": cen, "CenOwnerId": int(b.account_id)}

    err = b.cbn_fails("CreateTransitRouterVpnAttachment", **request)
    assert err.status_code == 403 and error_names(err, "VpnOwnerId"), err.data
    assert a("DescribeVpnConnection", VpnConnectionId=vco)["AttachType"] == "NO_ASSOCIATED"
    assert a("DescribeVpnCrossAccountAuthorizations", VpnConnectionId=vco)["CrossAccountAuthorizations"] == []

    a.cbn("GrantInstanceToTransitRouter", OrderType="PayByResourceOwner", **grant)
    grants = a("DescribeVpnCrossAccountAuthorizations", VpnConnectionId=vco)["CrossAccountAuthorizations"]
    assert [(g["VpnConnectionId"], g["BindInstance"], g["BindUid"], g["AliUid"], g["BindProduct"]) for g in grants] \
        == [(vco, cen, int(b.account_id), int(a.account_id), "CEN")]
    assert a("DescribeVpnConnection", VpnConnectionId=vco)["CrossAccountAuthorized"] is True
    # The grant is for B: a third tenant's CEN still cannot take the connection.
    c = server.create_account("third-c")
    ccen, ctr, _ = make_transit_router(c)
    err = c.cbn_fails("CreateTransitRouterVpnAttachment", CenId=ccen, TransitRouterId=ctr, VpnId=vco,
                      VpnOwnerId=int(a.account_id))
    assert err.status_code == 403, err.data

    att = b.cbn("CreateTransitRouterVpnAttachment", **request)["TransitRouterAttachmentId"]
    conn = a("DescribeVpnConnection", VpnConnectionId=vco)
    assert (conn["AttachType"], conn["TransitRouterId"], conn["InternetIp"]) == ("CEN", tr, "203.0.113.1")
    assert conn["TransitRouterName"] == "tr", "the owner sees the name of the grantee's transit router"
    rows = b.cbn("ListTransitRouterVpnAttachments", TransitRouterId=tr)["TransitRouterAttachments"]
    assert [(r["TransitRouterAttachmentId"], r["VpnId"], r["VpnOwnerId"], r["OrderType"]) for r in rows] == [
        (att, vco, int(a.account_id), "PayByResourceOwner")]
    assert a.cbn("ListTransitRouterVpnAttachments")["TransitRouterAttachments"] == [], "the attachment is B's"
    assert [e[0] for e in route_entries(b, table)] == ["192.168.0.0/24"]

    # Only while attached to nothing can A grant or revoke; nor can it delete the attached connection.
    for action in ("GrantInstanceToTransitRouter", "RevokeInstanceFromTransitRouter"):
        err = a.cbn_fails(action, **grant)
        assert err.status_code == 400 and error_names(err, "InstanceId"), (action, err.data)
    err = a.fails("DeleteVpnConnection", VpnConnectionId=vco)
    assert error_names(err, "detach"), err.data

    b.cbn("DeleteTransitRouterVpnAttachment", TransitRouterAttachmentId=att)
    assert a("DescribeVpnConnection", VpnConnectionId=vco)["AttachType"] == "NO_ASSOCIATED"
    a.cbn("RevokeInstanceFromTransitRouter", **grant)
    assert a("DescribeVpnCrossAccountAuthorizations", VpnConnectionId=vco)["CrossAccountAuthorizations"] == []
    assert a("DescribeVpnConnection", VpnConnectionId=vco)["CrossAccountAuthorized"] is False
    err = b.cbn_fails("CreateTransitRouterVpnAttachment", **request)
    assert err.status_code == 403 and error_names(err, "VpnOwnerId"), err.data
    err = a.cbn_fails("RevokeInstanceFromTransitRouter", **grant)
    assert err.status_code == 404, err.data


def test_grants_name_the_bad_field_and_write_nothing(server):
    a = server.create_account("grant-a")
    b = server.create_account("grant-b")
    vco = make_unattached(server, a)
    cen, _, _ = make_transit_router(b)
    good = {"InstanceType": "VPN", "InstanceId": vco, "CenId": cen, "CenOwnerId": int(b.account_id)}
    cases = [
        ({"OrderType": "PayByNobody"}, "OrderType", 400),
        ({"InstanceType": "VPC"}, "InstanceType", 400),
        ({"InstanceId": "vco-doesnotexist0000000"}, "InstanceId", 404),
        ({"CenId": "cen-doesnotexist0000000"}, "CenId", 404),
        ({"CenOwnerId": int(a.account_id)}, "CenId", 404),
    ]
    for change, field, status in cases:
        err = a.cbn_fails("GrantInstanceToTransitRouter", **{**good, **change})
        assert err.status_code == status and error_names(err, field), (change, err.data)
    assert a("DescribeVpnCrossAccountAuthorizations", VpnConnectionId=vco)["CrossAccountAuthorizations"] == []
    # B cannot grant A's connection: it does not exist in B's account.
    err = b.cbn_fails("GrantInstanceToTransitRouter", **good)
    assert err.status_code == 404 and error_names(err, "InstanceId"), err.data

