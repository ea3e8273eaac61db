//! The API end to end, in process (no sockets): signed RPC requests in, Alibaba-shaped JSON out.
//! Requests are signed with the RPC HMAC-SHA1 scheme, whose string to sign is checked against the
//! SDK's own signer in tests/signatures.rs.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use hmac::{KeyInit, Mac};
use serde_json::Value;
use std::sync::Arc;
use strait_api::config::{Config, Zone};
use strait_api::sign::{SignedRequest, rpc_string_to_sign};
use strait_api::{Api, ChangeOp};
use strait_model::{
    BgpRoute, Diagnosis, FailureCode, NegotiationStatus, ParamMismatch, ProbeStatus, Severity,
    TunnelParam, TunnelStatus, VpnConnection,
};
use strait_store::{Account, Store};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tower::ServiceExt;

struct World {
    api: Arc<Api>,
    store: Arc<Store>,
    alice: Account,
    bob: Account,
    _dir: tempfile::TempDir,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (alice, bob) = store
        .write(|tx| {
            Ok::<_, strait_store::StoreError>((
                tx.create_account("alice")?,
                tx.create_account("bob")?,
            ))
        })
        .unwrap();
    let mut config = Config::default();
    config.zones.push(Zone {
        id: "zone-b".into(),
        gateway_ips: vec!["192.0.2.2".parse().unwrap()],
        private_gateway_ips: Vec::new(),
    });
    let store = Arc::new(store);
    World {
        api: Api::new(config, store.clone()),
        store,
        alice,
        bob,
        _dir: dir,
    }
}

/// A request as aliyun-python-sdk-core sends it: every parameter in the query, signed with HMAC-SHA1.
struct Call<'a> {
    account: &'a Account,
    secret: String,
    action: &'a str,
    params: Vec<(String, String)>,
    timestamp: OffsetDateTime,
    nonce: String,
    signed: bool,
}

fn call<'a>(account: &'a Account, action: &'a str, params: &[(&str, &str)]) -> Call<'a> {
    Call {
        account,
        secret: account.access_key_secret.clone(),
        action,
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        timestamp: OffsetDateTime::now_utc(),
        nonce: uuid::Uuid::new_v4().to_string(),
        signed: true,
    }
}

impl Call<'_> {
    fn query(&self) -> Vec<(String, String)> {
        let mut q: Vec<(String, String)> = vec![
            ("Action".into(), self.action.into()),
            ("Version".into(), "2016-04-28".into()),
            ("Format".into(), "JSON".into()),
            ("AccessKeyId".into(), self.account.access_key_id.clone()),
            ("SignatureMethod".into(), "HMAC-SHA1".into()),
            ("SignatureVersion".into(), "1.0".into()),
            ("SignatureNonce".into(), self.nonce.clone()),
            (
                "Timestamp".into(),
                self.timestamp
                    .replace_nanosecond(0)
                    .unwrap()
                    .format(&Rfc3339)
                    .unwrap(),
            ),
        ];
        q.extend(self.params.iter().cloned());
        if self.signed {
            let headers = axum::http::HeaderMap::new();
            let req = SignedRequest {
                method: "GET",
                path: "/",
                query: &q,
                form: &[],
                headers: &headers,
                body: b"",
            };
            let mut mac =
                hmac::Hmac::<sha1::Sha1>::new_from_slice(format!("{}&", self.secret).as_bytes())
                    .unwrap();
            mac.update(rpc_string_to_sign(&req).as_bytes());
            q.push((
                "Signature".into(),
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()),
            ));
        }
        q
    }

    async fn send(&self, api: &Arc<Api>) -> (StatusCode, Value) {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.query())
            .finish();
        let req = Request::get(format!("/?{query}"))
            .header("host", "strait.test")
            .body(Body::empty())
            .unwrap();
        let resp = api.router().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }
}

async fn ok(api: &Arc<Api>, c: Call<'_>) -> Value {
    let (status, body) = c.send(api).await;
    assert_eq!(status, StatusCode::OK, "{} failed: {body}", c.action);
    assert!(
        body["RequestId"].as_str().is_some_and(|r| r.len() == 36),
        "{body}"
    );
    body
}

/// Asserts an Alibaba-shaped error with this status and code, and returns its message.
async fn err(api: &Arc<Api>, c: Call<'_>, status: StatusCode, code: &str) -> String {
    let (got, body) = c.send(api).await;
    assert_eq!(
        (got, body["Code"].as_str()),
        (status, Some(code)),
        "{} answered {body}",
        c.action
    );
    for key in ["RequestId", "HostId", "Code", "Message", "Recommend"] {
        assert!(body[key].is_string(), "{key} missing from {body}");
    }
    assert_eq!(body["HostId"], "strait.test");
    body["Message"].as_str().unwrap().to_string()
}

impl World {
    /// Sends `action` signed by `account` and asserts it succeeds.
    async fn ok(&self, account: &Account, action: &str, params: &[(&str, &str)]) -> Value {
        ok(&self.api, call(account, action, params)).await
    }

    /// Sends `action` signed by `account` and asserts it fails with this status and code.
    async fn err(
        &self,
        account: &Account,
        action: &str,
        params: &[(&str, &str)],
        status: StatusCode,
        code: &str,
    ) -> String {
        err(&self.api, call(account, action, params), status, code).await
    }

    /// The `TotalCount` of a Describe action without filters.
    async fn total(&self, account: &Account, action: &str) -> Value {
        self.ok(account, action, &[]).await["TotalCount"].clone()
    }

    async fn describe_connection(&self, account: &Account, vco: &str) -> Value {
        self.ok(
            account,
            "DescribeVpnConnection",
            &[("VpnConnectionId", vco)],
        )
        .await
    }

    async fn gateway(&self, account: &Account) -> String {
        let body = self
            .ok(
                account,
                "CreateVpnGateway",
                &[("VpcId", "vpc-local"), ("Name", "gw")],
            )
            .await;
        body["VpnGatewayId"].as_str().unwrap().to_string()
    }

