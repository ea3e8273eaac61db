//! `strait demo`: a whole site-to-site VPN on this machine in one command, for a newcomer.
//!
//! It builds four network namespaces (a VPC host behind the Strait gateway, a data-center host
//! behind a strongSwan router), runs `strait serve` in the gateway's, creates the gateway, the
//! customer gateway and the connection through the API as an SDK would, loads the downloaded
//! strongSwan configuration into the router unmodified, waits for the tunnel and pings across it.
//! On exit, error or Ctrl-C it stops what it started and deletes what it created.

mod api;
mod strongswan;
mod topology;

use anyhow::{Context, bail};
use api::{Client, Credentials};
use rand::Rng;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use strongswan::Charon;
use topology::{
    CPE_INSIDE, CPE_IP, DC_HOST, DC_SUBNET, GATEWAY_IP, GW_INSIDE, Process, Topology, VPC_HOST,
    VPC_SUBNET, in_ns,
};

/// Options of `strait demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Tear everything down right after the ping instead of waiting for Ctrl-C.
    #[arg(long)]
    once: bool,
}

/// Where serve's API listens, inside the gateway's namespace.
const API_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);
/// The region serve answers as.
const REGION: &str = "local-1";
/// How long the tunnel may take to come up.
const TUNNEL_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `strait demo`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "strait demo creates network namespaces and must run as root: try `sudo strait demo`"
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    let dir = tempfile::Builder::new().prefix("strait-demo-").tempdir()?;
    let prefix = format!("sdemo{}", std::process::id());
    // Everything the scenario starts or creates is stopped or deleted when it returns.
    let result = scenario(&prefix, dir.path(), &stop, args.once);
    if result.is_err() && !stop.load(Ordering::Relaxed) {
        for log in ["serve.log", "charon.log"] {
            show_tail(&dir.path().join(log));
        }
    }
    println!(
        "\nCleaned up: stopped what the demo started, deleted the namespaces {prefix}-* and {}.",
        dir.path().display()
    );
    if result.is_err() && stop.load(Ordering::Relaxed) {
        drop(dir);
        eprintln!("Stopped before the demo finished.");
        std::process::exit(130);
    }
    result
}

/// The demo's steps; the processes and namespaces it holds are undone as it returns.
fn scenario(prefix: &str, dir: &Path, stop: &AtomicBool, once: bool) -> anyhow::Result<()> {
    println!("Strait demo: a site-to-site IPsec VPN between a cloud VPC and a data center.");

    step(
        1,
        "Building the network in namespaces (no route leaves this machine):",
    );
    let topo = Topology::build(prefix)?;
    println!("  {:<17} VPC host {VPC_HOST}", topo.vpc);
    println!(
        "  {:<17} Strait gateway: {GW_INSIDE} inside, {GATEWAY_IP} public",
        topo.gw
    );
    println!(
        "  {:<17} data center's router (strongSwan): {CPE_IP} public, {CPE_INSIDE} inside",
        topo.cpe
    );
    println!("  {:<17} data-center host {DC_HOST}", topo.dc);

    step(
        2,
        &format!(
            "Starting `strait serve` in {} (API on {API_LISTEN} there)...",
            topo.gw
        ),
    );
    let serve = start_serve(&topo.gw, dir)?;
    println!("  strait serve has pid {}", serve.pid());
    let mut watch = Watch {
        stop,
        running: vec![&serve],
    };
    let client = connect(&watch, &topo.gw, &dir.join("data").join("credentials.json"))?;
    println!(
        "  ready; the admin account's AccessKeyId is {}",
        client.access_key_id()
    );

    step(
        3,
        "Creating the VPN through the API (signed requests, as the SDKs send them):",
    );
    let connection = create_vpn(&watch, &client)?;

    step(
        4,
        "Configuring the data center's router with what the API gives for it:",
    );
    let swanctl = download_swanctl(&client, &connection, dir)?;
    let charon = Charon::start(&topo.cpe, dir)?;
    watch.running.push(&charon.process);
    watch.wait("charon to start", Duration::from_secs(10), || {
        Ok(charon.ready().then_some(()))
    })?;
    charon.load(&swanctl)?;
    println!(
        "  loaded it unmodified into strongSwan (charon, pid {}) in {}",
        charon.process.pid(),
        topo.cpe
    );

    step(
        5,
        "Waiting for the tunnel (DescribeVpnConnection Status)...",
    );
    wait_for_tunnel(&watch, &client, &connection)?;
    watch.wait(
        "strongSwan to install its IPsec SA",
        Duration::from_secs(10),
        || Ok(charon.child_installed()?.then_some(())),
    )?;
    println!("  the tunnel is up: strongSwan has installed its IPsec SA too");

    step(
        6,
        &format!("ping -c 3 {DC_HOST} from the VPC host, through the tunnel:"),
    );
    let ping = in_ns(&topo.vpc, "ping", &["-c", "3", "-W", "2", DC_HOST])
        .status()
        .context("running ping")?;
    if !ping.success() {
        bail!("ping through the tunnel failed ({ping})");
    }

    if once {
        return Ok(());
    }
    println!("\nThe VPN is up. Look around while it runs, for example:");
    println!("  sudo ip netns exec {} ping {DC_HOST}", topo.vpc);
    println!(
        "  sudo ip netns exec {} env STRONGSWAN_CONF={} swanctl --list-sas",
        topo.cpe,
        dir.join("strongswan.conf").display()
    );
    println!(
        "  logs: {} and {}",
        dir.join("serve.log").display(),
        charon.log.display()
    );
    println!("Press Ctrl-C to stop and clean up.");
    watch.until_stopped()
}

