//! The replay list of RFC 3711 §3.3.2 as a sliding window over packet indices: the
//! highest index authenticated so far and a bitmap of the 64 before it.

/// Window size in packets (RFC 3711 requires at least 64).
pub(crate) const WINDOW: u64 = 64;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReplayWindow {
    /// Highest index accepted so far (`None` before the first packet).
    top: Option<u64>,
    /// Bit `n` set: index `top - n` was accepted.
    seen: u64,
}

/// Why the window refuses an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// This index was already accepted.
    Replayed,
    /// The index is older than the window.
    TooOld,
}

impl ReplayWindow {
    /// Whether `index` may be accepted (checked before authentication, recorded after).
    pub(crate) fn check(&self, index: u64) -> Result<(), Refused> {
        let Some(top) = self.top else { return Ok(()) };
        if index > top {
            return Ok(());
        }
        let age = top - index;
        if age >= WINDOW {
            return Err(Refused::TooOld);
        }
        if self.seen & (1 << age) != 0 {
            return Err(Refused::Replayed);
        }
        Ok(())
    }

    /// Records an authenticated `index`.
    pub(crate) fn accept(&mut self, index: u64) {
        match self.top {
            None => {
                self.top = Some(index);
                self.seen = 1;
            }
            Some(top) if index > top => {
                let shift = index - top;
                self.seen = if shift >= WINDOW {
                    0
                } else {
                    self.seen << shift
                };
                self.seen |= 1;
                self.top = Some(index);
            }
            Some(top) => {
                let age = top - index;
                if age < WINDOW {
                    self.seen |= 1 << age;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_new_and_reordered_refuses_replays_and_old() {
        let mut w = ReplayWindow::default();
        for i in [10u64, 12, 11] {
            assert_eq!(w.check(i), Ok(()));
            w.accept(i);
        }
        assert_eq!(w.check(11), Err(Refused::Replayed));
        assert_eq!(w.check(12), Err(Refused::Replayed));
        w.accept(100);
        assert_eq!(w.check(12), Err(Refused::TooOld));
        assert_eq!(w.check(37), Ok(()));
        assert_eq!(w.check(36), Err(Refused::TooOld));
        w.accept(1000);
        assert_eq!(w.check(100), Err(Refused::TooOld));
        assert_eq!(w.check(999), Ok(()));
    }
}
