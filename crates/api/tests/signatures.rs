//! Signature verification against vectors computed by the SDKs' own signers
//! (alibabacloud_tea_openapi `Utils.get_authorization` / `Utils.get_rpcsignature` and
//! aliyunsdkcore `rpc_signature_composer`), for fixed requests and the secret below.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use strait_api::sign::{Claim, NonceCache, SignedRequest};
use time::macros::datetime;

const SECRET: &str = "exampleSecret0123456789abcdefgh";
const AK: &str = "LTAIexampleKeyId0000001";

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn headers(h: &[(&str, &str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (k, v) in h {
        m.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    m
}

fn acs3_headers(action: &str, content_sha: &str, auth: &str, extra: &[(&str, &str)]) -> HeaderMap {
    let mut h = headers(&[
        ("host", "127.0.0.1:8080"),
        ("x-acs-version", "2016-04-28"),
        ("x-acs-action", action),
        ("user-agent", "AlibabaCloud (Linux) Python/3.11.7 TeaDSL/2"),
        ("x-acs-date", "2026-11-23T02:00:00Z"),
        ("x-acs-signature-nonce", "f3a1c7e0b2d94d7e8a5b6c4d3e2f1a0b"),
        ("accept", "application/json"),
        ("x-acs-content-sha256", content_sha),
        ("authorization", auth),
        ("content-length", "0"),
    ]);
    for (k, v) in extra {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

const EMPTY_SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const ACS3_QUERY_ONLY: &str = "ACS3-HMAC-SHA256 Credential=LTAIexampleKeyId0000001,SignedHeaders=accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=f270e9d63ccbc56065bcd859b44d81a76c67890ec2faf8a5584f7470bed0250d";

fn acs3_query() -> Vec<(String, String)> {
    pairs(&[
        ("VpnGatewayId", "vpn-abc"),
        ("Name", "my gw*~ é"),
        ("Tag.1.Key", "env"),
        ("RegionId", "local-1"),
    ])
}

#[test]
fn acs3_vector_from_the_sdk_verifies_and_any_change_breaks_it() {
    let query = acs3_query();
    let h = acs3_headers("DescribeVpnGateway", EMPTY_SHA, ACS3_QUERY_ONLY, &[]);
    let req = SignedRequest {
        method: "POST",
        path: "/",
        query: &query,
        form: &[],
        headers: &h,
        body: b"",
    };
    let claim = Claim::parse(&req).unwrap();
    assert_eq!(claim.access_key_id, AK);
    assert_eq!(claim.nonce, "f3a1c7e0b2d94d7e8a5b6c4d3e2f1a0b");
    assert_eq!(claim.timestamp, datetime!(2026-11-23 02:00:00 UTC));
    claim.verify(&req, SECRET).unwrap();

    assert_eq!(
        claim.verify(&req, "otherSecret").unwrap_err().code,
        "SignatureDoesNotMatch"
    );

    let mut tampered = query.clone();
    tampered[0].1 = "vpn-abd".into();
    let req2 = SignedRequest {
        query: &tampered,
        ..req
    };
    assert_eq!(
        claim.verify(&req2, SECRET).unwrap_err().code,
        "SignatureDoesNotMatch"
    );

    let h2 = acs3_headers("DeleteVpnGateway", EMPTY_SHA, ACS3_QUERY_ONLY, &[]);
    let req3 = SignedRequest {
        headers: &h2,
        ..req
    };
    assert_eq!(
        claim.verify(&req3, SECRET).unwrap_err().code,
        "SignatureDoesNotMatch"
    );

    let req4 = SignedRequest {
        method: "GET",
        ..req
    };
    assert_eq!(
        claim.verify(&req4, SECRET).unwrap_err().code,
        "SignatureDoesNotMatch"
    );
}

#[test]
fn acs3_vector_with_form_body_covers_the_body() {
    let body = b"TunnelOptionsSpecification.1.Role=master&Name=x+y";
    let body_sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(body))
    };
    let auth = "ACS3-HMAC-SHA256 Credential=LTAIexampleKeyId0000001,SignedHeaders=accept;content-type;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=59ade5ae5bee7a7076742f8e663767874f91ecfbf1d8d885c591fe1918adf2e5";
    let query = pairs(&[("VpnGatewayId", "vpn-abc")]);
    let h = acs3_headers(
        "CreateVpnConnection",
        &body_sha,
        auth,
        &[("content-type", "application/x-www-form-urlencoded")],
    );
    let form = pairs(&[
        ("TunnelOptionsSpecification.1.Role", "master"),
        ("Name", "x y"),
    ]);
    let req = SignedRequest {
        method: "POST",
        path: "/",
        query: &query,
        form: &form,
        headers: &h,
        body,
    };
    let claim = Claim::parse(&req).unwrap();
    claim.verify(&req, SECRET).unwrap();
    let other = b"TunnelOptionsSpecification.1.Role=slave&Name=x+y";
    let req2 = SignedRequest { body: other, ..req };
    assert_eq!(
        claim.verify(&req2, SECRET).unwrap_err().code,
        "SignatureDoesNotMatch"
    );
}

fn rpc_query(signature: &str) -> Vec<(String, String)> {
    pairs(&[
        ("Action", "DescribeVpnGateways"),
        ("Version", "2016-04-28"),
        ("Format", "JSON"),
        ("AccessKeyId", AK),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureType", ""),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", "4d2c1b0a-9e8f-4a7b-8c6d-5e4f3a2b1c0d"),
        ("Timestamp", "2026-11-23T02:00:00Z"),
        ("RegionId", "local-1"),
        ("PageSize", "50"),
        ("Name", "a b*c~"),
        ("Signature", signature),
    ])
}

#[test]
fn rpc_sha1_vector_from_the_sdk_verifies() {
    let query = rpc_query("beMkVojdVrP9Of3dm3RCjfci6H4=");
    let h = HeaderMap::new();
    let req = SignedRequest {
        method: "GET",
        path: "/",
        query: &query,
        form: &[],
        headers: &h,
        body: b"",
    };
    assert_eq!(
        strait_api::sign::rpc_string_to_sign(&req),
        "GET&%2F&AccessKeyId%3DLTAIexampleKeyId0000001%26Action%3DDescribeVpnGateways%26Format%3DJSON%26Name%3Da%2520b%252Ac~%26PageSize%3D50%26RegionId%3Dlocal-1%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D4d2c1b0a-9e8f-4a7b-8c6d-5e4f3a2b1c0d%26SignatureType%3D%26SignatureVersion%3D1.0%26Timestamp%3D2026-11-23T02%253A00%253A00Z%26Version%3D2016-04-28"
    );
    let claim = Claim::parse(&req).unwrap();
    assert_eq!(claim.access_key_id, AK);
    claim.verify(&req, SECRET).unwrap();
    assert_eq!(
        claim.verify(&req, "wrong").unwrap_err().code,
        "SignatureDoesNotMatch"
    );
    let post = SignedRequest {
        method: "POST",
        ..req
    };
    assert_eq!(
        claim.verify(&post, SECRET).unwrap_err().code,
        "SignatureDoesNotMatch"
    );
}

#[test]
fn missing_or_malformed_signatures_are_named() {
    let h = HeaderMap::new();
    let mut query = rpc_query("beMkVojdVrP9Of3dm3RCjfci6H4=");
    query.retain(|(k, _)| k != "Signature");
    let req = SignedRequest {
        method: "GET",
        path: "/",
        query: &query,
        form: &[],
        headers: &h,
        body: b"",
    };
    assert_eq!(
        Claim::parse(&req).unwrap_err().code,
        "MissingParameter.Signature"
    );

    let query = rpc_query("not base64 !!");
    let req = SignedRequest {
        query: &query,
        ..req
    };
    assert_eq!(
        Claim::parse(&req).unwrap_err().code,
        "SignatureDoesNotMatch"
    );

    // An ACS3 request whose date header is not signed could be replayed with a new date.
    let auth = "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;x-acs-action;x-acs-signature-nonce,Signature=00";
    let h = acs3_headers("DescribeVpnGateway", EMPTY_SHA, auth, &[]);
    let query = acs3_query();
    let req = SignedRequest {
        query: &query,
        headers: &h,
        ..req
    };
    assert_eq!(Claim::parse(&req).unwrap_err().code, "IncompleteSignature");

    let h = acs3_headers("DescribeVpnGateway", EMPTY_SHA, "Bearer xyz", &[]);
    let req = SignedRequest { headers: &h, ..req };
    assert_eq!(
        Claim::parse(&req).unwrap_err().code,
        "InvalidSignatureMethod"
    );

    // Garbage in every ACS3 slot: nothing panics, each answer names the problem.
    for (auth, code) in [
        ("ACS3-HMAC-SHA256 ", "IncompleteSignature"),
        ("ACS3-HMAC-SHA256 Credential", "IncompleteSignature"),
        (
            "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=,Signature=",
            "IncompleteSignature",
        ),
        (
            "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=x-acs-date;x-acs-signature-nonce;x-acs-action,Signature=zz",
            "SignatureDoesNotMatch",
        ),
    ] {
        let h = acs3_headers("DescribeVpnGateway", EMPTY_SHA, auth, &[]);
        let req = SignedRequest { headers: &h, ..req };
        assert_eq!(Claim::parse(&req).unwrap_err().code, code, "{auth}");
    }
    let mut bad_date = acs3_headers("DescribeVpnGateway", EMPTY_SHA, ACS3_QUERY_ONLY, &[]);
    bad_date.insert("x-acs-date", HeaderValue::from_static("yesterday"));
    let req = SignedRequest {
        headers: &bad_date,
        ..req
    };
    assert_eq!(
        Claim::parse(&req).unwrap_err().code,
        "InvalidTimeStamp.Format"
    );

    let mut query = rpc_query("beMkVojdVrP9Of3dm3RCjfci6H4=");
    query.retain(|(k, _)| k != "SignatureMethod");
    query.push(("SignatureMethod".into(), "HMAC-MD5".into()));
    let h = HeaderMap::new();
    let req = SignedRequest {
        query: &query,
        headers: &h,
        ..req
    };
    assert_eq!(
        Claim::parse(&req).unwrap_err().code,
        "InvalidSignatureMethod"
    );
}

#[test]
fn stale_timestamps_and_reused_nonces_are_refused() {
    let query = acs3_query();
    let h = acs3_headers("DescribeVpnGateway", EMPTY_SHA, ACS3_QUERY_ONLY, &[]);
    let req = SignedRequest {
        method: "POST",
        path: "/",
        query: &query,
        form: &[],
        headers: &h,
        body: b"",
    };
    let claim = Claim::parse(&req).unwrap();
    claim
        .check_time(datetime!(2026-11-23 02:14:59 UTC))
        .unwrap();
    claim
        .check_time(datetime!(2026-11-23 01:45:01 UTC))
        .unwrap();
    assert_eq!(
        claim
            .check_time(datetime!(2026-11-23 02:15:01 UTC))
            .unwrap_err()
            .code,
        "InvalidTimeStamp.Expired"
    );
    assert_eq!(
        claim
            .check_time(datetime!(2026-11-23 01:44:59 UTC))
            .unwrap_err()
            .code,
        "InvalidTimeStamp.Expired"
    );

    let cache = NonceCache::default();
    let now = datetime!(2026-11-23 02:00:10 UTC);
    cache.check_and_record(&claim, now).unwrap();
    assert_eq!(
        cache.check_and_record(&claim, now).unwrap_err().code,
        "SignatureNonceUsed"
    );
    // Once the timestamp itself has expired the nonce may be forgotten: the time check refuses it first.
    cache
        .check_and_record(&claim, datetime!(2026-11-23 02:16:00 UTC))
        .unwrap();
}
