//! Behaviour of the SQLite store: round trips, transactions, durability, tenancy.

use std::net::Ipv4Addr;
use strait_model::{
    AttachType, CustomerGateway, GatewayStatus, HealthCheckConfig, IdKind, IkeConfig, IpsecConfig,
    NegotiationStatus, NetworkType, ProbeStatus, Role, Tag, Tunnel, TunnelStatus, VpnConnection,
    VpnGateway,
};
use strait_store::{Page, Query, SCHEMA_VERSION, Store, StoreError};

fn gateway(vpc: &str) -> VpnGateway {
    VpnGateway {
        vpn_gateway_id: IdKind::VpnGateway.new_id(),
        name: "gw".into(),
        description: String::new(),
        vpc_id: vpc.into(),
        v_switch_id: "zone-a".into(),
        internet_ip: Ipv4Addr::new(203, 0, 113, 1),
        disaster_recovery_v_switch_id: Some("zone-b".into()),
        disaster_recovery_internet_ip: Some(Ipv4Addr::new(203, 0, 113, 2)),
        network_type: NetworkType::Public,
        status: GatewayStatus::Active,
        create_time: 1,
        resource_group_id: String::new(),
        tags: vec![],
    }
}

fn customer_gateway(last: u8) -> CustomerGateway {
    CustomerGateway {
        customer_gateway_id: IdKind::CustomerGateway.new_id(),
        name: format!("cpe{last}"),
        description: String::new(),
        ip_address: Ipv4Addr::new(198, 51, 100, last),
        asn: Some(65530),
        auth_key: None,
        create_time: 1,
        resource_group_id: String::new(),
        tags: vec![],
    }
}

fn connection(gw: &VpnGateway, cgw: &CustomerGateway, tags: Vec<Tag>) -> VpnConnection {
    VpnConnection {
        vpn_connection_id: IdKind::VpnConnection.new_id(),
        name: "c".into(),
        attach_type: AttachType::VpnGateway,
        vpn_gateway_id: Some(gw.vpn_gateway_id.clone()),
        transit_router_id: None,
        local_subnet: "0.0.0.0/0".parse().unwrap(),
        remote_subnet: "0.0.0.0/0".parse().unwrap(),
        effect_immediately: false,
        auto_config_route: true,
        network_type: NetworkType::Public,
        vco_health_check: HealthCheckConfig::default(),
        tunnel_options: vec![Tunnel {
            tunnel_id: IdKind::Tunnel.new_id(),
            tunnel_index: 1,
            role: Role::Master,
            customer_gateway_id: cgw.customer_gateway_id.clone(),
            internet_ip: gw.internet_ip,
            zone_no: gw.v_switch_id.clone(),
            enable_dpd: false,
            enable_nat_traversal: false,
            tunnel_ike_config: IkeConfig {
                psk: "0123456789abcdef".into(),
                ike_version: strait_model::IkeVersion::V1,
                ike_mode: strait_model::IkeMode::Main,
                ike_enc_alg: strait_model::EncAlg::Aes,
                ike_auth_alg: strait_model::AuthAlg::Sha1,
                ike_pfs: strait_model::DhGroup::Group2,
                ike_lifetime: 86400,
                local_id: gw.internet_ip.to_string(),
                remote_id: cgw.ip_address.to_string(),
            },
            tunnel_ipsec_config: IpsecConfig::default(),
            tunnel_bgp_config: Default::default(),
        }],
        create_time: 1,
        resource_group_id: String::new(),
        tags,
    }
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("data")).unwrap();
    (dir, store)
}

fn new_account(store: &Store, name: &str) -> String {
    store
        .write(|tx| tx.create_account(name))
        .unwrap()
        .account_id
}

