//! A one-peer eBGP speaker for interop tests.
//!
//! Usage: speaker --local-asn N --peer-asn N --local IP --peer IP [--hold SECS] [--passive]
//!                [--md5 KEY] [--port N] [--prefix-file PATH]
//!
//! The prefixes to advertise are read from `--prefix-file` (whitespace-separated CIDRs), which is
//! re-read every 200 ms. Events are printed one per line: `established`, `down <reason>`, and
//! `routes <p1,p2,...>` with the full learned set after every change.

use std::collections::BTreeMap;
use std::time::Duration;

use strait_bgp::{Advertised, DriverConfig, Event, Mode, Prefix, SessionConfig, Speaker};

fn usage(msg: &str) -> ! {
    eprintln!("speaker: {msg}");
    std::process::exit(2)
}

fn parse<T: std::str::FromStr>(name: &str, value: Option<&String>) -> T {
    value
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| usage(&format!("{name} needs a valid value")))
}

fn read_prefixes(path: &str) -> Option<Advertised> {
    let text = std::fs::read_to_string(path).ok()?;
    text.split_whitespace()
        .map(|p| p.parse().ok().map(|p: Prefix| (p, Vec::new())))
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts: BTreeMap<&str, Option<&String>> = BTreeMap::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--passive" => opts.insert("--passive", None),
            f @ ("--local-asn" | "--peer-asn" | "--local" | "--peer" | "--hold" | "--md5"
            | "--port" | "--prefix-file") => opts.insert(f, it.next()),
            other => usage(&format!("unknown argument {other}")),
        };
    }
    let get = |name| opts.get(name).copied().flatten();
    let local = parse("--local", get("--local"));
    let session = SessionConfig {
        local_asn: parse("--local-asn", get("--local-asn")),
        peer_asn: parse("--peer-asn", get("--peer-asn")),
        router_id: local,
        next_hop: local,
        hold_time: get("--hold").map_or(90, |_| parse("--hold", get("--hold"))),
    };
    let mut config = DriverConfig::new(session, local, parse("--peer", get("--peer")));
    config.min_backoff = Duration::from_millis(500);
    config.max_backoff = Duration::from_secs(2);
    config.md5_key = get("--md5").map(|k| k.as_bytes().to_vec());
    if let Some(port) = get("--port") {
        config.port = parse("--port", Some(port));
    }
    if opts.contains_key("--passive") {
        config.mode = Mode::Passive;
    }
    let prefix_file = get("--prefix-file").cloned();

    let mut speaker = Speaker::start(config)
        .await
        .unwrap_or_else(|e| usage(&e.to_string()));
    let mut advertised = None;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let wanted = prefix_file.as_deref().and_then(read_prefixes);
                if wanted.is_some() && wanted != advertised {
                    speaker.advertise(wanted.clone().unwrap_or_default());
                    advertised = wanted;
                }
            }
            event = speaker.next_event() => {
                match event {
                    Some(Event::Established) => println!("established"),
                    Some(Event::Down { reason }) => println!("down {reason:?}"),
                    Some(Event::RoutesLearned { .. }) => {}
                    None => return,
                }
                let learned: Vec<String> = speaker.status().learned.keys().map(Prefix::to_string).collect();
                println!("routes {}", learned.join(","));
            }
        }
    }
}
