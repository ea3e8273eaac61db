//! Request signatures: ACS3-HMAC-SHA256 (tea-openapi SDKs) and the RPC HMAC-SHA1 signature (aliyun-python-sdk-core).

use crate::error::ApiError;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use hmac::{KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// How far a request's timestamp may be from the server's clock.
pub const MAX_SKEW: time::Duration = time::Duration::minutes(15);

/// RFC 3986 unreserved characters stay, everything else is percent-encoded (as the SDKs' `quote(safe='~')`).
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The parts of an HTTP request a signature covers.
pub struct SignedRequest<'a> {
    /// HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// URL path, e.g. `/`.
    pub path: &'a str,
    /// Decoded URL query pairs.
    pub query: &'a [(String, String)],
    /// Decoded `application/x-www-form-urlencoded` body pairs (empty for other bodies).
    pub form: &'a [(String, String)],
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Raw body.
    pub body: &'a [u8],
}

/// Which signature scheme a request uses, with what it claims.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scheme {
    /// `Authorization: ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`.
    Acs3 {
        signed_headers: Vec<String>,
        signature: Vec<u8>,
    },
    /// `Signature` and friends in the query or form (HMAC-SHA1).
    RpcSha1 { signature: Vec<u8> },
}

/// What a request claims before it is checked: who signed it, when, with which nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The AccessKeyId that signed the request.
    pub access_key_id: String,
    /// The request's signing time.
    pub timestamp: OffsetDateTime,
    /// The request's one-time nonce.
    pub nonce: String,
    scheme: Scheme,
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn param<'p>(req: &'p SignedRequest<'_>, name: &str) -> Option<&'p str> {
    req.query
        .iter()
        .chain(req.form)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn incomplete(what: &str) -> ApiError {
    ApiError::bad_request(
        "IncompleteSignature",
        format!("The request signature does not conform to Aliyun standards: {what}."),
    )
}

fn parse_time(s: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
        ApiError::bad_request(
            "InvalidTimeStamp.Format",
            format!("Specified time stamp or date value \"{s}\" is not well formatted."),
        )
    })
}

impl Claim {
    /// Reads the claimed identity, time and nonce from a request, or says what is missing.
    pub fn parse(req: &SignedRequest<'_>) -> Result<Claim, ApiError> {
        if let Some(auth) = header(req.headers, "authorization") {
            return Self::parse_acs3(req, auth);
        }
        let signature = param(req, "Signature").ok_or_else(|| ApiError::missing("Signature"))?;
        let access_key_id =
            param(req, "AccessKeyId").ok_or_else(|| ApiError::missing("AccessKeyId"))?;
        let nonce =
            param(req, "SignatureNonce").ok_or_else(|| ApiError::missing("SignatureNonce"))?;
        let timestamp = param(req, "Timestamp").ok_or_else(|| ApiError::missing("Timestamp"))?;
        match param(req, "SignatureMethod") {
            Some("HMAC-SHA1") => {}
            Some(other) => {
                return Err(ApiError::bad_request(
                    "InvalidSignatureMethod",
                    format!(
                        "Specified signature method \"{other}\" is not supported; use HMAC-SHA1."
                    ),
                ));
            }
            None => return Err(ApiError::missing("SignatureMethod")),
        }
        let signature = base64::engine::general_purpose::STANDARD
            .decode(signature)
            .map_err(|_| signature_mismatch(""))?;
        Ok(Claim {
            access_key_id: access_key_id.to_string(),
            timestamp: parse_time(timestamp)?,
            nonce: nonce.to_string(),
            scheme: Scheme::RpcSha1 { signature },
        })
    }

