//! Cryptographic transforms used by IKE and ESP.