/// Waits until serve has written the admin credentials and answers a signed request with them.
fn connect(watch: &Watch<'_>, ns: &str, credentials: &Path) -> anyhow::Result<Client> {
    watch.wait("strait serve to answer", Duration::from_secs(15), || {
        if !credentials.exists() {
            return Ok(None);
        }
        let client = Client::new(ns, API_LISTEN, REGION, Credentials::read(credentials)?)?;
        Ok(client
            .call("DescribeVpnGateways", &[])
            .is_ok()
            .then_some(client))
    })
}

/// Creates the VPN gateway, the customer gateway and the connection; returns the connection's id.
fn create_vpn(watch: &Watch<'_>, client: &Client) -> anyhow::Result<String> {
    let gateway = id(
        &client.call(
            "CreateVpnGateway",
            &[("VpcId", "vpc-local"), ("Name", "demo-gateway")],
        )?,
        "VpnGatewayId",
    )?;
    let internet_ip = watch.wait(
        "the VPN gateway to become active",
        Duration::from_secs(10),
        || {
            let g = client.call("DescribeVpnGateway", &[("VpnGatewayId", &gateway)])?;
            Ok((g["Status"] == "active")
                .then(|| g["InternetIp"].as_str().unwrap_or("?").to_string()))
        },
    )?;
    println!("  CreateVpnGateway       -> {gateway} (public IP {internet_ip})");
    let customer_gateway = id(
        &client.call(
            "CreateCustomerGateway",
            &[("IpAddress", CPE_IP), ("Name", "demo-datacenter")],
        )?,
        "CustomerGatewayId",
    )?;
    println!("  CreateCustomerGateway  -> {customer_gateway} (the data center's router, {CPE_IP})");
    let psk: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    let ike_config = serde_json::json!({ "IkeVersion": "ikev2", "Psk": psk }).to_string();
    let connection = id(
        &client.call(
            "CreateVpnConnection",
            &[
                ("VpnGatewayId", &gateway),
                ("CustomerGatewayId", &customer_gateway),
                ("Name", "demo-connection"),
                ("LocalSubnet", VPC_SUBNET),
                ("RemoteSubnet", DC_SUBNET),
                ("EffectImmediately", "true"),
                // strongSwan's userspace ESP (kernel-libipsec) only sends ESP inside UDP.
                ("EnableNatTraversal", "true"),
                ("IkeConfig", &ike_config),
            ],
        )?,
        "VpnConnectionId",
    )?;
    println!(
        "  CreateVpnConnection    -> {connection} ({VPC_SUBNET} <-> {DC_SUBNET}, IKEv2, NAT traversal, a random pre-shared key)"
    );
    Ok(connection)
}

