//! The demo's network: four namespaces joined by veth pairs, none with a route out of the machine,
//! and the processes run inside them. Everything here is undone on drop.

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::cell::RefCell;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The VPC host's address (behind the gateway).
pub const VPC_HOST: &str = "10.0.1.2";
/// The VPC's subnet, the connection's LocalSubnet.
pub const VPC_SUBNET: &str = "10.0.1.0/24";
/// The gateway's address on the VPC side (the VPC host's next hop).
pub const GW_INSIDE: &str = "10.0.1.1";
/// The gateway's public address (its zone's gateway IP).
pub const GATEWAY_IP: &str = "203.0.113.1";
/// The customer router's public address (the customer gateway).
pub const CPE_IP: &str = "203.0.113.2";
/// The customer router's address on the data-center side.
pub const CPE_INSIDE: &str = "192.168.10.1";
/// The data-center host's address (behind the customer router).
pub const DC_HOST: &str = "192.168.10.2";
/// The data center's subnet, the connection's RemoteSubnet.
pub const DC_SUBNET: &str = "192.168.10.0/24";

/// The demo's namespaces; dropping it deletes them.
pub struct Topology {
    /// The VPC host.
    pub vpc: String,
    /// The Strait gateway (runs `strait serve`).
    pub gw: String,
    /// The customer's router (runs strongSwan).
    pub cpe: String,
    /// The data-center host.
    pub dc: String,
    created: Vec<String>,
}

impl Topology {
    /// Builds `VPC host ── gateway ══ customer router ── data-center host` in namespaces named
    /// `<prefix>-vpc`, `<prefix>-gw`, `<prefix>-cpe` and `<prefix>-dc`.
    pub fn build(prefix: &str) -> anyhow::Result<Topology> {
        let name = |role: &str| format!("{prefix}-{role}");
        let mut topo = Topology {
            vpc: name("vpc"),
            gw: name("gw"),
            cpe: name("cpe"),
            dc: name("dc"),
            created: Vec::new(),
        };
        for ns in [&topo.vpc, &topo.gw, &topo.cpe, &topo.dc] {
            run(ip(&["netns", "add", ns]))?;
            topo.created.push(ns.clone());
            run(in_ns(ns, "ip", &["link", "set", "lo", "up"]))?;
        }
        link((&topo.vpc, "eth0", VPC_HOST), (&topo.gw, "vpc", GW_INSIDE))?;
        link((&topo.gw, "wan", GATEWAY_IP), (&topo.cpe, "wan", CPE_IP))?;
        link((&topo.cpe, "dc", CPE_INSIDE), (&topo.dc, "eth0", DC_HOST))?;
        for router in [&topo.gw, &topo.cpe] {
            run(in_ns(router, "sysctl", &["-qw", "net.ipv4.ip_forward=1"]))?;
        }
        // Each host reaches the other site through its own router, and nothing else.
        run(in_ns(
            &topo.vpc,
            "ip",
            &["route", "add", DC_SUBNET, "via", GW_INSIDE],
        ))?;
        run(in_ns(
            &topo.dc,
            "ip",
            &["route", "add", VPC_SUBNET, "via", CPE_INSIDE],
        ))?;
        Ok(topo)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in self.created.drain(..).rev() {
            if let Err(e) = run(ip(&["netns", "del", &ns])) {
                eprintln!("could not delete namespace {ns}: {e:#}");
            }
        }
    }
}

/// Joins two namespaces with a veth pair on a /24; each end is (namespace, interface, address).
fn link(a: (&str, &str, &str), b: (&str, &str, &str)) -> anyhow::Result<()> {
    run(ip(&[
        "link", "add", a.1, "netns", a.0, "type", "veth", "peer", "name", b.1, "netns", b.0,
    ]))?;
    for (ns, ifname, addr) in [a, b] {
        run(in_ns(
            ns,
            "ip",
            &["addr", "add", &format!("{addr}/24"), "dev", ifname],
        ))?;
        run(in_ns(ns, "ip", &["link", "set", ifname, "up"]))?;
    }
    Ok(())
}

/// An `ip` command.
fn ip(args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    cmd
}

/// A command that runs `program args` inside namespace `ns`.
pub fn in_ns(ns: &str, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
    let mut cmd = ip(&["netns", "exec", ns]);
    cmd.arg(program).args(args);
    cmd
}

/// Runs a command to completion and returns its stdout, or an error with its stderr.
pub fn run(mut cmd: Command) -> anyhow::Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A long-running process started by the demo, stopped by pid on drop.
pub struct Process {
    /// What it is, for messages.
    pub name: &'static str,
    child: RefCell<Child>,
}

impl Process {
    /// Starts `cmd` with its output appended to `log`, in its own process group so that a Ctrl-C
    /// in the terminal reaches only the demo, which then stops it in order.
    pub fn spawn(name: &'static str, mut cmd: Command, log: &Path) -> anyhow::Result<Process> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Process {
            name,
            child: RefCell::new(child),
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.borrow().id()
    }

    /// An error when the process has exited.
    pub fn check_running(&self) -> anyhow::Result<()> {
        match self.child.borrow_mut().try_wait()? {
            Some(status) => bail!("{} exited unexpectedly ({status})", self.name),
            None => Ok(()),
        }
    }
}

impl Drop for Process {
    /// SIGTERM, up to 5 s to exit, then SIGKILL.
    fn drop(&mut self) {
        let child = self.child.get_mut();
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("{} did not stop on SIGTERM; killing it", self.name);
        let _ = child.kill();
        let _ = child.wait();
    }
}