    async fn customer_gateway(&self, account: &Account, ip: &str, asn: &str) -> String {
        let body = self
            .ok(
                account,
                "CreateCustomerGateway",
                &[("IpAddress", ip), ("Asn", asn)],
            )
            .await;
        body["CustomerGatewayId"].as_str().unwrap().to_string()
    }

    /// Creates a single-tunnel connection 10.0.0.0/16 <-> 192.168.0.0/24 with `extra` parameters
    /// and returns it as stored.
    async fn connection(
        &self,
        account: &Account,
        gw: &str,
        cgw: &str,
        extra: &[(&str, &str)],
    ) -> strait_model::VpnConnection {
        let mut params = vec![
            ("VpnGatewayId", gw),
            ("CustomerGatewayId", cgw),
            ("LocalSubnet", "10.0.0.0/16"),
            ("RemoteSubnet", "192.168.0.0/24"),
        ];
        params.extend_from_slice(extra);
        let created = self.ok(account, "CreateVpnConnection", &params).await;
        let vco = created["VpnConnectionId"].as_str().unwrap();
        self.store
            .read(|tx| tx.get(&account.account_id, vco))
            .unwrap()
            .unwrap()
    }
}

#[tokio::test]
async fn bad_signatures_and_unknown_actions_get_alibaba_errors() {
    let w = world();
    let api = &w.api;
    let mut c = call(&w.alice, "DescribeVpnGateways", &[]);
    c.signed = false;
    err(
        api,
        c,
        StatusCode::BAD_REQUEST,
        "MissingParameter.Signature",
    )
    .await;

    let mut c = call(&w.alice, "DescribeVpnGateways", &[]);
    c.secret = w.bob.access_key_secret.clone();
    err(api, c, StatusCode::BAD_REQUEST, "SignatureDoesNotMatch").await;

    let stranger = Account {
        access_key_id: "LTAInobodyhasthiskey00".into(),
        ..w.alice.clone()
    };
    w.err(
        &stranger,
        "DescribeVpnGateways",
        &[],
        StatusCode::NOT_FOUND,
        "InvalidAccessKeyId.NotFound",
    )
    .await;

    let mut c = call(&w.alice, "DescribeVpnGateways", &[]);
    c.timestamp -= time::Duration::minutes(16);
    err(api, c, StatusCode::BAD_REQUEST, "InvalidTimeStamp.Expired").await;

    let first = call(&w.alice, "DescribeVpnGateways", &[]);
    let replay = Call {
        nonce: first.nonce.clone(),
        timestamp: first.timestamp,
        ..call(&w.alice, "DescribeVpnGateways", &[])
    };
    ok(api, first).await;
    err(api, replay, StatusCode::BAD_REQUEST, "SignatureNonceUsed").await;

    w.err(
        &w.alice,
        "DescribeEverything",
        &[],
        StatusCode::NOT_FOUND,
        "InvalidAction.NotFound",
    )
    .await;
    w.ok(&w.alice, "DescribeVpnGateways", &[("RegionId", "local-1")])
        .await;
    w.err(
        &w.alice,
        "DescribeVpnGateways",
        &[("RegionId", "cn-hangzhou")],
        StatusCode::NOT_FOUND,
        "InvalidRegionId.NotFound",
    )
    .await;
    let msg = w
        .err(
            &w.alice,
            "CreateVpnGateway",
            &[],
            StatusCode::BAD_REQUEST,
            "MissingParameter.VpcId",
        )
        .await;
    assert!(msg.contains("VpcId"), "{msg}");
}

#[tokio::test]
async fn a_tenant_cannot_read_modify_or_delete_another_tenants_resources() {
    let w = world();
    let gw = w.gateway(&w.alice).await;
    let cgw = w.customer_gateway(&w.alice, "198.51.100.1", "65530").await;

    for (action, params, code) in [
        (
            "DescribeVpnGateway",
            vec![("VpnGatewayId", gw.as_str())],
            "InvalidVpnGatewayInstanceId.NotFound",
        ),
        (
            "ModifyVpnGatewayAttribute",
            vec![("VpnGatewayId", gw.as_str()), ("Name", "mine")],
            "InvalidVpnGatewayInstanceId.NotFound",
        ),
        (
            "DeleteVpnGateway",
            vec![("VpnGatewayId", gw.as_str())],
            "InvalidVpnGatewayInstanceId.NotFound",
        ),
        (
            "DeleteCustomerGateway",
            vec![("CustomerGatewayId", cgw.as_str())],
            "InvalidCustomerGatewayInstanceId.NotFound",
        ),
    ] {
        w.err(&w.bob, action, &params, StatusCode::NOT_FOUND, code)
            .await;
    }
    // Bob's own gateway cannot reach Alice's customer gateway either.
    let bob_gw = w.gateway(&w.bob).await;
    w.err(
        &w.bob,
        "CreateVpnConnection",
        &[
            ("VpnGatewayId", &bob_gw),
            ("CustomerGatewayId", &cgw),
            ("LocalSubnet", "10.0.0.0/16"),
            ("RemoteSubnet", "192.168.0.0/24"),
        ],
        StatusCode::NOT_FOUND,
        "InvalidCustomerGatewayId.NotFound",
    )
    .await;
    let bobs = w.ok(&w.bob, "DescribeVpnGateways", &[]).await;
    assert_eq!(bobs["TotalCount"], 1);
    assert_eq!(
        bobs["VpnGateways"]["VpnGateway"][0]["VpnGatewayId"],
        bob_gw.as_str()
    );

    let mine = w
        .ok(&w.alice, "DescribeVpnGateway", &[("VpnGatewayId", &gw)])
        .await;
    assert_eq!(
        (mine["Name"].as_str(), mine["Status"].as_str()),
        (Some("gw"), Some("active"))
    );
}