#[test]
fn documents_round_trip_and_list_by_reference_ids_fields_tags_and_page() {
    let (_dir, store) = open();
    let acct = new_account(&store, "a");
    let (gw1, gw2) = (gateway("vpc-1"), gateway("vpc-2"));
    let (c1, c2) = (customer_gateway(1), customer_gateway(2));
    let env = vec![Tag {
        key: "env".into(),
        value: "prod".into(),
    }];
    let conns = [
        connection(&gw1, &c1, env.clone()),
        connection(&gw1, &c2, vec![]),
        connection(&gw2, &c1, vec![]),
    ];
    store
        .write(|tx| {
            tx.insert(&acct, &gw1)?;
            tx.insert(&acct, &gw2)?;
            tx.insert(&acct, &c1)?;
            tx.insert(&acct, &c2)?;
            conns.iter().try_for_each(|c| tx.insert(&acct, c))
        })
        .unwrap();

    store
        .read(|tx| {
            assert_eq!(
                tx.get::<VpnGateway>(&acct, &gw1.vpn_gateway_id)?,
                Some(gw1.clone())
            );
            assert_eq!(
                tx.get::<VpnConnection>(&acct, &conns[1].vpn_connection_id)?,
                Some(conns[1].clone())
            );
            let by = |q: Query| tx.list::<VpnConnection>(&acct, &q);
            let on_gw1 = by(Query {
                refs: vec![gw1.vpn_gateway_id.clone()],
                ..Query::default()
            })?;
            assert_eq!(on_gw1.items, conns[..2].to_vec());
            let gw1_c1 = by(Query {
                refs: vec![gw1.vpn_gateway_id.clone(), c1.customer_gateway_id.clone()],
                ..Query::default()
            })?;
            assert_eq!(gw1_c1.items, vec![conns[0].clone()]);
            let ids = by(Query {
                ids: Some(vec![conns[2].vpn_connection_id.clone(), "vco-nope".into()]),
                ..Query::default()
            })?;
            assert_eq!(ids.items, vec![conns[2].clone()]);
            let tagged = by(Query {
                tags: vec![("env".into(), Some("prod".into()))],
                ..Query::default()
            })?;
            assert_eq!(tagged.items, vec![conns[0].clone()]);
            let wrong_value = by(Query {
                tags: vec![("env".into(), Some("dev".into()))],
                ..Query::default()
            })?;
            assert!(wrong_value.items.is_empty());
            let page2 = by(Query {
                page: Some(Page::number(2, 2)),
                ..Query::default()
            })?;
            assert_eq!((page2.items, page2.total), (vec![conns[2].clone()], 3));
            let vpc2 = tx.list::<VpnGateway>(
                &acct,
                &Query {
                    fields: vec![("VpcId", "vpc-2".into())],
                    ..Query::default()
                },
            )?;
            assert_eq!(vpc2.items, vec![gw2.clone()]);
            let users = tx.referrers(&acct, &c1.customer_gateway_id)?;
            assert_eq!(
                users,
                vec![
                    (
                        "VpnConnection".to_string(),
                        conns[0].vpn_connection_id.clone()
                    ),
                    (
                        "VpnConnection".to_string(),
                        conns[2].vpn_connection_id.clone()
                    ),
                ]
            );
            Ok::<_, StoreError>(())
        })
        .unwrap();

    // Moving a connection to another customer gateway moves its reference too; deleting drops it.
    // Each committed change advances the revision pollers watch.
    let revision = || store.read(|tx| tx.revision()).unwrap();
    let before = revision();
    let mut moved = conns[0].clone();
    moved.tunnel_options[0].customer_gateway_id = c2.customer_gateway_id.clone();
    store.write(|tx| tx.update(&acct, &moved)).unwrap();
    assert_eq!(revision(), before + 1);
    store
        .write(|tx| tx.delete::<VpnConnection>(&acct, &conns[2].vpn_connection_id))
        .unwrap();
    assert_eq!(revision(), before + 2);
    let users = store
        .read(|tx| tx.referrers(&acct, &c1.customer_gateway_id))
        .unwrap();
    assert!(users.is_empty(), "{users:?}");
    let got = store
        .read(|tx| tx.get::<VpnConnection>(&acct, &moved.vpn_connection_id))
        .unwrap();
    assert_eq!(got, Some(moved));
}

#[test]
fn a_failed_request_leaves_nothing_behind() {
    let (_dir, store) = open();
    let acct = new_account(&store, "a");
    let gw = gateway("vpc-1");
    let before = store.read(|tx| tx.revision()).unwrap();
    let err = store
        .write(|tx| {
            tx.insert(&acct, &gw)?;
            tx.record_idempotent_response(&acct, "CreateVpnGateway", "tok", "{}")?;
            // The second insert of the same id fails, so the whole request must roll back.
            tx.insert(&acct, &gw)
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::AlreadyExists {
                kind: "VpnGateway",
                ..
            }
        ),
        "{err}"
    );
    store
        .read(|tx| {
            assert_eq!(tx.get::<VpnGateway>(&acct, &gw.vpn_gateway_id)?, None);
            assert_eq!(
                tx.idempotent_response(&acct, "CreateVpnGateway", "tok")?,
                None
            );
            assert_eq!(tx.revision()?, before);
            Ok::<_, StoreError>(())
        })
        .unwrap();
}

#[test]
fn missing_rows_and_unknown_accounts_are_errors() {
    let (_dir, store) = open();
    let acct = new_account(&store, "a");
    let gw = gateway("vpc-1");
    let err = store.write(|tx| tx.update(&acct, &gw)).unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    let err = store
        .write(|tx| tx.delete::<VpnGateway>(&acct, &gw.vpn_gateway_id))
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    let err = store
        .write(|tx| tx.insert("0000000000000000", &gw))
        .unwrap_err();
    assert!(matches!(err, StoreError::Sqlite(_)), "{err}");
}

