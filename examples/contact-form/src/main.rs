//! The contact form as a program: `ticketcore-contact-form STORE-URL ADDRESS SECRET`.
#![allow(clippy::print_stdout)]

use ticketcore_contact_form::{Site, app};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, listen, secret] = args.as_slice() else {
        return Err("usage: ticketcore-contact-form STORE-URL ADDRESS SECRET".into());
    };
    let desk = ticketcore_app::Access::new(store)?.desk().await?;
    let default = desk.config().await?.mail.default_queue.clone();
    let queue = default.unwrap_or_else(|| "Allgemein".into());
    let site = Site {
        desk,
        secret: secret.as_bytes().into(),
        queue,
    };
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("the contact form at http://{listen}");
    axum::serve(listener, app(site)).await?;
    Ok(())
}
