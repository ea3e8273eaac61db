//! A small client of serve's API that signs requests as the SDKs do (ACS3-HMAC-SHA256), talking
//! to serve from inside serve's namespace.

use anyhow::{Context, bail};
use nix::sched::{CloneFlags, setns};
use serde::Deserialize;
use serde_json::Value;
use std::fs::File;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use strait_api::sign::{SignedRequest, acs3_authorization};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use ureq::http::{HeaderValue, Request};

/// The admin credentials `strait serve` writes to `<data_dir>/credentials.json` on first start.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Credentials {
    access_key_id: String,
    access_key_secret: String,
}

impl Credentials {
    /// Reads a `credentials.json`.
    pub fn read(path: &Path) -> anyhow::Result<Credentials> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// An API client whose connections are opened inside one network namespace.
pub struct Client {
    agent: ureq::Agent,
    endpoint: SocketAddr,
    region: String,
    credentials: Credentials,
    /// The namespace serve listens in, and the one to come back to.
    netns: File,
    home: File,
}

impl Client {
    /// A client of the API at `endpoint` inside namespace `netns`.
    pub fn new(
        netns: &str,
        endpoint: SocketAddr,
        region: &str,
        credentials: Credentials,
    ) -> anyhow::Result<Client> {
        let path = format!("/run/netns/{netns}");
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build();
        Ok(Client {
            agent: ureq::Agent::new_with_config(config),
            endpoint,
            region: region.to_string(),
            credentials,
            netns: File::open(&path).with_context(|| format!("opening {path}"))?,
            home: File::open("/proc/thread-self/ns/net").context("opening this thread's netns")?,
        })
    }

    /// Calls `action` with these parameters (and RegionId) and returns the response body, or the
    /// API's error as `Code: Message`.
    pub fn call(&self, action: &str, params: &[(&str, &str)]) -> anyhow::Result<Value> {
        let mut query: Vec<(String, String)> = vec![("RegionId".into(), self.region.clone())];
        query.extend(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&query)
            .finish();
        let mut request = Request::post(format!("http://{}/?{encoded}", self.endpoint))
            .header("host", self.endpoint.to_string())
            .header("x-acs-action", action)
            .header("x-acs-version", strait_api::server::VERSION)
            .header("x-acs-date", OffsetDateTime::now_utc().format(&Rfc3339)?)
            .header(
                "x-acs-signature-nonce",
                format!("{:032x}", rand::random::<u128>()),
            )
            .body(&b""[..])?;
        let authorization = acs3_authorization(
            &SignedRequest {
                method: "POST",
                path: "/",
                query: &query,
                form: &[],
                headers: request.headers(),
                body: b"",
            },
            &self.credentials.access_key_id,
            &self.credentials.access_key_secret,
        )?;
        request
            .headers_mut()
            .insert("authorization", HeaderValue::from_str(&authorization)?);
        let mut response = self
            .in_netns(|| self.agent.run(request))?
            .with_context(|| format!("{action}: no answer from the API"))?;
        let status = response.status();
        let body: Value = serde_json::from_str(&response.body_mut().read_to_string()?)
            .with_context(|| format!("{action}: the answer is not JSON"))?;
        if !status.is_success() {
            bail!(
                "{action} failed ({status}): {}: {}",
                body["Code"].as_str().unwrap_or("?"),
                body["Message"].as_str().unwrap_or("?")
            );
        }
        Ok(body)
    }

    /// The AccessKeyId requests are signed with.
    pub fn access_key_id(&self) -> &str {
        &self.credentials.access_key_id
    }

    /// Runs `f` with this thread in serve's namespace, so the sockets it opens live there.
    fn in_netns<T>(&self, f: impl FnOnce() -> T) -> anyhow::Result<T> {
        setns(&self.netns, CloneFlags::CLONE_NEWNET).context("entering serve's namespace")?;
        let out = f();
        setns(&self.home, CloneFlags::CLONE_NEWNET).context("leaving serve's namespace")?;
        Ok(out)
    }
}
