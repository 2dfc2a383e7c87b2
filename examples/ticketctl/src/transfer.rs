//! `ticketctl export` / `import`: the desk as JSON lines on stdout, and back into an empty
//! store (see `ticketcore_app::transfer` for the format).

use std::io::BufRead;
use std::path::Path;

use ticketcore_app::transfer;
use ticketcore_app::{Access, Failure};

pub async fn export(access: &Access) -> Result<u8, Failure> {
    let desk = access.desk().await?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    transfer::export(&desk, &mut out).await?;
    Ok(0)
}

pub async fn import(access: &Access, file: Option<&Path>) -> Result<u8, Failure> {
    let name = file.map_or("stdin".to_string(), |f| f.display().to_string());
    let reader: Box<dyn BufRead> = match file {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path)
                .map_err(|e| Failure::failed(format!("cannot read {name}: {e}")))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let done = transfer::import(access.store().await?, reader, &name).await?;
    println!(
        "imported {} tickets, {} customers, {} sign-in accounts and {} FAQ entries from {name}",
        done.tickets, done.customers, done.accounts, done.faq
    );
    Ok(0)
}