#[tokio::test]
async fn client_token_repeats_the_first_answer_and_dry_run_creates_nothing() {
    let w = world();
    let params = [("IpAddress", "198.51.100.9"), ("ClientToken", "token-1")];
    let first = w.ok(&w.alice, "CreateCustomerGateway", &params).await;
    let again = w.ok(&w.alice, "CreateCustomerGateway", &params).await;
    assert_eq!(first["CustomerGatewayId"], again["CustomerGatewayId"]);
    assert_ne!(first["RequestId"], again["RequestId"]);
    assert_eq!(w.total(&w.alice, "DescribeCustomerGateways").await, 1);

    let gw = w.gateway(&w.alice).await;
    let cgw = first["CustomerGatewayId"].as_str().unwrap();
    let conn = [
        ("VpnGatewayId", gw.as_str()),
        ("CustomerGatewayId", cgw),
        ("LocalSubnet", "10.0.0.0/16"),
        ("RemoteSubnet", "192.168.0.0/24"),
    ];
    let dry: Vec<(&str, &str)> = conn.iter().copied().chain([("DryRun", "true")]).collect();
    w.err(
        &w.alice,
        "CreateVpnConnection",
        &dry,
        StatusCode::BAD_REQUEST,
        "DryRunOperation",
    )
    .await;
    let invalid_dry: Vec<(&str, &str)> = dry
        .iter()
        .copied()
        .chain([("IkeConfig", r#"{"IkeLifetime":"86401"}"#)])
        .collect();
    let msg = w
        .err(
            &w.alice,
            "CreateVpnConnection",
            &invalid_dry,
            StatusCode::BAD_REQUEST,
            "InvalidParameter.IkeLifetime",
        )
        .await;
    assert!(msg.contains("IkeConfig.IkeLifetime"), "{msg}");
    assert_eq!(w.total(&w.alice, "DescribeVpnConnections").await, 0);
    w.ok(&w.alice, "CreateVpnConnection", &conn).await;
    assert_eq!(w.total(&w.alice, "DescribeVpnConnections").await, 1);
}

fn tunnel_params<'a>(
    gw: &'a str,
    cgw1: &'a str,
    cgw2: &'a str,
    second_cidr: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("VpnGatewayId", gw),
        ("LocalSubnet", "10.0.0.0/16"),
        ("RemoteSubnet", "192.168.0.0/24,192.168.1.0/24"),
        ("EnableTunnelsBgp", "true"),
        ("TunnelOptionsSpecification.1.CustomerGatewayId", cgw1),
        ("TunnelOptionsSpecification.1.Role", "master"),
        (
            "TunnelOptionsSpecification.1.TunnelIkeConfig.Psk",
            "s3cret-1",
        ),
        (
            "TunnelOptionsSpecification.1.TunnelIkeConfig.IkePfs",
            "group14",
        ),
        (
            "TunnelOptionsSpecification.1.TunnelIpsecConfig.IpsecPfs",
            "group14",
        ),
        (
            "TunnelOptionsSpecification.1.TunnelBgpConfig.LocalAsn",
            "65531",
        ),
        (
            "TunnelOptionsSpecification.1.TunnelBgpConfig.TunnelCidr",
            "169.254.10.0/30",
        ),
        (
            "TunnelOptionsSpecification.1.TunnelBgpConfig.LocalBgpIp",
            "169.254.10.1",
        ),
        ("TunnelOptionsSpecification.2.CustomerGatewayId", cgw2),
        ("TunnelOptionsSpecification.2.Role", "slave"),
        (
            "TunnelOptionsSpecification.2.TunnelBgpConfig.LocalAsn",
            "65531",
        ),
        (
            "TunnelOptionsSpecification.2.TunnelBgpConfig.TunnelCidr",
            second_cidr,
        ),
        (
            "TunnelOptionsSpecification.2.TunnelBgpConfig.LocalBgpIp",
            "169.254.11.1",
        ),
    ]
}

#[tokio::test]
async fn dual_tunnel_connections_round_trip_in_the_sdk_shape_and_failures_write_nothing() {
    let w = world();
    let gw = w.gateway(&w.alice).await;
    let cgw1 = w.customer_gateway(&w.alice, "198.51.100.1", "65530").await;
    let cgw2 = w.customer_gateway(&w.alice, "198.51.100.2", "65530").await;

    // The second tunnel's CIDR is reserved: the whole request fails and nothing is stored.
    let msg = w
        .err(
            &w.alice,
            "CreateVpnConnection",
            &tunnel_params(&gw, &cgw1, &cgw2, "169.254.6.0/30"),
            StatusCode::BAD_REQUEST,
            "InvalidParameter.TunnelCidr",
        )
        .await;
    assert!(
        msg.contains("TunnelOptionsSpecification.2.TunnelBgpConfig.TunnelCidr"),
        "{msg}"
    );
    assert_eq!(w.total(&w.alice, "DescribeVpnConnections").await, 0);

    let mut changes = w.api.subscribe();
    let created = w
        .ok(
            &w.alice,
            "CreateVpnConnection",
            &tunnel_params(&gw, &cgw1, &cgw2, "169.254.11.0/30"),
        )
        .await;
    let vco = created["VpnConnectionId"].as_str().unwrap().to_string();
    let change = changes.try_recv().unwrap();
    assert_eq!(
        (change.kind, change.id.as_str(), change.op),
        ("VpnConnection", vco.as_str(), ChangeOp::Created)
    );
    assert_eq!(change.account_id, w.alice.account_id);

    let body = w.describe_connection(&w.alice, &vco).await;
    assert_eq!(body["RemoteSubnet"], "192.168.0.0/24,192.168.1.0/24");
    assert_eq!(body["EffectImmediately"], true);
    let tunnels = body["TunnelOptionsSpecification"]["TunnelOptions"]
        .as_array()
        .unwrap();
    assert_eq!(tunnels.len(), 2);
    let (t1, t2) = (&tunnels[0], &tunnels[1]);
    assert_eq!(
        (t1["InternetIp"].as_str(), t2["InternetIp"].as_str()),
        (Some("192.0.2.1"), Some("192.0.2.2"))
    );
    assert_eq!(
        (t1["Role"].as_str(), t2["Role"].as_str()),
        (Some("master"), Some("slave"))
    );
    assert_eq!(t1["EnableDpd"], "true");
    assert_eq!(t1["TunnelIkeConfig"]["IkeVersion"], "ikev2");
    assert_eq!(t1["TunnelIkeConfig"]["Psk"], "s3cret-1");
    assert_eq!(t1["TunnelIkeConfig"]["IkePfs"], "group14");
    assert_eq!(t1["TunnelIkeConfig"]["IkeLifetime"], "86400");
    assert_eq!(
        t2["TunnelIkeConfig"]["Psk"].as_str().map(str::len),
        Some(16)
    );
    assert_eq!(t2["TunnelIkeConfig"]["RemoteId"], "198.51.100.2");
    assert_eq!(t1["TunnelBgpConfig"]["LocalAsn"], "65531");
    assert_eq!(t1["TunnelBgpConfig"]["PeerAsn"], "65530");
    assert_eq!(t2["TunnelBgpConfig"]["PeerBgpIp"], "169.254.11.2");

    let tunnel_id = t2["TunnelId"].as_str().unwrap().to_string();
    let modified = w
        .ok(
            &w.alice,
            "ModifyTunnelAttribute",
            &[
                ("VpnConnectionId", &vco),
                ("TunnelId", &tunnel_id),
                ("TunnelOptionsSpecification.TunnelIkeConfig.Psk", "new-key"),
                ("TunnelOptionsSpecification.EnableDpd", "false"),
            ],
        )
        .await;
    assert_eq!(
        (
            modified["TunnelId"].as_str(),
            modified["EnableDpd"].as_bool()
        ),
        (Some(tunnel_id.as_str()), Some(false))
    );
    let body = w.describe_connection(&w.alice, &vco).await;
    assert_eq!(
        body["TunnelOptionsSpecification"]["TunnelOptions"][1]["TunnelIkeConfig"]["Psk"],
        "new-key"
    );
    assert_eq!(
        body["TunnelOptionsSpecification"]["TunnelOptions"][0]["TunnelIkeConfig"]["Psk"],
        "s3cret-1"
    );
    // The same object sent as one JSON parameter.
    let json_spec = r#"{"TunnelIkeConfig":{"IkeLifetime":"3600"}}"#;
    let modified = w
        .ok(
            &w.alice,
            "ModifyTunnelAttribute",
            &[
                ("VpnConnectionId", &vco),
                ("TunnelId", &tunnel_id),
                ("TunnelOptionsSpecification", json_spec),
            ],
        )
        .await;
    assert_eq!(modified["TunnelIkeConfig"]["IkeLifetime"], 3600);
    assert_eq!(modified["TunnelIkeConfig"]["Psk"], "new-key");

    // Routes go with their connection; the gateway can then be deleted.
    w.ok(
        &w.alice,
        "CreateVpnRouteEntry",
        &[
            ("VpnGatewayId", &gw),
            ("RouteDest", "192.168.5.0/24"),
            ("NextHop", &vco),
            ("Weight", "100"),
            ("PublishVpc", "true"),
        ],
    )
    .await;
    w.err(
        &w.alice,
        "DeleteVpnGateway",
        &[("VpnGatewayId", &gw)],
        StatusCode::BAD_REQUEST,
        "DependencyViolation.VpnConnection",
    )
    .await;
    w.ok(
        &w.alice,
        "DeleteVpnConnection",
        &[("VpnConnectionId", &vco)],
    )
    .await;
    assert_eq!(
        w.ok(
            &w.alice,
            "DescribeVpnRouteEntries",
            &[("VpnGatewayId", &gw)]
        )
        .await["TotalCount"],
        0
    );
    w.ok(&w.alice, "DeleteVpnGateway", &[("VpnGatewayId", &gw)])
        .await;
}

#[tokio::test]
async fn lists_page_and_filter_by_tag() {
    let w = world();
    for (i, env) in ["prod", "test", "prod"].iter().enumerate() {
        let ip = format!("198.51.100.{}", i + 1);
        w.ok(
            &w.alice,
            "CreateCustomerGateway",
            &[
                ("IpAddress", &ip),
                ("Tags.1.Key", "env"),
                ("Tags.1.Value", env),
            ],
        )
        .await;
    }
    let page = w
        .ok(
            &w.alice,
            "DescribeCustomerGateways",
            &[("PageSize", "2"), ("PageNumber", "2")],
        )
        .await;
    assert_eq!(
        (
            page["TotalCount"].as_u64(),
            page["PageNumber"].as_u64(),
            page["PageSize"].as_u64()
        ),
        (Some(3), Some(2), Some(2))
    );
    let items = page["CustomerGateways"]["CustomerGateway"]
        .as_array()
        .unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["IpAddress"], "198.51.100.3");
    let prod = w
        .ok(
            &w.alice,
            "DescribeCustomerGateways",
            &[("Tag.1.Key", "env"), ("Tag.1.Value", "prod")],
        )
        .await;
    assert_eq!(prod["TotalCount"], 2);
    w.err(
        &w.alice,
        "DescribeCustomerGateways",
        &[("PageSize", "51")],
        StatusCode::BAD_REQUEST,
        "InvalidParameter.PageSize",
    )
    .await;

    let id = items[0]["CustomerGatewayId"].as_str().unwrap();
    w.ok(
        &w.alice,
        "TagResources",
        &[
            ("ResourceType", "CustomerGateway"),
            ("ResourceId.1", id),
            ("Tag.1.Key", "team"),
            ("Tag.1.Value", "net"),
        ],
    )
    .await;
    let listed = w
        .ok(
            &w.alice,
            "ListTagResources",
            &[
                ("ResourceType", "CUSTOMERGATEWAY"),
                ("ResourceId.1", id),
                ("MaxResults", "1"),
            ],
        )
        .await;
    assert_eq!(listed["TagResources"]["TagResource"][0]["TagKey"], "env");
    let next = listed["NextToken"].as_str().unwrap();
    let rest = w
        .ok(
            &w.alice,
            "ListTagResources",
            &[
                ("ResourceType", "CustomerGateway"),
                ("ResourceId.1", id),
                ("NextToken", next),
            ],
        )
        .await;
    assert_eq!(rest["TagResources"]["TagResource"][0]["TagKey"], "team");
    assert_eq!(rest["NextToken"], "");
    w.ok(
        &w.alice,
        "UnTagResources",
        &[
            ("ResourceType", "CustomerGateway"),
            ("ResourceId.1", id),
            ("TagKey.1", "env"),
        ],
    )
    .await;
    let left = w
        .ok(
            &w.alice,
            "DescribeCustomerGateway",
            &[("CustomerGatewayId", id)],
        )
        .await;
    assert_eq!(
        left["Tags"]["Tag"],
        serde_json::json!([{"Key": "team", "Value": "net"}])
    );
}