    fn parse_acs3(req: &SignedRequest<'_>, auth: &str) -> Result<Claim, ApiError> {
        let rest = auth.strip_prefix("ACS3-HMAC-SHA256 ").ok_or_else(|| {
            ApiError::bad_request(
                "InvalidSignatureMethod",
                "Only the ACS3-HMAC-SHA256 signature is supported.",
            )
        })?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            match part.trim().split_once('=') {
                Some(("Credential", v)) => credential = Some(v),
                Some(("SignedHeaders", v)) => signed = Some(v),
                Some(("Signature", v)) => signature = Some(v),
                _ => {}
            }
        }
        let credential = credential.ok_or_else(|| incomplete("Credential is missing"))?;
        let signed = signed.ok_or_else(|| incomplete("SignedHeaders is missing"))?;
        let signature = signature.ok_or_else(|| incomplete("Signature is missing"))?;
        let signed_headers: Vec<String> = signed
            .split(';')
            .map(str::to_ascii_lowercase)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for required in ["x-acs-date", "x-acs-signature-nonce", "x-acs-action"] {
            if !signed_headers.iter().any(|h| h == required) {
                return Err(incomplete(&format!("header {required} must be signed")));
            }
        }
        let nonce = header(req.headers, "x-acs-signature-nonce")
            .ok_or_else(|| ApiError::missing("x-acs-signature-nonce"))?;
        let date =
            header(req.headers, "x-acs-date").ok_or_else(|| ApiError::missing("x-acs-date"))?;
        Ok(Claim {
            access_key_id: credential.to_string(),
            timestamp: parse_time(date)?,
            nonce: nonce.to_string(),
            scheme: Scheme::Acs3 {
                signed_headers,
                signature: hex::decode(signature).map_err(|_| signature_mismatch(""))?,
            },
        })
    }

    /// Rejects a request signed more than [`MAX_SKEW`] away from `now`.
    pub fn check_time(&self, now: OffsetDateTime) -> Result<(), ApiError> {
        if (now - self.timestamp).abs() > MAX_SKEW {
            return Err(ApiError::bad_request(
                "InvalidTimeStamp.Expired",
                format!(
                    "Specified time stamp or date value is expired: {} is more than 15 minutes from the server time.",
                    self.timestamp
                ),
            ));
        }
        Ok(())
    }

    /// Checks the signature against the secret of the claimed AccessKeyId.
    pub fn verify(&self, req: &SignedRequest<'_>, secret: &str) -> Result<(), ApiError> {
        match &self.scheme {
            Scheme::Acs3 {
                signed_headers,
                signature,
            } => {
                let string_to_sign = acs3_string_to_sign(req, signed_headers);
                acs3_mac(secret, &string_to_sign)?
                    .verify_slice(signature)
                    .map_err(|_| signature_mismatch(&string_to_sign))
            }
            Scheme::RpcSha1 { signature } => {
                let key = format!("{secret}&");
                let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes())
                    .map_err(ApiError::internal)?;
                let string_to_sign = rpc_string_to_sign(req);
                mac.update(string_to_sign.as_bytes());
                mac.verify_slice(signature)
                    .map_err(|_| signature_mismatch(&string_to_sign))
            }
        }
    }
}

/// The cloud's answer to a wrong signature; aliyun-python-sdk-core reads the string to sign after the colon.
fn signature_mismatch(string_to_sign: &str) -> ApiError {
    ApiError::bad_request(
        "SignatureDoesNotMatch",
        format!(
            "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
        ),
    )
}

fn encode(s: &str) -> String {
    utf8_percent_encode(s, ENCODE).to_string()
}

