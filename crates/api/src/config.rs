//! The server's configuration file (TOML): region, listen address, data directory, zones and VPCs.

use serde::Deserialize;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is not valid TOML for this schema.
    #[error("invalid configuration: {0}")]
    Parse(#[from] toml::de::Error),
    /// The file parses but says something impossible.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Everything `strait serve` is configured with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Deployment label answered as the region.
    #[serde(default = "default_region")]
    pub region: String,
    /// The HTTP API.
    #[serde(default)]
    pub api: ApiSection,
    /// The embedded store.
    #[serde(default)]
    pub store: StoreSection,
    /// Gateway nodes; `VSwitchId` and `DisasterRecoveryVSwitchId` name them.
    #[serde(default = "default_zones")]
    pub zones: Vec<Zone>,
    /// Local networks behind the gateways; `VpcId` names them.
    #[serde(default = "default_vpcs")]
    pub vpcs: Vec<Vpc>,
}

/// `[api]`: where the API listens.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// Listen address of the HTTP API.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
}

/// `[store]`: where state is kept.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// Directory of the SQLite database and the admin credentials.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
}

/// `[[zones]]`: one gateway node and the public and private addresses its gateways use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    /// Zone id, used as the VSwitchId.
    pub id: String,
    /// Public addresses on which this node terminates tunnels; the first is a new public gateway's
    /// InternetIp.
    #[serde(default)]
    pub gateway_ips: Vec<Ipv4Addr>,
    /// Private addresses (on a private line) on which this node terminates tunnels; the first is a
    /// new private gateway's InternetIp.
    #[serde(default)]
    pub private_gateway_ips: Vec<Ipv4Addr>,
}

impl Zone {
    /// Every address this node terminates tunnels on, public then private.
    pub fn addresses(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.gateway_ips
            .iter()
            .chain(&self.private_gateway_ips)
            .copied()
    }
}

/// `[[vpcs]]`: a local network reachable through the gateway host.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vpc {
    /// VPC id, used as the VpcId.
    pub id: String,
    /// Its prefixes.
    pub cidrs: Vec<String>,
}

fn default_region() -> String {
    "local-1".into()
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("./strait-data")
}
fn default_zones() -> Vec<Zone> {
    vec![Zone {
        id: "zone-a".into(),
        gateway_ips: vec![Ipv4Addr::new(192, 0, 2, 1)],
        private_gateway_ips: Vec::new(),
    }]
}
fn default_vpcs() -> Vec<Vpc> {
    vec![Vpc {
        id: "vpc-local".into(),
        cidrs: vec!["10.0.0.0/16".into()],
    }]
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            listen: default_listen(),
        }
    }
}
impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            data_dir: default_data_dir(),
        }
    }
}
impl Default for Config {
    fn default() -> Self {
        Config {
            region: default_region(),
            api: ApiSection::default(),
            store: StoreSection::default(),
            zones: default_zones(),
            vpcs: default_vpcs(),
        }
    }
}

impl Config {
    /// Parses and checks a TOML configuration.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text)?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.zones.is_empty() {
            return Err(ConfigError::Invalid(
                "at least one [[zones]] entry is needed".into(),
            ));
        }
        if self.vpcs.is_empty() {
            return Err(ConfigError::Invalid(
                "at least one [[vpcs]] entry is needed".into(),
            ));
        }
        for zone in &self.zones {
            if zone.addresses().next().is_none() {
                return Err(ConfigError::Invalid(format!(
                    "zone {:?} has neither gateway_ips nor private_gateway_ips",
                    zone.id
                )));
            }
        }
        for vpc in &self.vpcs {
            for cidr in &vpc.cidrs {
                cidr.parse::<ipnet::Ipv4Net>().map_err(|e| {
                    ConfigError::Invalid(format!("vpc {:?}: cidr {cidr:?}: {e}", vpc.id))
                })?;
            }
        }
        Ok(())
    }

    /// The zone with this id.
    pub fn zone(&self, id: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.id == id)
    }

    /// The VPC with this id.
    pub fn vpc(&self, id: &str) -> Option<&Vpc> {
        self.vpcs.iter().find(|v| v.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_example_parses_and_empty_file_gives_defaults() {
        let c = Config::from_toml(
            r#"
region = "local-1"
[api]
listen = "127.0.0.1:9090"
[store]
data_dir = "/tmp/x"
[[zones]]
id = "zone-a"
gateway_ips = ["203.0.113.1"]
[[zones]]
id = "zone-b"
gateway_ips = ["203.0.113.2"]
[[vpcs]]
id = "vpc-local"
cidrs = ["10.0.0.0/16"]
"#,
        )
        .unwrap();
        assert_eq!(c.api.listen.port(), 9090);
        assert_eq!(
            c.zone("zone-b").unwrap().gateway_ips,
            vec![Ipv4Addr::new(203, 0, 113, 2)]
        );
        assert_eq!(Config::from_toml("").unwrap(), Config::default());
    }

    #[test]
    fn a_zone_may_offer_private_addresses_and_needs_some_address() {
        let c = Config::from_toml(
            "[[zones]]\nid = \"z\"\ngateway_ips = [\"203.0.113.1\"]\nprivate_gateway_ips = [\"10.255.0.1\"]\n\
             [[zones]]\nid = \"p\"\nprivate_gateway_ips = [\"10.255.1.1\"]\n",
        )
        .unwrap();
        let all: Vec<Vec<Ipv4Addr>> = c.zones.iter().map(|z| z.addresses().collect()).collect();
        assert_eq!(
            all,
            vec![
                vec![Ipv4Addr::new(203, 0, 113, 1), Ipv4Addr::new(10, 255, 0, 1)],
                vec![Ipv4Addr::new(10, 255, 1, 1)],
            ]
        );
        let e = Config::from_toml("[[zones]]\nid = \"z\"\n").unwrap_err();
        assert!(e.to_string().contains("private_gateway_ips"), "{e}");
    }

    #[test]
    fn impossible_configs_are_refused() {
        assert!(Config::from_toml("zones = []").is_err());
        assert!(Config::from_toml("[[vpcs]]\nid = \"v\"\ncidrs = [\"10.0.0.0/33\"]").is_err());
        assert!(Config::from_toml("[api]\nlisten = \"nowhere\"").is_err());
        assert!(Config::from_toml("typo = 1").is_err());
    }
}