#[tokio::test]
async fn describe_shows_the_tunnel_state_the_gateway_observed() {
    let w = world();
    let gw = w.gateway(&w.alice).await;
    let cgw = w.customer_gateway(&w.alice, "198.51.100.1", "65530").await;
    let bgp = r#"{"EnableBgp":"true","LocalAsn":"65531","TunnelCidr":"169.254.10.0/30","LocalBgpIp":"169.254.10.1"}"#;
    let conn = w
        .connection(&w.alice, &gw, &cgw, &[("BgpConfig", bgp)])
        .await;
    let vco = conn.vpn_connection_id.as_str();
    let body = w.describe_connection(&w.alice, vco).await;
    assert_eq!(
        (
            body["Status"].as_str(),
            body["VpnBgpConfig"]["Status"].as_str()
        ),
        (Some("ike_sa_not_established"), Some(""))
    );

    let status = TunnelStatus {
        status: NegotiationStatus::IpsecSaEstablished,
        detail: String::new(),
        bgp_status: Some(ProbeStatus::Success),
        health_check_status: None,
        diagnosis: None,
        bgp_routes: Vec::new(),
    };
    let tunnel_id = &conn.tunnel_options[0].tunnel_id;
    w.store
        .write(|tx| tx.set_tunnel_status(&w.alice.account_id, vco, tunnel_id, &status))
        .unwrap();
    let body = w.describe_connection(&w.alice, vco).await;
    assert_eq!(
        (
            body["Status"].as_str(),
            body["VpnBgpConfig"]["Status"].as_str()
        ),
        (Some("ipsec_sa_established"), Some("success"))
    );
    let listed = w.ok(&w.alice, "DescribeVpnConnections", &[]).await;
    assert_eq!(
        listed["VpnConnections"]["VpnConnection"][0]["Status"],
        "ipsec_sa_established"
    );
}

