//! RPC request parameters: the flat `Key=Value` map the SDKs send, with typed, field-naming accessors.

use crate::error::ApiError;
use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

/// Parameters of one request, merged from the URL query and the form body; nested names are dotted
/// (`TunnelOptionsSpecification.1.TunnelIkeConfig.Psk`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    prefix: String,
    map: BTreeMap<String, String>,
}

impl Params {
    /// Parameters from decoded pairs; a later pair overrides an earlier one.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = &'a (String, String)>) -> Self {
        Params {
            prefix: String::new(),
            map: pairs.into_iter().cloned().collect(),
        }
    }

    /// The full API name of a field of this (possibly nested) parameter set.
    pub fn field(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Every parameter of this set, names relative to it.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A parameter's raw value.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    /// A parameter that must be present and non-empty.
    pub fn required(&self, key: &str) -> Result<&str, ApiError> {
        match self.str(key) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::missing(&self.field(key))),
        }
    }

    /// A parameter parsed with `FromStr`, naming the field when it does not parse.
    pub fn parse<T: FromStr>(&self, key: &str) -> Result<Option<T>, ApiError>
    where
        T::Err: Display,
    {
        self.str(key)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|e| ApiError::invalid(&self.field(key), format!("\"{v}\": {e}")))
            })
            .transpose()
    }

    /// A boolean parameter (`true`/`false`, any case, as Python SDKs send `True`).
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        self.str(key)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::invalid(
                    &self.field(key),
                    format!("\"{v}\" is not true or false"),
                )),
            })
            .transpose()
    }

    /// The parameters under `key.` as their own set, e.g. `TunnelOptionsSpecification.TunnelIkeConfig`.
    pub fn nested(&self, key: &str) -> Params {
        let dotted = format!("{key}.");
        Params {
            prefix: format!("{}{dotted}", self.prefix),
            map: self
                .map
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix(&dotted)
                        .map(|rest| (rest.to_string(), v.clone()))
                })
                .collect(),
        }
    }

    /// A repeated parameter `key.N` or `key.N.field...`, ordered by N; each entry is its own set (a
    /// plain `key.N=value` appears as the entry's `""` key).
    pub fn repeated(&self, key: &str) -> Result<Vec<Params>, ApiError> {
        let dotted = format!("{key}.");
        let mut entries: BTreeMap<u32, Params> = BTreeMap::new();
        for (k, v) in &self.map {
            let Some(rest) = k.strip_prefix(&dotted) else {
                continue;
            };
            let (index, field) = rest.split_once('.').unwrap_or((rest, ""));
            let n: u32 = index.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                ApiError::invalid(&self.field(key), format!("\"{k}\" has no valid index"))
            })?;
            entries
                .entry(n)
                .or_insert_with(|| Params {
                    prefix: format!("{}{dotted}{n}.", self.prefix),
                    map: BTreeMap::new(),
                })
                .map
                .insert(field.to_string(), v.clone());
        }
        Ok(entries.into_values().collect())
    }

    /// The values of a repeated scalar parameter `key.N`, ordered by N.
    pub fn list(&self, key: &str) -> Result<Vec<String>, ApiError> {
        Ok(self
            .repeated(key)?
            .into_iter()
            .filter_map(|p| p.str("").map(str::to_string))
            .collect())
    }

    /// A list of ids sent as repeated `key.N` (the SDKs), a JSON array string or a comma-separated
    /// value; empty when absent.
    pub fn id_list(&self, key: &str) -> Result<Vec<String>, ApiError> {
        let repeated = self.list(key)?;
        let raw = match self.str(key).map(str::trim) {
            Some(raw) if !raw.is_empty() => raw,
            _ => return Ok(repeated),
        };
        let ids: Vec<String> = if raw.starts_with('[') {
            serde_json::from_str(raw).map_err(|e| {
                ApiError::invalid(
                    &self.field(key),
                    format!("not a JSON array of strings: {e}"),
                )
            })?
        } else {
            raw.split(',').map(|s| s.trim().to_string()).collect()
        };
        Ok(repeated
            .into_iter()
            .chain(ids)
            .filter(|id| !id.is_empty())
            .collect())
    }

    /// `PageNumber` (default 1) and `PageSize` (default 10, at most `max`).
    pub fn page(&self, max: u32) -> Result<Page, ApiError> {
        let number = self.parse::<u32>("PageNumber")?.unwrap_or(1);
        let size = self.parse::<u32>("PageSize")?.unwrap_or(10);
        if number == 0 {
            return Err(ApiError::invalid("PageNumber", "must be 1 or more"));
        }
        if size == 0 || size > max {
            return Err(ApiError::invalid(
                "PageSize",
                format!("must be between 1 and {max}"),
            ));
        }
        Ok(Page { number, size })
    }
}

/// One page of a list: 1-based number and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based page number.
    pub number: u32,
    /// Items per page.
    pub size: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Params::from_pairs(&owned)
    }

    #[test]
    fn repeated_entries_keep_numeric_order_and_full_field_names() {
        let p = params(&[
            ("TunnelOptionsSpecification.10.Role", "slave"),
            ("TunnelOptionsSpecification.2.Role", "master"),
            ("TunnelOptionsSpecification.2.TunnelIkeConfig.Psk", ""),
            ("ResourceId.1", "vpn-a"),
            ("ResourceId.2", "vpn-b"),
        ]);
        let tunnels = p.repeated("TunnelOptionsSpecification").unwrap();
        assert_eq!(tunnels.len(), 2);
        assert_eq!(tunnels[0].str("Role"), Some("master"));
        assert_eq!(tunnels[1].str("Role"), Some("slave"));
        let ike = tunnels[0].nested("TunnelIkeConfig");
        assert_eq!(
            ike.required("Psk").unwrap_err().code,
            "MissingParameter.TunnelOptionsSpecification.2.TunnelIkeConfig.Psk"
        );
        assert_eq!(p.list("ResourceId").unwrap(), vec!["vpn-a", "vpn-b"]);
    }

    #[test]
    fn id_lists_come_repeated_as_json_or_comma_separated() {
        let repeated = params(&[("TunnelIds.2", "tun-b"), ("TunnelIds.1", "tun-a")]);
        assert_eq!(
            repeated.id_list("TunnelIds").unwrap(),
            vec!["tun-a", "tun-b"]
        );
        let json = params(&[("TunnelIds", r#"["tun-a", "tun-b"]"#)]);
        assert_eq!(json.id_list("TunnelIds").unwrap(), vec!["tun-a", "tun-b"]);
        let commas = params(&[("TunnelIds", "tun-a, tun-b")]);
        assert_eq!(commas.id_list("TunnelIds").unwrap(), vec!["tun-a", "tun-b"]);
        assert!(params(&[]).id_list("TunnelIds").unwrap().is_empty());
        let bad = params(&[("TunnelIds", "[1, 2]")]);
        assert_eq!(
            bad.id_list("TunnelIds").unwrap_err().code,
            "InvalidParameter.TunnelIds"
        );
    }

    #[test]
    fn bad_values_name_their_field() {
        let p = params(&[
            ("EnableDpd", "yes"),
            ("PageSize", "0"),
            ("Tag.x.Key", "k"),
            ("DryRun", "True"),
        ]);
        assert_eq!(
            p.bool("EnableDpd").unwrap_err().code,
            "InvalidParameter.EnableDpd"
        );
        assert_eq!(p.bool("DryRun").unwrap(), Some(true));
        assert_eq!(p.page(50).unwrap_err().code, "InvalidParameter.PageSize");
        assert_eq!(p.repeated("Tag").unwrap_err().code, "InvalidParameter.Tag");
    }
}