/// The ACS3-HMAC-SHA256 string to sign: the algorithm and the hex SHA-256 of the canonical request.
pub fn acs3_string_to_sign(req: &SignedRequest<'_>, signed_headers: &[String]) -> String {
    let mut query: Vec<&(String, String)> = req.query.iter().collect();
    query.sort();
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut canonical_headers = String::new();
    for name in signed_headers {
        let mut values: Vec<&str> = req
            .headers
            .get_all(name.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .collect();
        values.sort_unstable();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        if req.path.is_empty() { "/" } else { req.path },
        canonical_query,
        canonical_headers,
        signed_headers.join(";"),
        hex::encode(Sha256::digest(req.body)),
    );
    format!(
        "ACS3-HMAC-SHA256\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

/// The ACS3 MAC of a string to sign under an AccessKeySecret.
fn acs3_mac(secret: &str, string_to_sign: &str) -> Result<hmac::Hmac<Sha256>, ApiError> {
    let mut mac =
        hmac::Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(ApiError::internal)?;
    mac.update(string_to_sign.as_bytes());
    Ok(mac)
}

/// The `Authorization` header an SDK sends with `req` (ACS3-HMAC-SHA256 over every header `req` carries).
pub fn acs3_authorization(
    req: &SignedRequest<'_>,
    access_key_id: &str,
    secret: &str,
) -> Result<String, ApiError> {
    let signed_headers: Vec<String> = req
        .headers
        .keys()
        .map(|name| name.as_str().to_ascii_lowercase())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let string_to_sign = acs3_string_to_sign(req, &signed_headers);
    let signature = acs3_mac(secret, &string_to_sign)?.finalize().into_bytes();
    Ok(format!(
        "ACS3-HMAC-SHA256 Credential={access_key_id},SignedHeaders={},Signature={}",
        signed_headers.join(";"),
        hex::encode(signature)
    ))
}

/// The RPC HMAC-SHA1 string to sign: `METHOD&%2F&` and the encoded, sorted query and form parameters.
pub fn rpc_string_to_sign(req: &SignedRequest<'_>) -> String {
    let mut params: Vec<(String, String)> = req
        .query
        .iter()
        .chain(req.form)
        .filter(|(k, _)| k != "Signature")
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    params.sort();
    let canonical = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!("{}&%2F&{}", req.method, encode(&canonical))
}

/// Nonces seen within the signature window, so a replayed request is refused.
#[derive(Default)]
pub struct NonceCache {
    inner: Mutex<NonceSets>,
}

#[derive(Default)]
struct NonceSets {
    seen: HashSet<(String, String)>,
    by_expiry: BTreeSet<(OffsetDateTime, String, String)>,
}

impl NonceCache {
    /// Records the claim's nonce, or refuses it when the same key already used it inside the window.
    pub fn check_and_record(&self, claim: &Claim, now: OffsetDateTime) -> Result<(), ApiError> {
        let mut sets = self
            .inner
            .lock()
            .map_err(|_| ApiError::internal("nonce cache poisoned"))?;
        while let Some(first) = sets.by_expiry.first().cloned() {
            if first.0 >= now {
                break;
            }
            sets.by_expiry.pop_first();
            sets.seen.remove(&(first.1, first.2));
        }
        let key = (claim.access_key_id.clone(), claim.nonce.clone());
        if !sets.seen.insert(key) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "SignatureNonceUsed",
                format!(
                    "Specified signature nonce \"{}\" was used already.",
                    claim.nonce
                ),
            ));
        }
        sets.by_expiry.insert((
            claim.timestamp.saturating_add(MAX_SKEW),
            claim.access_key_id.clone(),
            claim.nonce.clone(),
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("host", "127.0.0.1:8080"),
            ("x-acs-action", "DescribeVpnGateways"),
            ("x-acs-version", "2016-04-28"),
            ("x-acs-date", "2026-11-23T05:00:00Z"),
            ("x-acs-signature-nonce", "n-1"),
        ] {
            h.insert(name, HeaderValue::from_static(value));
        }
        h
    }

    fn request<'a>(query: &'a [(String, String)], headers: &'a HeaderMap) -> SignedRequest<'a> {
        SignedRequest {
            method: "POST",
            path: "/",
            query,
            form: &[],
            headers,
            body: b"",
        }
    }

    #[test]
    fn a_client_signature_verifies_with_its_secret_only() {
        let query = vec![("RegionId".to_string(), "local-1".to_string())];
        let mut h = headers();
        let auth = acs3_authorization(&request(&query, &h), "AK1", "secret").unwrap();
        h.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        let signed = request(&query, &h);
        let claim = Claim::parse(&signed).unwrap();
        assert_eq!(claim.access_key_id, "AK1");
        assert_eq!(claim.nonce, "n-1");
        claim.verify(&signed, "secret").unwrap();
        assert_eq!(
            claim.verify(&signed, "other").unwrap_err().code,
            "SignatureDoesNotMatch"
        );
        let other_region = vec![("RegionId".to_string(), "local-2".to_string())];
        let tampered = SignedRequest {
            query: &other_region,
            ..request(&query, &h)
        };
        assert!(claim.verify(&tampered, "secret").is_err());
    }
}
