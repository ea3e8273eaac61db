"""Builders for the transit router tests: CEN + transit router, connections attached to nothing, attachments."""

from __future__ import annotations

from api_builders import make_cgw
from api_harness import CBN_VERSION, Api, ApiServer


def make_transit_router(api: Api) -> tuple[str, str, str]:
    """Creates a CEN instance and a transit router in it; returns (cen id, transit router id, route table id)."""
    cen = api.cbn("CreateCen", Name="cen")["CenId"]
    tr = api.cbn("CreateTransitRouter", CenId=cen, TransitRouterName="tr")["TransitRouterId"]
    tables = api.cbn("ListTransitRouterRouteTables", TransitRouterId=tr)["TransitRouterRouteTables"]
    assert len(tables) == 1, tables
    return cen, tr, tables[0]["TransitRouterRouteTableId"]


def make_unattached(server: ApiServer, api: Api, dual: bool = False, **fields) -> str:
    """Creates a connection attached to nothing (CreateVpnAttachment) on fresh customer gateways; returns its id."""
    body = {"LocalSubnet": "10.0.0.0/16", "RemoteSubnet": "192.168.0.0/24", **fields}
    if dual:
        body["TunnelOptionsSpecification"] = [
            {"CustomerGatewayId": make_cgw(server, api)[0], "TunnelIndex": 1},
            {"CustomerGatewayId": make_cgw(server, api)[0], "TunnelIndex": 2}]
    else:
        body.setdefault("CustomerGatewayId", make_cgw(server, api)[0])
    return api("CreateVpnAttachment", **body)["VpnConnectionId"]


def attach(api: Api, cen: str, tr: str, vco: str, **fields) -> str:
    """Attaches a connection to the transit router; returns the attachment id. RouteTableAssociationEnabled and
    RouteTablePropagationEnabled (not in the SDK's request model) go through call_api, with flat field names
    (e.g. `**{"Zone.1.ZoneId": "zone-b"}`)."""
    ids = {"CenId": cen, "TransitRouterId": tr, "VpnId": vco}
    if any(k.startswith("RouteTable") for k in fields):
        flat = {k: str(v).lower() if isinstance(v, bool) else v for k, v in fields.items()}
        body = api.raw("CreateTransitRouterVpnAttachment", version=CBN_VERSION, **ids, **flat)
    else:
        body = api.cbn("CreateTransitRouterVpnAttachment", **ids, **fields)
    return body["TransitRouterAttachmentId"]


def route_entries(api: Api, table: str) -> list[tuple[str, str, str]]:
    """The transit router's route table as sorted (destination, next hop attachment, resource type) rows."""
    body = api.cbn("ListTransitRouterRouteEntries", TransitRouterRouteTableId=table, MaxResults=100)
    return sorted((e["TransitRouterRouteEntryDestinationCidrBlock"], e["TransitRouterRouteEntryNextHopId"],
                   e["TransitRouterRouteEntryNextHopResourceType"]) for e in body["TransitRouterRouteEntries"])


def vpn_attachment(api: Api, attachment: str) -> dict:
    """One VPN attachment as ListTransitRouterVpnAttachments answers it (raw: with the route table flags)."""
    body = api.raw("ListTransitRouterVpnAttachments", version=CBN_VERSION, TransitRouterAttachmentId=attachment)
    rows = body["TransitRouterAttachments"]
    assert len(rows) == 1, body
    return rows[0]
