//! Cost of the store operations one API request makes: a durable write, a point read, a page.

use criterion::{Criterion, criterion_group, criterion_main};
use std::net::Ipv4Addr;
use strait_model::{CustomerGateway, GatewayStatus, IdKind, NetworkType, VpnGateway};
use strait_store::{Page, Query, Store};

fn gateway() -> VpnGateway {
    VpnGateway {
        vpn_gateway_id: IdKind::VpnGateway.new_id(),
        name: "bench".into(),
        description: String::new(),
        vpc_id: "vpc-local".into(),
        v_switch_id: "zone-a".into(),
        internet_ip: Ipv4Addr::new(203, 0, 113, 1),
        disaster_recovery_v_switch_id: None,
        disaster_recovery_internet_ip: None,
        network_type: NetworkType::Public,
        status: GatewayStatus::Active,
        create_time: 0,
        resource_group_id: String::new(),
        tags: vec![],
    }
}

fn customer_gateway() -> CustomerGateway {
    CustomerGateway {
        customer_gateway_id: IdKind::CustomerGateway.new_id(),
        name: "cpe".into(),
        description: String::new(),
        ip_address: Ipv4Addr::new(198, 51, 100, 1),
        asn: Some(65530),
        auth_key: None,
        create_time: 0,
        resource_group_id: String::new(),
        tags: vec![],
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("open store");
    let acct = store
        .write(|tx| tx.create_account("bench"))
        .expect("account")
        .account_id;
    // A realistic population: 500 customer gateways behind the one that is read.
    for _ in 0..500 {
        store
            .write(|tx| tx.insert(&acct, &customer_gateway()))
            .expect("seed");
    }
    let known = customer_gateway();
    store.write(|tx| tx.insert(&acct, &known)).expect("seed");

    c.bench_function("durable insert (one write transaction, fsync)", |b| {
        b.iter(|| {
            store
                .write(|tx| tx.insert(&acct, &gateway()))
                .expect("insert")
        })
    });
    c.bench_function("get by id among 500", |b| {
        b.iter(|| {
            store
                .read(|tx| tx.get::<CustomerGateway>(&acct, &known.customer_gateway_id))
                .expect("get")
        })
    });
    c.bench_function("list page 3 of 10 among 500", |b| {
        let query = Query {
            page: Some(Page::number(3, 10)),
            ..Query::default()
        };
        b.iter(|| {
            store
                .read(|tx| tx.list::<CustomerGateway>(&acct, &query))
                .expect("list")
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
