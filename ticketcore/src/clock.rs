//! Time and chance, injected: nothing in the engine reads the system clock or the OS random
//! source directly, so tests replay exactly.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

/// Where the Desk gets `now` from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock(Arc::new(Mutex::new(start)))
    }

    /// Sets the time.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }

    /// Moves the time forward (or back, for a negative duration).
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now = now.checked_add_signed(by).unwrap_or(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where random bits come from (ticket ids, Random ticket numbers).
pub trait Entropy: Send + Sync + std::fmt::Debug {
    /// 64 random bits.
    fn next_u64(&self) -> u64;
}

/// The operating system's random source.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEntropy;

/// Random words fetched from the OS this many at a time: a system call for each of the two
/// words every uuid takes cost a few percent of the mail pipeline.
const POOL: usize = 32;

std::thread_local! {
    /// Words not yet handed out, and how many of them are left.
    static POOLED: std::cell::RefCell<([u64; POOL], usize)> =
        const { std::cell::RefCell::new(([0; POOL], 0)) };
}

impl Entropy for OsEntropy {
    fn next_u64(&self) -> u64 {
        POOLED.with_borrow_mut(|(words, left)| {
            if *left == 0 {
                let mut bytes = [0u8; POOL * 8];
                if getrandom::fill(&mut bytes).is_err() {
                    // getrandom only fails on platforms without a random source; fall back
                    // to the clock's nanoseconds mixed through SplitMix so ids stay unique in
                    // practice.
                    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
                    return splitmix(nanos as u64);
                }
                for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(chunk);
                    *word = u64::from_le_bytes(b);
                }
                *left = POOL;
            }
            *left -= 1;
            words[*left]
        })
    }
}

/// A deterministic source (SplitMix64) for tests and replays; clones share the sequence.
#[derive(Debug, Clone)]
pub struct SeededEntropy(Arc<Mutex<u64>>);

impl SeededEntropy {
    /// A source starting from `seed`.
    pub fn new(seed: u64) -> SeededEntropy {
        SeededEntropy(Arc::new(Mutex::new(seed)))
    }
}

impl Entropy for SeededEntropy {
    fn next_u64(&self) -> u64 {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix(*state)
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_entropy_never_repeats_across_refills() {
        let words: std::collections::HashSet<u64> =
            (0..POOL * 10 + 3).map(|_| OsEntropy.next_u64()).collect();
        assert_eq!(words.len(), POOL * 10 + 3);
        let other = std::thread::spawn(|| OsEntropy.next_u64()).join();
        assert!(
            other.is_ok_and(|w| !words.contains(&w)),
            "threads draw apart"
        );
    }
}
