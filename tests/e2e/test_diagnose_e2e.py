"""Issue #4's diagnosis acceptance: a proposal mismatch between a connection and its strongSwan device is
named, with both sides' values, by DiagnoseVpnConnections through the official SDK."""

from __future__ import annotations

import re
import time

from e2e_sites import TIMING, UP
from helpers.netns import wait_until


def test_proposal_mismatch_is_diagnosed_with_both_sides_values(site):
    vco = site.create_single(ike={"IkeEncAlg": "aes256"})
    config = site.strongswan_config(vco)
    # The one edit this suite makes to a downloaded configuration: the device offers aes128 for IKE.
    edited, n = re.subn(r"^(\s*)proposals = aes256-", r"\1proposals = aes128-", config, flags=re.M)
    assert n == 1, config
    # strongSwan initiates once as it loads (start_action = start, keyingtries = 1): that offer is
    # all Strait hears of the peer's proposal; its own attempts only get NO_PROPOSAL_CHOSEN back.
    site.start_peer(0, edited)

    def diagnosis():
        body = site.api("DiagnoseVpnConnections", VpnGatewayId=site.gateway, VpnConnectionIds=[vco])
        return [d for d in body.get("VpnConnections") or [] if "aes128" in (d.get("MismatchRemoteParam") or "")]

    t0 = time.monotonic()
    [d] = wait_until(diagnosis, timeout=20, interval=0.5, what="DiagnoseVpnConnections naming aes128")
    took = time.monotonic() - t0
    assert d["VpnConnectionId"] == vco
    assert "IkeEncAlg" in f"{d.get('MismatchLocalParam')} {d.get('FailedReason')}", d
    assert "aes256" in d["MismatchLocalParam"], d
    assert site.statuses(vco)[0] != UP
    # Strait keeps retrying as initiator meanwhile; what it learnt of the peer's offer stays reported.
    time.sleep(TIMING["reconnect_max_ms"] / 1000 * 2)
    assert diagnosis(), "the diagnosis no longer names the peer's aes128 after Strait's own retries"
    print(f"\nproposal mismatch diagnosed after {took:.1f} s: {d}")
