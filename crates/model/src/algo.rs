//! Algorithm names as the API spells them (`aes`, `sha1`, `group2`, ...).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A name the API does not accept for an algorithm field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}; expected one of {expected}")]
pub struct UnknownName {
    /// Which kind of name was parsed (e.g. "encryption algorithm").
    pub kind: &'static str,
    /// The rejected value.
    pub value: String,
    /// The accepted values, comma separated.
    pub expected: &'static str,
}

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident, $kind:literal, { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub enum $name { $($(#[$vm])* #[doc = concat!("Spelled `", $s, "` in the API.")] $var),+ }

        impl $name {
            /// Every value, in the order the API documents them.
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            /// The API spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($s => Ok($name::$var),)+
                    _ => Err(UnknownName {
                        kind: $kind,
                        value: s.to_string(),
                        expected: concat!($($s, " "),+),
                    }),
                }
            }
        }
        impl TryFrom<String> for $name {
            type Error = UnknownName;
            fn try_from(s: String) -> Result<Self, UnknownName> { s.parse() }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String { v.as_str().to_string() }
        }
    };
}

named_enum!(
    /// IKE protocol version.
    IkeVersion, "IKE version", { V1 = "ikev1", V2 = "ikev2" }
);
named_enum!(
    /// IKEv1 phase-1 exchange mode.
    IkeMode, "IKE negotiation mode", { Main = "main", Aggressive = "aggressive" }
);
named_enum!(
    /// Encryption algorithm of phase 1 or phase 2.
    EncAlg, "encryption algorithm", {
        /// AES-128-CBC.
        Aes = "aes",
        /// AES-192-CBC.
        Aes192 = "aes192",
        /// AES-256-CBC.
        Aes256 = "aes256",
        /// DES-CBC (legacy).
        Des = "des",
        /// 3DES-EDE-CBC (legacy).
        TripleDes = "3des",
        /// AES-128-GCM with a 16-octet ICV (beyond the cloud's list).
        Aes128Gcm16 = "aes128gcm16",
        /// AES-256-GCM with a 16-octet ICV (beyond the cloud's list).
        Aes256Gcm16 = "aes256gcm16",
    }
);
named_enum!(
    /// Authentication (integrity) algorithm; in phase 1 the PRF follows it.
    AuthAlg, "authentication algorithm", {
        Md5 = "md5", Sha1 = "sha1", Sha256 = "sha256", Sha384 = "sha384", Sha512 = "sha512",
    }
);
named_enum!(
    /// Diffie-Hellman group of phase 1.
    DhGroup, "DH group", {
        Group1 = "group1", Group2 = "group2", Group5 = "group5", Group14 = "group14",
        /// ECP-256 (beyond the cloud's list).
        Group19 = "group19",
        /// Curve25519 (beyond the cloud's list).
        Group31 = "group31",
    }
);
named_enum!(
    /// Phase-2 PFS group; anything but `disabled` does a fresh DH on every rekey.
    Pfs, "PFS DH group", {
        Disabled = "disabled",
        Group1 = "group1", Group2 = "group2", Group5 = "group5", Group14 = "group14",
        Group19 = "group19", Group31 = "group31",
    }
);

impl EncAlg {
    /// Whether this is an AEAD cipher (the integrity algorithm is then not used by ESP).
    pub fn is_aead(self) -> bool {
        matches!(self, EncAlg::Aes128Gcm16 | EncAlg::Aes256Gcm16)
    }
}

impl DhGroup {
    /// The IANA transform id of the group.
    pub fn iana_id(self) -> u16 {
        match self {
            DhGroup::Group1 => 1,
            DhGroup::Group2 => 2,
            DhGroup::Group5 => 5,
            DhGroup::Group14 => 14,
            DhGroup::Group19 => 19,
            DhGroup::Group31 => 31,
        }
    }
}

impl Pfs {
    /// The DH group for a PFS exchange, or None when PFS is disabled.
    pub fn group(self) -> Option<DhGroup> {
        match self {
            Pfs::Disabled => None,
            Pfs::Group1 => Some(DhGroup::Group1),
            Pfs::Group2 => Some(DhGroup::Group2),
            Pfs::Group5 => Some(DhGroup::Group5),
            Pfs::Group14 => Some(DhGroup::Group14),
            Pfs::Group19 => Some(DhGroup::Group19),
            Pfs::Group31 => Some(DhGroup::Group31),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_rejected() {
        for e in EncAlg::ALL {
            assert_eq!(e.as_str().parse::<EncAlg>().unwrap(), *e);
        }
        let err = "aes512".parse::<EncAlg>().unwrap_err();
        assert!(err.to_string().contains("aes512"));
        assert!(err.to_string().contains("aes192"));
        assert_eq!(Pfs::Disabled.group(), None);
        assert_eq!(Pfs::Group14.group().map(DhGroup::iana_id), Some(14));
    }
}
