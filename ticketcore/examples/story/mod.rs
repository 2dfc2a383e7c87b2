//! What the seeds' stories share: each is an async function writing what happens into a
//! text; this tells it, on a runtime of its own, for `main` and for the story's test.

use ticketcore::Error;

/// Runs `story` to its end: the text it told.
pub fn tell(story: impl AsyncFnOnce(&mut String) -> Result<(), Error>) -> Result<String, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Invalid(format!("no runtime: {e}")))?;
    let mut text = String::new();
    runtime.block_on(story(&mut text))?;
    Ok(text)
}
