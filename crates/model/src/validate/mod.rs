//! Validation and defaults: request values in, resources or a field-named [`ValidationError`] out.
//!
//! The API decodes a request into the `*Input` types (every value still raw text, so that each
//! rejection can name its field) and calls the entry points here; they apply the defaults of
//! spec §2 and every rule of §2–§3, and never touch the store.

mod connection;
mod gateway;
mod input;
mod route;
mod transit;
mod tunnel;

pub use connection::{
    ConnectionContext, ConnectionField, UNPLACED, check_delete_connection,
    check_grant_authorization, modifiable, validate_connection_update, validate_new_connection,
    validate_tunnel_update,
};
pub use gateway::{
    Placement, PlacementZone, check_delete_customer_gateway, check_delete_vpn_gateway,
    validate_customer_gateway_update, validate_new_customer_gateway, validate_new_vpn_gateway,
    validate_vpn_gateway_update,
};
pub use input::{
    BgpConfigInput, ConnectionInput, CustomerGatewayInput, HealthCheckInput, IkeConfigInput,
    IpsecConfigInput, RouteEntryInput, TagInput, TunnelOptionsInput, VpnGatewayInput, from_params,
    parse_json,
};
pub use route::{
    validate_new_pbr_route_entry, validate_new_route_entry, validate_priority, validate_weight,
};
pub use transit::{
    attach_connection, check_attach_authorized, detach_connection, parse_order_type,
    validate_transit_text,
};
pub use tunnel::{parse_asn, random_psk, validate_psk, validate_tunnel_cidr};

use crate::resource::Tag;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// What kind of rule a rejected value broke; decides the error code and HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A required value is absent (`MissingParameter.<Field>`).
    Missing,
    /// A value is malformed or out of range (`InvalidParameter.<Field>`).
    Invalid,
    /// A value clashes with another resource or tunnel (`Duplicated.<Field>`).
    Duplicated,
    /// A referenced resource does not exist (`Invalid<Field>.NotFound`).
    NotFound,
    /// The field may not change for this connection (`OperationUnsupported.<Field>`).
    NotModifiable,
    /// The resource is still used and cannot be deleted (`DependencyViolation.<UsedBy>`).
    InUse,
    /// The caller's account may not use another account's resource (`Forbidden.<Field>`).
    Forbidden,
}

/// A rejected request value: an Alibaba-style code, the field as the API spells it, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ValidationError {
    /// The kind of rule broken.
    pub rule: Rule,
    /// Alibaba-style error code, e.g. `InvalidParameter.Psk`.
    pub code: String,
    /// The offending field, e.g. `TunnelOptionsSpecification.1.TunnelIkeConfig.Psk`.
    pub field: String,
    /// What is wrong and what is allowed, naming the field.
    pub message: String,
}

impl ValidationError {
    /// An error for `field` breaking `rule`, explained by `message`.
    pub fn new(rule: Rule, field: &str, message: impl fmt::Display) -> ValidationError {
        let leaf = field
            .rsplit('.')
            .find(|s| !s.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or(field);
        let code = match rule {
            Rule::Missing => format!("MissingParameter.{leaf}"),
            Rule::Invalid => format!("InvalidParameter.{leaf}"),
            Rule::Duplicated => format!("Duplicated.{leaf}"),
            Rule::NotFound => format!("Invalid{leaf}.NotFound"),
            Rule::NotModifiable => format!("OperationUnsupported.{leaf}"),
            Rule::InUse => format!("DependencyViolation.{leaf}"),
            Rule::Forbidden => format!("Forbidden.{leaf}"),
        };
        ValidationError {
            rule,
            code,
            field: field.to_string(),
            message: message.to_string(),
        }
    }

    /// A refused deletion: `field` names the resource to delete, `used_by` the kind still using it
    /// (the code is `DependencyViolation.<used_by>`).
    pub fn in_use(field: &str, used_by: &str, message: impl fmt::Display) -> ValidationError {
        ValidationError {
            code: format!("DependencyViolation.{used_by}"),
            ..ValidationError::new(Rule::InUse, field, message)
        }
    }

    /// The HTTP status the API answers with.
    pub fn http_status(&self) -> u16 {
        match self.rule {
            Rule::NotFound => 404,
            Rule::Forbidden => 403,
            _ => 400,
        }
    }
}

/// Shorthand for an [`Rule::Invalid`] error.
fn invalid(field: &str, message: impl fmt::Display) -> ValidationError {
    ValidationError::new(Rule::Invalid, field, message)
}

/// Joins a field path: `join("TunnelOptionsSpecification.1", "Role")`.
fn join(prefix: &str, leaf: &str) -> String {
    if prefix.is_empty() {
        leaf.to_string()
    } else {
        format!("{prefix}.{leaf}")
    }
}

/// The value, or `None` when absent or empty (the API treats an empty parameter as not given).
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A required value.
fn required<'a>(field: &str, v: &'a Option<String>) -> Result<&'a str, ValidationError> {
    given(v)
        .ok_or_else(|| ValidationError::new(Rule::Missing, field, format!("{field} is required")))
}

