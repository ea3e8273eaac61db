//! Renders a peer configuration from JSON on stdin: `{"Connection": {...}, "CustomerGateways": [...]}`.
//!
//! `render standard` prints the DownloadVpnConnectionConfig body as JSON; `render <device-type>`
//! prints the device configuration. Used by the parser tests in tests/peer_config/.

use std::io::Read;
use std::process::ExitCode;
use strait_model::{CustomerGateway, VpnConnection};

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    connection: VpnConnection,
    customer_gateways: Vec<CustomerGateway>,
}

fn main() -> ExitCode {
    let which = std::env::args().nth(1).unwrap_or_default();
    let mut text = String::new();
    let input: Input = match std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())
        .and_then(|_| serde_json::from_str(&text).map_err(|e| e.to_string()))
    {
        Ok(i) => i,
        Err(e) => {
            eprintln!("bad input: {e}");
            return ExitCode::from(2);
        }
    };
    let out = if which == "standard" {
        strait_peer_config::render_standard(&input.connection, &input.customer_gateways)
            .map(|c| serde_json::to_string_pretty(&c).unwrap_or_default())
    } else {
        which.parse().and_then(|d| {
            strait_peer_config::render_device(d, &input.connection, &input.customer_gateways)
        })
    };
    match out {
        Ok(s) => {
            print!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
