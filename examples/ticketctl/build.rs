//! Link settings for the binary an MTA starts once per message, where process start-up is
//! most of the cost. The dynamic loader's relocation work on a large position-independent
//! executable (every page of vtables, string tables and panic locations touched before
//! `main`) took 3.7 ms of a start here, against 1.6 ms for a fixed-address one, and a
//! spooled delivery (see src/spool.rs) is little more than a start:
//!
//! - by default, on Linux with glibc, ticketctl is linked at a fixed address (`-no-pie`).
//!   Libraries, heap and stacks keep their address-space randomisation; the executable's
//!   own code does not, a trade made for a program written in safe Rust;
//! - `TICKETCTL_PIE=1` at build time keeps it position-independent, with packed relative
//!   relocations (DT_RELR) to shrink the loader's work (needs GNU ld 2.38+ or lld 15+, and
//!   glibc 2.36+ where it runs).
fn main() {
    println!("cargo:rerun-if-env-changed=TICKETCTL_PIE");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "linux" || env != "gnu" {
        return;
    }
    if std::env::var("TICKETCTL_PIE").is_ok_and(|v| v == "1") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    } else {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
