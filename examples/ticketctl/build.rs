//! Link settings for the binary an MTA starts once per message, where process start-up is a
//! large share of the cost. The dynamic loader's relocation work on this large executable
//! was over a third of a delivery's CPU time:
//!
//! - by default, packed relative relocations (DT_RELR) shrink that work and keep the
//!   executable position-independent (address-space randomisation stays);
//! - `TICKETCTL_NO_PIE=1` at build time links a fixed-address executable instead, which
//!   leaves the loader almost nothing to do (start-up 1.8 ms instead of 3.2 ms here), at
//!   the price of that randomisation.
//!
//! Needs GNU ld 2.38+ or lld 15+, and glibc 2.36+ where it runs (Debian 12+).
fn main() {
    println!("cargo:rerun-if-env-changed=TICKETCTL_NO_PIE");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "linux" || env != "gnu" {
        return;
    }
    if std::env::var("TICKETCTL_NO_PIE").is_ok_and(|v| v == "1") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    } else {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