#[test]
fn data_and_schema_version_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway("vpc-1");
    let acct = {
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let acct = store.write(|tx| tx.create_account("a")).unwrap();
        store.write(|tx| tx.insert(&acct.account_id, &gw)).unwrap();
        acct
    };
    assert!(dir.path().join(strait_store::DB_FILE).exists());
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    store
        .read(|tx| {
            assert_eq!(
                tx.account_by_access_key(&acct.access_key_id)?,
                Some(acct.clone())
            );
            assert_eq!(
                tx.get::<VpnGateway>(&acct.account_id, &gw.vpn_gateway_id)?,
                Some(gw.clone())
            );
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let db = rusqlite::Connection::open(dir.path().join(strait_store::DB_FILE)).unwrap();
    let rows: u32 = db
        .query_row("SELECT COUNT(*) FROM migrations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        rows, SCHEMA_VERSION,
        "a reopen must not re-apply migrations"
    );
}

#[test]
fn accounts_get_cloud_shaped_credentials_and_see_only_their_resources() {
    let (_dir, store) = open();
    let (a, b) = store
        .write(|tx| Ok::<_, StoreError>((tx.create_account("a")?, tx.create_account("b")?)))
        .unwrap();
    assert_eq!(a.account_id.len(), 16);
    assert!(a.account_id.bytes().all(|c| c.is_ascii_digit()) && !a.account_id.starts_with('0'));
    assert!(a.access_key_id.starts_with("LTAI") && a.access_key_id.len() == 24);
    assert_eq!(a.access_key_secret.len(), 30);
    assert!(
        a.access_key_secret
            .bytes()
            .all(|c| c.is_ascii_alphanumeric())
    );
    assert_ne!(a.access_key_id, b.access_key_id);
    assert_ne!(a.access_key_secret, b.access_key_secret);
    let gw = gateway("vpc-1");
    store.write(|tx| tx.insert(&a.account_id, &gw)).unwrap();
    store
        .read(|tx| {
            assert_eq!(tx.account_count()?, 2);
            assert_eq!(tx.account_by_access_key("LTAInotakey")?, None);
            assert_eq!(tx.account(&b.account_id)?.map(|x| x.name), Some("b".into()));
            assert_eq!(
                tx.get::<VpnGateway>(&b.account_id, &gw.vpn_gateway_id)?,
                None
            );
            assert_eq!(
                tx.list::<VpnGateway>(&b.account_id, &Query::default())?
                    .total,
                0
            );
            assert_eq!(
                tx.list::<VpnGateway>(&a.account_id, &Query::default())?
                    .total,
                1
            );
            assert_eq!(
                tx.list_all::<VpnGateway>()?,
                vec![(a.account_id.clone(), gw.clone())]
            );
            Ok::<_, StoreError>(())
        })
        .unwrap();
    // The same id may exist in two accounts independently.
    store.write(|tx| tx.insert(&b.account_id, &gw)).unwrap();
}

#[test]
fn client_tokens_replay_the_first_response_per_account_and_action() {
    let (_dir, store) = open();
    let (a, b) = (new_account(&store, "a"), new_account(&store, "b"));
    store
        .write(|tx| {
            tx.record_idempotent_response(&a, "CreateVpnGateway", "t1", r#"{"n":1}"#)?;
            tx.record_idempotent_response(&a, "CreateVpnGateway", "t1", r#"{"n":2}"#)
        })
        .unwrap();
    store
        .read(|tx| {
            assert_eq!(
                tx.idempotent_response(&a, "CreateVpnGateway", "t1")?
                    .as_deref(),
                Some(r#"{"n":1}"#)
            );
            assert_eq!(
                tx.idempotent_response(&a, "CreateCustomerGateway", "t1")?,
                None
            );
            assert_eq!(tx.idempotent_response(&b, "CreateVpnGateway", "t1")?, None);
            Ok::<_, StoreError>(())
        })
        .unwrap();
}

#[test]
fn tunnel_status_and_logs_are_kept_per_tunnel_and_window() {
    let (_dir, store) = open();
    let acct = new_account(&store, "a");
    let up = TunnelStatus {
        status: NegotiationStatus::IpsecSaEstablished,
        detail: "phase 2 negotiation succeeded".into(),
        bgp_status: Some(ProbeStatus::Success),
        health_check_status: None,
        diagnosis: None,
        bgp_routes: Vec::new(),
    };
    store
        .write(|tx| {
            tx.set_tunnel_status(
                &acct,
                "vco-1",
                "tun-1",
                &TunnelStatus {
                    status: NegotiationStatus::IkeSaNotEstablished,
                    detail: "no proposal chosen".into(),
                    bgp_status: None,
                    health_check_status: None,
                    diagnosis: None,
                    bgp_routes: Vec::new(),
                },
            )?;
            tx.set_tunnel_status(&acct, "vco-1", "tun-1", &up)?;
            for (t, tun) in [
                (1000, "tun-1"),
                (2000, "tun-2"),
                (3000, "tun-1"),
                (9000, "tun-1"),
            ] {
                tx.append_log(&acct, "vco-1", tun, t, &format!("line at {t}"))?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    store
        .read(|tx| {
            let (status, _) = tx.tunnel_status(&acct, "tun-1")?.unwrap();
            assert_eq!(status, up);
            assert_eq!(tx.tunnel_status("other", "tun-1")?, None);
            let all = tx.logs(
                &acct,
                "vco-1",
                None,
                (0, 5000),
                Page {
                    offset: 0,
                    limit: 10,
                },
            )?;
            assert_eq!(all.total, 3);
            assert_eq!(
                all.items.iter().map(|l| l.time_ms).collect::<Vec<_>>(),
                vec![1000, 2000, 3000]
            );
            let one = tx.logs(
                &acct,
                "vco-1",
                Some("tun-1"),
                (0, 10_000),
                Page {
                    offset: 1,
                    limit: 1,
                },
            )?;
            assert_eq!((one.total, one.items[0].line.as_str()), (3, "line at 3000"));
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let logs_of_vco_1 = || {
        store
            .read(|tx| {
                tx.logs(
                    &acct,
                    "vco-1",
                    None,
                    (0, 10_000),
                    Page {
                        offset: 0,
                        limit: 10,
                    },
                )
            })
            .unwrap()
    };
    assert_eq!(store.write(|tx| tx.prune_logs(2500)).unwrap(), 2);
    let left = logs_of_vco_1();
    assert_eq!(
        left.items.iter().map(|l| l.time_ms).collect::<Vec<_>>(),
        vec![3000, 9000]
    );
    store.write(|tx| tx.clear_observed(&acct, "vco-1")).unwrap();
    let gone = store.read(|tx| tx.tunnel_status(&acct, "tun-1")).unwrap();
    assert_eq!(gone, None);
    let no_logs = logs_of_vco_1();
    assert_eq!(no_logs.total, 0);
}

/// Set in the child process of `acknowledged_writes_survive_kill_9` to the data directory it writes to.
const CHILD_ENV: &str = "STRAIT_STORE_KILL9_CHILD_DIR";

#[test]
fn acknowledged_writes_survive_kill_9() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        // Child: write gateways as fast as possible, acknowledging each after its commit.
        let store = Store::open(&dir).unwrap();
        let acct = new_account(&store, "a");
        println!("account {acct}");
        for _ in 0..100_000 {
            let gw = gateway("vpc-1");
            store.write(|tx| tx.insert(&acct, &gw)).unwrap();
            println!("ack {}", gw.vpn_gateway_id);
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "acknowledged_writes_survive_kill_9",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut account = None;
    let mut acked = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        // The test harness may print its own text before ours on the first line.
        if let Some((_, a)) = line.split_once("account ") {
            account = Some(a.to_string());
        } else if let Some(id) = line.strip_prefix("ack ") {
            acked.push(id.to_string());
            if acked.len() == 300 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Acknowledgements still in the pipe were committed too; count them as well.
    acked.extend(
        lines
            .map_while(Result::ok)
            .filter_map(|l| l.strip_prefix("ack ").map(str::to_string)),
    );
    let account = account.expect("child reported its account");
    assert!(
        acked.len() >= 300,
        "child stopped early: {} acks",
        acked.len()
    );

    let store = Store::open(dir.path()).unwrap();
    let stored = store
        .read(|tx| tx.list::<VpnGateway>(&account, &Query::default()))
        .unwrap();
    let ids: std::collections::HashSet<_> = stored
        .items
        .iter()
        .map(|g| g.vpn_gateway_id.clone())
        .collect();
    let missing: Vec<_> = acked.iter().filter(|id| !ids.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged writes lost: {missing:?}",
        missing.len()
    );
}

#[test]
fn reads_see_every_committed_write_and_cannot_write() {
    let (_dir, store) = open();
    let acct = new_account(&store, "a");
    for _ in 0..20 {
        let gw = gateway("vpc-1");
        store.write(|tx| tx.insert(&acct, &gw)).unwrap();
        let seen = store
            .read(|tx| tx.get::<VpnGateway>(&acct, &gw.vpn_gateway_id))
            .unwrap();
        assert_eq!(seen, Some(gw));
    }
    let err = store
        .read(|tx| tx.insert(&acct, &gateway("vpc-1")))
        .unwrap_err();
    assert!(matches!(err, StoreError::Sqlite(_)), "{err}");
}