#[tokio::test]
async fn route_entries_list_the_routes_learned_over_bgp_beside_the_static_ones() {
    let w = world();
    let gw = w.gateway(&w.alice).await;
    let cgw = w.customer_gateway(&w.alice, "198.51.100.1", "65530").await;
    let bgp = r#"{"EnableBgp":"true","LocalAsn":"65531","TunnelCidr":"169.254.10.0/30","LocalBgpIp":"169.254.10.1"}"#;
    let conn = w
        .connection(&w.alice, &gw, &cgw, &[("BgpConfig", bgp)])
        .await;
    let vco = conn.vpn_connection_id.as_str();
    w.ok(
        &w.alice,
        "CreateVpnRouteEntry",
        &[
            ("VpnGatewayId", gw.as_str()),
            ("RouteDest", "172.16.0.0/12"),
            ("NextHop", vco),
            ("Weight", "100"),
            ("PublishVpc", "false"),
        ],
    )
    .await;
    let status = TunnelStatus {
        status: NegotiationStatus::IpsecSaEstablished,
        detail: String::new(),
        bgp_status: Some(ProbeStatus::Success),
        health_check_status: None,
        diagnosis: None,
        bgp_routes: vec![
            BgpRoute {
                route_dest: "192.168.0.0/24".parse().unwrap(),
                as_path: vec![65530],
            },
            BgpRoute {
                route_dest: "192.168.1.0/24".parse().unwrap(),
                as_path: vec![65530, 65000],
            },
        ],
    };
    let tunnel_id = &conn.tunnel_options[0].tunnel_id;
    w.store
        .write(|tx| tx.set_tunnel_status(&w.alice.account_id, vco, tunnel_id, &status))
        .unwrap();
    let list = |kind: &'static str| {
        let gw = gw.clone();
        let w = &w;
        async move {
            w.ok(
                &w.alice,
                "DescribeVpnRouteEntries",
                &[("VpnGatewayId", gw.as_str()), ("RouteEntryType", kind)],
            )
            .await
        }
    };
    let learned = list("bgp").await;
    let entries = learned["VpnRouteEntries"]["VpnRouteEntry"]
        .as_array()
        .unwrap();
    let seen: Vec<(&str, &str, &str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["RouteDest"].as_str().unwrap(),
                e["NextHop"].as_str().unwrap(),
                e["NextHopTunnelId"].as_str().unwrap(),
                e["RouteEntryType"].as_str().unwrap(),
                e["AsPath"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("192.168.0.0/24", vco, tunnel_id.as_str(), "bgp", "65530"),
            (
                "192.168.1.0/24",
                vco,
                tunnel_id.as_str(),
                "bgp",
                "65530 65000"
            ),
        ]
    );
    assert_eq!(learned["TotalCount"], 2);
    let counts = &learned["VpnRouteCounts"]["VpnRouteCount"];
    assert_eq!(
        (
            counts[0]["RouteCount"].as_u64(),
            counts[1]["RouteCount"].as_u64()
        ),
        (Some(1), Some(2))
    );
    assert_eq!(list("all").await["TotalCount"], 3);
    let custom = list("custom").await;
    assert_eq!(custom["TotalCount"], 1);
    assert_eq!(
        custom["VpnRouteEntries"]["VpnRouteEntry"][0]["RouteDest"],
        "172.16.0.0/12"
    );
    w.err(
        &w.alice,
        "DescribeVpnRouteEntries",
        &[("VpnGatewayId", gw.as_str()), ("RouteEntryType", "ospf")],
        StatusCode::BAD_REQUEST,
        "InvalidParameter.RouteEntryType",
    )
    .await;

    // The connection's own route table: its static route and what its tunnel learned.
    let table = w
        .ok(
            &w.alice,
            "DescribeVcoRouteEntries",
            &[("VpnConnectionId", vco), ("RouteEntryType", "all")],
        )
        .await;
    let rows: Vec<(&str, &str, &str, Value)> = table["VcoRouteEntries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["RouteDest"].as_str().unwrap(),
                e["RouteEntryType"].as_str().unwrap(),
                e["AsPath"].as_str().unwrap(),
                e["NextHopTunnelIdList"].clone(),
            )
        })
        .collect();
    let tunnels = serde_json::json!([tunnel_id]);
    assert_eq!(
        rows,
        vec![
            ("172.16.0.0/12", "custom", "", serde_json::json!([])),
            ("192.168.0.0/24", "bgp", "65530", tunnels.clone()),
            ("192.168.1.0/24", "bgp", "65530 65000", tunnels),
        ]
    );
    assert_eq!(table["TotalCount"], 3);
    assert_eq!(table["VpnRouteCounts"][1]["RouteCount"], 2);
    w.err(
        &w.bob,
        "DescribeVcoRouteEntries",
        &[("VpnConnectionId", vco)],
        StatusCode::NOT_FOUND,
        "InvalidVpnConnectionInstanceId.NotFound",
    )
    .await;
}

