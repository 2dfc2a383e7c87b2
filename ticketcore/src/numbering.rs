//! How a desk issues counted ticket numbers: from blocks of the store's counter, so that
//! creating a ticket rarely waits for the counter.
//!
//! A burst of concurrent creations (a bulk import) must neither reserve a block per creation
//! (each a round-trip, most of each block left as a gap) nor wait on the counter. So:
//! - one reservation at a time is under way, started when half the current block is taken,
//!   so the next block is ready when the current one runs out;
//! - those that still find no number left wait for that reservation and are all woken when
//!   it lands;
//! - when some had to wait, the next reservation is twice as large (up to [`MAX_GROWTH`]
//!   blocks), so the numbers keep up with the demand; without waiters it shrinks again.
//!
//! A process that stops leaves the rest of its current and its spare reservation as gaps: at
//! most one and a half blocks when mail trickles in, more after a burst.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use event_listener::{Event, EventListener};

use crate::store::{Store, StoreResult};

/// The most blocks one reservation takes at once.
const MAX_GROWTH: u64 = 16;

/// The counter values of one reservation, `next..=end` of `count`, under counter `key`.
#[derive(Debug)]
struct Block {
    key: String,
    next: u64,
    end: u64,
    count: u64,
}

#[derive(Debug)]
struct Blocks {
    /// Taken from the front; a block reserved ahead waits behind it.
    blocks: VecDeque<Block>,
    /// Whether a reservation is under way.
    reserving: bool,
    /// Whether someone has had to wait since the last reservation started.
    outran: bool,
    /// Blocks per reservation, 1 to [`MAX_GROWTH`].
    growth: u64,
}

impl Default for Blocks {
    fn default() -> Blocks {
        Blocks {
            blocks: VecDeque::new(),
            reserving: false,
            outran: false,
            growth: 1,
        }
    }
}

/// The blocks a desk holds, and the one reservation under way.
#[derive(Debug, Default)]
pub(crate) struct NumberBlocks {
    state: Mutex<Blocks>,
    /// Notified when a reservation ends, landed or not.
    reserved: Event,
}

/// What [`NumberBlocks::take`] found.
enum Next {
    /// A value; and if a count, reserve that many values now, ahead of need.
    Taken { value: u64, ahead: Option<u64> },
    /// None left, and a reservation under way: wait for it.
    Wait(EventListener),
    /// None left: reserve this many values.
    Reserve(u64),
}

impl NumberBlocks {
    fn state(&self) -> MutexGuard<'_, Blocks> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next counter value of `key`, from reservations of `block` values or more.
    pub(crate) async fn next(&self, store: &dyn Store, key: &str, block: u64) -> StoreResult<u64> {
        loop {
            match self.take(key, block.max(1)) {
                Next::Taken { value, ahead } => {
                    // Ahead of need, so a failure fails no creation: the next one to find the
                    // blocks empty tries again.
                    if let Some(count) = ahead
                        && let Err(e) = self.reserve(store, key, count).await
                    {
                        tracing::warn!("reserving ticket numbers ahead: {e}");
                    }
                    return Ok(value);
                }
                Next::Wait(listener) => listener.await,
                Next::Reserve(count) => self.reserve(store, key, count).await?,
            }
        }
    }

    /// Takes the next value of `key` if one is left, else says how to get one. Whoever is
    /// told to reserve (now, or ahead) has been marked as the one reservation under way.
    fn take(&self, key: &str, block: u64) -> Next {
        let mut state = self.state();
        // Yesterday's blocks (date-based numbers count per day) and used-up ones go.
        state.blocks.retain(|b| b.key == key && b.next <= b.end);
        let spare = state.blocks.len() > 1;
        let taken = state.blocks.front_mut().map(|b| {
            b.next += 1;
            (b.next - 1, (b.end + 1 - b.next) * 2 <= b.count)
        });
        match taken {
            // Blocks of one number are never reserved ahead: whoever chose them wants no
            // gap when the process stops.
            Some((value, half)) if half && block > 1 && !spare && !state.reserving => Next::Taken {
                value,
                ahead: Some(state.start(block)),
            },
            Some((value, _)) => Next::Taken { value, ahead: None },
            None if state.reserving => {
                state.outran = true;
                // Listening before the lock is let go, so the wake-up cannot be missed.
                Next::Wait(self.reserved.listen())
            }
            None => Next::Reserve(state.start(block)),
        }
    }

    /// Reserves `count` values; the caller has marked the reservation under way.
    async fn reserve(&self, store: &dyn Store, key: &str, count: u64) -> StoreResult<()> {
        // Ends the reservation however this future ends, cancelled included: otherwise
        // every later creation would wait for it forever.
        let ending = Ending(self);
        let first = store.next_counter(key, count).await?;
        ending.0.state().blocks.push_back(Block {
            key: key.to_string(),
            next: first,
            end: first + count - 1,
            count,
        });
        Ok(())
    }
}

impl Blocks {
    /// Marks a reservation under way, sized by whether the last one kept up: the values
    /// it is to reserve.
    fn start(&mut self, block: u64) -> u64 {
        self.growth = if self.outran {
            (self.growth * 2).min(MAX_GROWTH)
        } else {
            (self.growth / 2).max(1)
        };
        self.outran = false;
        self.reserving = true;
        block * self.growth
    }
}

/// Marks the reservation ended and wakes whoever waits for it.
struct Ending<'a>(&'a NumberBlocks);

impl Drop for Ending<'_> {
    fn drop(&mut self) {
        self.0.state().reserving = false;
        self.0.reserved.notify(usize::MAX);
    }
}