/// `true` or `false`.
fn parse_bool(field: &str, v: &str) -> Result<bool, ValidationError> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(
            field,
            format!("{field} must be true or false, not {v:?}"),
        )),
    }
}

/// An optional boolean with a default.
fn opt_bool(field: &str, v: &Option<String>, default: bool) -> Result<bool, ValidationError> {
    given(v).map_or(Ok(default), |s| parse_bool(field, s))
}

/// An integer in `min..=max`.
fn parse_u32_in(field: &str, v: &str, min: u32, max: u32) -> Result<u32, ValidationError> {
    v.parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            invalid(
                field,
                format!("{field} must be an integer from {min} to {max}, not {v:?}"),
            )
        })
}

/// A name from a fixed list (algorithm names and the like).
fn parse_name<T: FromStr<Err = crate::algo::UnknownName>>(
    field: &str,
    v: &str,
) -> Result<T, ValidationError> {
    v.parse().map_err(|e: crate::algo::UnknownName| {
        invalid(
            field,
            format!(
                "{field} must be one of {}; got {v:?}",
                e.expected.trim_end().replace(' ', ", ")
            ),
        )
    })
}

/// A dotted-quad IPv4 address.
fn parse_ipv4(field: &str, v: &str) -> Result<Ipv4Addr, ValidationError> {
    v.parse().map_err(|_| {
        invalid(
            field,
            format!("{field} must be an IPv4 address such as 192.0.2.1, not {v:?}"),
        )
    })
}

/// An IPv4 CIDR block given by its network address (no host bits set).
fn parse_cidr(field: &str, v: &str) -> Result<ipnet::Ipv4Net, ValidationError> {
    let net: ipnet::Ipv4Net = v.parse().map_err(|_| {
        invalid(
            field,
            format!("{field} must be an IPv4 CIDR block such as 10.0.0.0/16, not {v:?}"),
        )
    })?;
    if net.trunc() != net {
        return Err(invalid(
            field,
            format!(
                "{field} must name a network address: {v} has host bits set (did you mean {}?)",
                net.trunc()
            ),
        ));
    }
    Ok(net)
}

/// Names and descriptions: at most 100 characters, not starting with `http://` or `https://`.
fn free_text(field: &str, v: &Option<String>) -> Result<Option<String>, ValidationError> {
    let Some(s) = v.as_deref().filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if s.chars().count() > 100 {
        return Err(invalid(
            field,
            format!("{field} must be 1 to 100 characters long"),
        ));
    }
    if s.starts_with("http://") || s.starts_with("https://") {
        return Err(invalid(
            field,
            format!("{field} must not start with http:// or https://"),
        ));
    }
    Ok(Some(s.to_string()))
}

/// Tags: at most 20, keys 1..=64 characters and unique, values at most 128; neither may start
/// with `aliyun` or `acs:` nor contain `http://` or `https://`. `field` is the list's name (`Tag`).
pub fn validate_tags(field: &str, tags: &[TagInput]) -> Result<Vec<Tag>, ValidationError> {
    if tags.len() > 20 {
        return Err(invalid(
            field,
            format!("{field} may hold at most 20 tags, not {}", tags.len()),
        ));
    }
    let mut out: Vec<Tag> = Vec::with_capacity(tags.len());
    for (i, t) in (1..).zip(tags) {
        let key_field = format!("{field}.{i}.Key");
        let key = required(&key_field, &t.key)?;
        check_tag_text(&key_field, key, 64)?;
        if out.iter().any(|o| o.key == key) {
            return Err(ValidationError::new(
                Rule::Duplicated,
                &key_field,
                format!("{key_field} repeats the tag key {key:?}"),
            ));
        }
        let value = t.value.clone().unwrap_or_default();
        check_tag_text(&format!("{field}.{i}.Value"), &value, 128)?;
        out.push(Tag {
            key: key.to_string(),
            value,
        });
    }
    Ok(out)
}

fn check_tag_text(field: &str, v: &str, max: usize) -> Result<(), ValidationError> {
    if v.chars().count() > max {
        return Err(invalid(
            field,
            format!("{field} must be at most {max} characters long"),
        ));
    }
    if v.starts_with("aliyun") || v.starts_with("acs:") {
        return Err(invalid(
            field,
            format!("{field} must not start with aliyun or acs:"),
        ));
    }
    if v.contains("http://") || v.contains("https://") {
        return Err(invalid(
            field,
            format!("{field} must not contain http:// or https://"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
