//! strongSwan's charon as the data center's router: the demo writes only its strongswan.conf
//! (userspace ESP through kernel-libipsec, as this machine's kernel may have no ESP); the
//! connection is the swanctl.conf downloaded from the API, loaded unmodified.

use super::topology::{Process, in_ns, run};
use std::path::{Path, PathBuf};

/// charon's plugins: the usual crypto, kernel-libipsec for ESP in userspace, vici for swanctl.
const PLUGINS: &str = "random nonce aes sha1 sha2 md5 hmac gmp pem pkcs1 x509 pubkey kdf openssl gcm \
                       kernel-libipsec kernel-netlink socket-default vici updown";

/// A charon running in one namespace, driven with swanctl.
pub struct Charon {
    /// The charon process.
    pub process: Process,
    ns: String,
    conf: PathBuf,
    /// charon's log file.
    pub log: PathBuf,
}

impl Charon {
    /// Starts charon in namespace `ns` with its files (config, vici socket, log) in `dir`.
    ///
    /// charon always writes /run/charon.pid, so it gets a mount namespace with its own /run.
    pub fn start(ns: &str, dir: &Path) -> anyhow::Result<Charon> {
        let conf = dir.join("strongswan.conf");
        let vici = dir.join("charon.vici");
        let log = dir.join("charon.log");
        std::fs::write(
            &conf,
            format!(
                r#"charon {{
  install_routes = yes
  load = {PLUGINS}
  plugins {{
    vici {{
      socket = unix://{vici}
    }}
  }}
  filelog {{
    f {{
      path = {log}
      time_format = %H:%M:%S
      flush_line = yes
      default = 1
      ike = 2
    }}
  }}
}}
swanctl {{
  socket = unix://{vici}
}}
"#,
                vici = vici.display(),
                log = log.display()
            ),
        )?;
        let mut cmd = in_ns(
            ns,
            "unshare",
            &[
                "-m",
                "sh",
                "-c",
                "mount -t tmpfs tmpfs /run && exec /usr/lib/ipsec/charon",
            ],
        );
        cmd.env("STRONGSWAN_CONF", &conf);
        let process = Process::spawn("charon", cmd, &dir.join("charon.stdout"))?;
        Ok(Charon {
            process,
            ns: ns.to_string(),
            conf,
            log,
        })
    }

    /// Runs swanctl against this charon and returns its output.
    pub fn swanctl(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut cmd = in_ns(&self.ns, "swanctl", args);
        cmd.env("STRONGSWAN_CONF", &self.conf);
        run(cmd)
    }

    /// Whether charon answers on its vici socket.
    pub fn ready(&self) -> bool {
        self.swanctl(&["--stats"]).is_ok()
    }

    /// Loads a swanctl.conf (connections and secrets).
    pub fn load(&self, swanctl_conf: &Path) -> anyhow::Result<String> {
        self.swanctl(&["--load-all", "--file", &swanctl_conf.to_string_lossy()])
    }

    /// Whether a CHILD_SA is installed (traffic can flow).
    pub fn child_installed(&self) -> anyhow::Result<bool> {
        Ok(self.swanctl(&["--list-sas"])?.contains("INSTALLED"))
    }
}