/// Downloads the connection's strongSwan configuration, shows it and saves it as `dir/swanctl.conf`.
fn download_swanctl(client: &Client, connection: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    let download = client.call(
        "DownloadVpnConnectionConfig",
        &[
            ("VpnConnectionId", connection),
            ("DeviceType", "strongswan"),
        ],
    )?;
    let swanctl = download["DeviceConfig"]
        .as_str()
        .context("DownloadVpnConnectionConfig answered no DeviceConfig")?;
    println!("  DownloadVpnConnectionConfig (DeviceType=strongswan) gave this swanctl.conf:");
    for line in swanctl.lines() {
        println!("    | {line}");
    }
    let path = dir.join("swanctl.conf");
    std::fs::write(&path, swanctl)?;
    Ok(path)
}

/// Polls DescribeVpnConnection, printing each new Status, until the IPsec SA is established.
fn wait_for_tunnel(watch: &Watch<'_>, client: &Client, connection: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last = String::new();
    watch.wait("the tunnel to come up", TUNNEL_TIMEOUT, || {
        let c = client.call("DescribeVpnConnection", &[("VpnConnectionId", connection)])?;
        let status = c["Status"].as_str().unwrap_or("?").to_string();
        if status != last {
            println!(
                "  {:>5.1} s  Status: {status}",
                started.elapsed().as_secs_f64()
            );
        }
        let up = status == "ipsec_sa_established";
        last = status;
        Ok(up.then_some(()))
    })
}

/// Prints a numbered step.
fn step(n: u32, what: &str) {
    println!("\n[{n}/6] {what}");
}

/// A resource id field of an API answer.
fn id(body: &Value, field: &str) -> anyhow::Result<String> {
    body[field]
        .as_str()
        .map(String::from)
        .with_context(|| format!("the answer has no {field}: {body}"))
}

/// Starts `strait serve` (this binary) in namespace `ns` with a config and data dir under `dir`.
fn start_serve(ns: &str, dir: &Path) -> anyhow::Result<Process> {
    let config = dir.join("strait.toml");
    std::fs::write(
        &config,
        format!(
            "region = \"{REGION}\"\n[api]\nlisten = \"{API_LISTEN}\"\n[store]\ndata_dir = \"{}\"\n\
             [[zones]]\nid = \"zone-a\"\ngateway_ips = [\"{GATEWAY_IP}\"]\n\
             [[vpcs]]\nid = \"vpc-local\"\ncidrs = [\"10.0.0.0/16\"]\n",
            dir.join("data").display()
        ),
    )?;
    let exe = std::env::current_exe().context("finding the strait binary")?;
    Process::spawn(
        "strait serve",
        in_ns(ns, exe, &["serve", "--config", &config.to_string_lossy()]),
        &dir.join("serve.log"),
    )
}

/// Waits bounded in time, ending early on Ctrl-C or when a process the demo started exits.
struct Watch<'a> {
    stop: &'a AtomicBool,
    running: Vec<&'a Process>,
}

impl Watch<'_> {
    /// Polls `poll` every 200 ms until it yields a value, for at most `limit`.
    fn wait<T>(
        &self,
        what: &str,
        limit: Duration,
        mut poll: impl FnMut() -> anyhow::Result<Option<T>>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + limit;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            self.alive()?;
            if let Some(value) = poll()? {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                bail!("timed out after {} s waiting for {what}", limit.as_secs());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits for Ctrl-C.
    fn until_stopped(&self) -> anyhow::Result<()> {
        while !self.stop.load(Ordering::Relaxed) {
            self.alive()?;
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }

    /// An error when a started process has exited.
    fn alive(&self) -> anyhow::Result<()> {
        self.running.iter().try_for_each(|p| p.check_running())
    }
}

/// Prints the last lines of a log file, if it exists.
fn show_tail(path: &Path) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let skip = text.lines().count().saturating_sub(20);
    println!("\nLast lines of {}:", path.display());
    for line in text.lines().skip(skip) {
        println!("  {line}");
    }
}