/// What the gateway stores for a tunnel that failed this way (`diagnosis: None` for a healthy one).
fn failed(status: NegotiationStatus, diagnosis: Option<Diagnosis>) -> TunnelStatus {
    TunnelStatus {
        status,
        detail: String::new(),
        bgp_status: None,
        health_check_status: None,
        diagnosis,
        bgp_routes: Vec::new(),
    }
}

fn diagnosis(code: FailureCode, mismatch: ParamMismatch, summary: &str, at: i64) -> Diagnosis {
    Diagnosis {
        code,
        mismatches: vec![mismatch],
        severity: Severity::Critical,
        failed_time: at,
        summary: summary.into(),
        source_log: format!("negotiation failed: {summary}"),
    }
}

#[tokio::test]
async fn diagnose_reports_each_failing_tunnel_in_the_sdk_shape_and_describe_summarises_it() {
    let w = world();
    let gw = w.gateway(&w.alice).await;
    let cgw1 = w.customer_gateway(&w.alice, "198.51.100.1", "65530").await;
    let cgw2 = w.customer_gateway(&w.alice, "198.51.100.2", "65530").await;
    let single = w.connection(&w.alice, &gw, &cgw1, &[]).await;
    let dual_id = w
        .ok(
            &w.alice,
            "CreateVpnConnection",
            &tunnel_params(&gw, &cgw1, &cgw2, "169.254.11.0/30"),
        )
        .await["VpnConnectionId"]
        .as_str()
        .unwrap()
        .to_string();
    let dual: VpnConnection = w
        .store
        .read(|tx| tx.get(&w.alice.account_id, &dual_id))
        .unwrap()
        .unwrap();
    let (vco1, tun1) = (
        single.vpn_connection_id.as_str(),
        single.tunnel_options[0].tunnel_id.as_str(),
    );
    let (master, slave) = (
        dual.tunnel_options[0].tunnel_id.as_str(),
        dual.tunnel_options[1].tunnel_id.as_str(),
    );
    let enc = diagnosis(
        FailureCode::IkeNoProposalChosen,
        ParamMismatch {
            param: TunnelParam::IkeEncAlg,
            local: Some("aes256".into()),
            remote: Some("aes128".into()),
        },
        "phase 1 failed: no proposal chosen: our IkeEncAlg aes256, the peer offered aes128",
        1_700_000_000_001,
    );
    let psk = diagnosis(
        FailureCode::PskMismatch,
        ParamMismatch {
            param: TunnelParam::Psk,
            local: None,
            remote: None,
        },
        "phase 1 failed: pre-shared key mismatch (AUTHENTICATION_FAILED from 198.51.100.2)",
        1_700_000_000_002,
    );
    let statuses = [
        (
            vco1,
            tun1,
            failed(NegotiationStatus::IkeSaNotEstablished, Some(enc)),
        ),
        // Up again: an old diagnosis is no longer a failure.
        (
            dual_id.as_str(),
            master,
            failed(NegotiationStatus::IpsecSaEstablished, Some(psk.clone())),
        ),
        (
            dual_id.as_str(),
            slave,
            failed(NegotiationStatus::IkeSaNotEstablished, Some(psk)),
        ),
    ];
    w.store
        .write(|tx| {
            for (vco, tun, status) in &statuses {
                tx.set_tunnel_status(&w.alice.account_id, vco, tun, status)?;
            }
            Ok::<_, strait_store::StoreError>(())
        })
        .unwrap();

    let all = w
        .ok(&w.alice, "DiagnoseVpnConnections", &[("VpnGatewayId", &gw)])
        .await;
    assert_eq!(
        (&all["TotalCount"], &all["PageNumber"], &all["PageSize"]),
        (&Value::from(2), &Value::from(1), &Value::from(10))
    );
    let entries = all["VpnConnections"].as_array().unwrap();
    let first = &entries[0];
    assert_eq!(first["VpnConnectionId"], vco1);
    assert_eq!(first["TunnelId"], tun1);
    assert_eq!(first["FailedReasonCode"], "IKE_NO_PROPOSAL_CHOSEN");
    assert_eq!(first["MismatchLocalParam"], "IkeEncAlg=aes256");
    assert_eq!(first["MismatchRemoteParam"], "IkeEncAlg=aes128");
    assert_eq!(first["Severity"], "Critical");
    assert_eq!(first["FailedTime"], 1_700_000_000_001i64);
    assert!(
        first["FailedReason"]
            .as_str()
            .unwrap()
            .contains("IkeEncAlg aes256")
    );
    assert!(
        first["SourceLog"]
            .as_str()
            .unwrap()
            .starts_with("negotiation failed")
    );
    assert_eq!(
        (
            &entries[1]["TunnelId"],
            &entries[1]["FailedReasonCode"],
            &entries[1]["MismatchLocalParam"]
        ),
        (
            &Value::from(slave),
            &Value::from("PSK_MISMATCH"),
            &Value::from("Psk")
        )
    );

    // Narrowed to connections (as the SDK repeats them) or to tunnels (as a JSON array), and paged.
    let by_conn = w
        .ok(
            &w.alice,
            "DiagnoseVpnConnections",
            &[("VpnGatewayId", &gw), ("VpnConnectionIds.1", vco1)],
        )
        .await;
    assert_eq!(by_conn["TotalCount"], 1);
    assert_eq!(by_conn["VpnConnections"][0]["TunnelId"], tun1);
    let tunnels = format!(r#"["{master}", "{slave}"]"#);
    let by_tunnel = w
        .ok(
            &w.alice,
            "DiagnoseVpnConnections",
            &[("VpnGatewayId", &gw), ("TunnelIds", &tunnels)],
        )
        .await;
    assert_eq!(by_tunnel["TotalCount"], 1);
    assert_eq!(by_tunnel["VpnConnections"][0]["TunnelId"], slave);
    let page2 = w
        .ok(
            &w.alice,
            "DiagnoseVpnConnections",
            &[
                ("VpnGatewayId", &gw),
                ("PageSize", "1"),
                ("PageNumber", "2"),
            ],
        )
        .await;
    assert_eq!(page2["TotalCount"], 2);
    assert_eq!(page2["VpnConnections"].as_array().unwrap().len(), 1);
    assert_eq!(page2["VpnConnections"][0]["TunnelId"], slave);

    // Unknown or foreign ids are not found; another tenant sees nothing of alice's gateway.
    w.err(
        &w.alice,
        "DiagnoseVpnConnections",
        &[],
        StatusCode::BAD_REQUEST,
        "MissingParameter.VpnGatewayId",
    )
    .await;
    w.err(
        &w.bob,
        "DiagnoseVpnConnections",
        &[("VpnGatewayId", &gw)],
        StatusCode::NOT_FOUND,
        "InvalidVpnGatewayInstanceId.NotFound",
    )
    .await;
    w.err(
        &w.alice,
        "DiagnoseVpnConnections",
        &[("VpnGatewayId", &gw), ("VpnConnectionIds.1", "vco-nope")],
        StatusCode::NOT_FOUND,
        "InvalidVpnConnectionInstanceId.NotFound",
    )
    .await;
    w.err(
        &w.alice,
        "DiagnoseVpnConnections",
        &[
            ("VpnGatewayId", &gw),
            ("VpnConnectionIds.1", vco1),
            ("TunnelIds.1", slave),
        ],
        StatusCode::NOT_FOUND,
        "InvalidTunnelId.NotFound",
    )
    .await;

    // Describe puts the summary beside Status: top level for one tunnel, per tunnel for two.
    let body = w.describe_connection(&w.alice, vco1).await;
    assert_eq!(body["Status"], "ike_sa_not_established");
    assert_eq!(
        body["StatusDetail"],
        "phase 1 failed: no proposal chosen: our IkeEncAlg aes256, the peer offered aes128"
    );
    let body = w.describe_connection(&w.alice, &dual_id).await;
    let options = &body["TunnelOptionsSpecification"]["TunnelOptions"];
    assert_eq!(
        (
            options[0]["Status"].as_str(),
            options[0]["StatusDetail"].as_str()
        ),
        (Some("ipsec_sa_established"), Some(""))
    );
    assert!(
        options[1]["StatusDetail"]
            .as_str()
            .unwrap()
            .contains("pre-shared key mismatch"),
        "{body}"
    );
}

#[tokio::test]
async fn negotiation_logs_are_read_back_per_connection_and_window() {
    let w = world();
    let gw = w.gateway(&w.alice).await;
    let cgw = w.customer_gateway(&w.alice, "198.51.100.1", "65530").await;
    let conn = w.connection(&w.alice, &gw, &cgw, &[]).await;
    let vco = conn.vpn_connection_id.as_str();
    let tunnel = conn.tunnel_options[0].tunnel_id.clone();
    // 2026-11-23 02:00:00 UTC, then 30 s and 10 min later.
    let base_ms = 1_795_399_200_000_i64;
    w.store
        .write(|tx| {
            for (after_ms, line) in [
                (0, "IKE_SA_INIT sent"),
                (30_000, "phase 2 negotiation succeeded"),
                (600_000, "DPD timeout"),
            ] {
                tx.append_log(&w.alice.account_id, vco, &tunnel, base_ms + after_ms, line)?;
            }
            Ok::<_, strait_store::StoreError>(())
        })
        .unwrap();

    let from = (base_ms / 1000).to_string();
    let body = w
        .ok(
            &w.alice,
            "DescribeVpnConnectionLogs",
            &[
                ("VpnConnectionId", vco),
                ("From", &from),
                ("MinutePeriod", "5"),
            ],
        )
        .await;
    assert_eq!(body["Count"], 2);
    assert_eq!(body["IsCompleted"], true);
    assert_eq!(
        body["Data"]["Logs"][0],
        format!("2026-11-23 02:00:00 {tunnel}: IKE_SA_INIT sent")
    );
    assert_eq!(
        body["Data"]["Logs"][1],
        format!("2026-11-23 02:00:30 {tunnel}: phase 2 negotiation succeeded")
    );

    let page = w
        .ok(
            &w.alice,
            "DescribeVpnConnectionLogs",
            &[
                ("VpnConnectionId", vco),
                ("From", &from),
                ("MinutePeriod", "10"),
                ("PageSize", "1"),
            ],
        )
        .await;
    assert_eq!(
        (page["Count"].as_u64(), page["IsCompleted"].as_bool()),
        (Some(2), Some(false))
    );

    for (account, params, status, code) in [
        (
            &w.alice,
            vec![("VpnConnectionId", vco)],
            StatusCode::BAD_REQUEST,
            "MissingParameter.MinutePeriod",
        ),
        (
            &w.alice,
            vec![("VpnConnectionId", vco), ("MinutePeriod", "11")],
            StatusCode::BAD_REQUEST,
            "InvalidParameter.MinutePeriod",
        ),
        (
            &w.bob,
            vec![("VpnConnectionId", vco), ("MinutePeriod", "5")],
            StatusCode::NOT_FOUND,
            "InvalidVpnConnectionInstanceId.NotFound",
        ),
    ] {
        w.err(account, "DescribeVpnConnectionLogs", &params, status, code)
            .await;
    }
    // A window reaching past the end of time is clamped, not wrapped around.
    let body = w
        .ok(
            &w.alice,
            "DescribeVpnConnectionLogs",
            &[
                ("VpnConnectionId", vco),
                ("From", "9223372036854770"),
                ("MinutePeriod", "10"),
            ],
        )
        .await;
    assert_eq!(body["Count"], 0);
}

#[tokio::test]
async fn download_gives_the_devices_view_and_device_configs_to_the_owner_only() {
    let w = world();
    let gw = w.gateway(&w.alice).await;
    let cgw = w.customer_gateway(&w.alice, "198.51.100.7", "65530").await;
    let ike = r#"{"Psk":"dl-s3cret","IkeVersion":"ikev2","IkeEncAlg":"aes256","IkePfs":"group14"}"#;
    let conn = w
        .connection(&w.alice, &gw, &cgw, &[("IkeConfig", ike)])
        .await;
    let vco = conn.vpn_connection_id.as_str();
    let our_ip = conn.tunnel_options[0].internet_ip.to_string();

    let body = w
        .ok(
            &w.alice,
            "DownloadVpnConnectionConfig",
            &[("VpnConnectionId", vco)],
        )
        .await;
    let cfg = &body["VpnConnectionConfig"];
    assert_eq!(cfg["Local"], "198.51.100.7", "{body}");
    assert_eq!(cfg["Remote"], our_ip.as_str(), "{body}");
    assert_eq!(cfg["LocalSubnet"], "192.168.0.0/24", "{body}");
    assert_eq!(cfg["RemoteSubnet"], "10.0.0.0/16", "{body}");
    assert_eq!(cfg["IkeConfig"]["Psk"], "dl-s3cret", "{body}");
    assert_eq!(cfg["IkeConfig"]["IkeEncAlg"], "aes256", "{body}");
    assert_eq!(cfg["IkeConfig"]["LocalId"], "198.51.100.7", "{body}");
    assert_eq!(cfg["IkeConfig"]["RemoteId"], our_ip.as_str(), "{body}");
    assert!(body.get("DeviceConfig").is_none(), "{body}");

    let with_device = w
        .ok(
            &w.alice,
            "DownloadVpnConnectionConfig",
            &[("VpnConnectionId", vco), ("DeviceType", "strongswan")],
        )
        .await;
    assert_eq!(
        with_device["VpnConnectionConfig"],
        body["VpnConnectionConfig"]
    );
    let text = with_device["DeviceConfig"].as_str().unwrap();
    assert!(
        text.contains("dl-s3cret") && text.contains(&our_ip),
        "{text}"
    );

    let msg = w
        .err(
            &w.alice,
            "DownloadVpnConnectionConfig",
            &[("VpnConnectionId", vco), ("DeviceType", "netgear")],
            StatusCode::BAD_REQUEST,
            "InvalidParameter.DeviceType",
        )
        .await;
    assert!(
        msg.contains("netgear") && msg.contains("cisco-asa"),
        "{msg}"
    );

    // libreswan dropped single DES: the answer says so instead of a configuration that would not load.
    let des = w.customer_gateway(&w.alice, "198.51.100.8", "65530").await;
    let des_conn = w
        .connection(
            &w.alice,
            &gw,
            &des,
            &[
                (
                    "IkeConfig",
                    r#"{"IkeVersion":"ikev2","IkeEncAlg":"des","IkePfs":"group14"}"#,
                ),
                ("IpsecConfig", r#"{"IpsecPfs":"group14"}"#),
            ],
        )
        .await;
    let msg = w
        .err(
            &w.alice,
            "DownloadVpnConnectionConfig",
            &[
                ("VpnConnectionId", &des_conn.vpn_connection_id),
                ("DeviceType", "libreswan"),
            ],
            StatusCode::BAD_REQUEST,
            "OperationUnsupported.DeviceConfig",
        )
        .await;
    assert!(
        msg.contains("libreswan") && msg.contains("encryption des"),
        "{msg}"
    );

    for (account, id) in [(&w.bob, vco), (&w.alice, "vco-doesnotexist00000000")] {
        w.err(
            account,
            "DownloadVpnConnectionConfig",
            &[("VpnConnectionId", id), ("DeviceType", "strongswan")],
            StatusCode::NOT_FOUND,
            "InvalidVpnConnectionInstanceId.NotFound",
        )
        .await;
    }
}
