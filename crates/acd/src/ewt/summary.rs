//! What a forecast keeps of each position's plays: a bounded summary instead of every
//! sampled wait.
//!
//! A forecast of 10,000 callers plays about 300,000 waits (256 plays for the head of the
//! line, fewer beyond `exact_ahead`, at least 16); kept as `f64` that was ≈ 2.4 MB per
//! queue for as long as the forecast lived. An announcement needs, of its position, only
//! the weighted quantile of the waits (weights `exp(-w/θ)`, the caller's impatience) and
//! the weighted share within a threshold. So each position keeps at most [`POINTS`] waits:
//! the middles of equal shares of the position's total weight (of its ranks when every
//! weight is zero), each standing for the same weight, quantized to 16 bits between the
//! position's shortest and longest finite wait. Positions with fewer plays keep them all.
//! Reading treats the points as the plays: the quantile moves by at most half a point's
//! share of the weight (1/256 at 128 points), each wait by at most 1/65,534 of the
//! position's spread; read `age` seconds later each point's weight is lifted by
//! `exp(min(w, age)/θ)`, the factor each of its plays would get.

/// Points kept per position (fewer when the position has fewer plays).
pub(crate) const POINTS: usize = 128;

/// Code of an infinite wait (no agent left in that play).
const INF: u16 = u16::MAX;
/// Largest code of a finite wait.
const TOP: f64 = (u16::MAX - 1) as f64;

/// The summaries of every position of a forecast.
#[derive(Clone, Debug, Default)]
pub(crate) struct Summaries {
    /// Per position: shortest finite wait, the step between codes, and the weight each
    /// point stands for (its share of `Σ exp(-w/θ)` over the plays, divided by the plays).
    head: Vec<(f32, f32, f32)>,
    /// Position `k`'s codes are `codes[start[k]..start[k + 1]]`.
    start: Vec<u32>,
    codes: Vec<u16>,
}

impl Summaries {
    pub(crate) fn clear(&mut self) {
        self.head.clear();
        self.start.clear();
        self.codes.clear();
    }

    /// Release spare capacity.
    pub(crate) fn shrink(&mut self) {
        self.head.shrink_to_fit();
        self.start.shrink_to_fit();
        self.codes.shrink_to_fit();
    }

    /// Append the next position's summary from its sampled waits (sorted here), which
    /// are weighted `exp(-w/θ)` by the caller's patience `θ` (1 without).
    pub(crate) fn push(&mut self, waits: &mut [f64], patience: Option<f64>) {
        if self.start.is_empty() {
            self.start.push(0);
        }
        waits.sort_by(|a, b| a.total_cmp(b));
        let n = waits.len();
        let keep = n.min(POINTS);
        let finite = waits.partition_point(|w| w.is_finite());
        let (lo, hi) = if finite == 0 {
            (0.0, 0.0)
        } else {
            (waits[0], waits[finite - 1])
        };
        let step = if hi > lo { (hi - lo) / TOP } else { 0.0 };
        let (lo32, step32) = (lo as f32, step as f32);
        let weight = |w: f64| match patience {
            Some(p) => (-w / p).exp(),
            None => 1.0,
        };
        let total: f64 = waits.iter().map(|w| weight(*w)).sum();
        let weighted = total > 0.0 && total.is_finite();
        let per_point = if weighted && n > 0 {
            total / (keep as f64 * n as f64)
        } else {
            0.0
        };
        self.head.push((lo32, step32, per_point as f32));
        let code = |w: f64| {
            if !w.is_finite() {
                INF
            } else if step32 > 0.0 {
                ((w - f64::from(lo32)) / f64::from(step32))
                    .round()
                    .clamp(0.0, TOP) as u16
            } else {
                0
            }
        };
        if weighted {
            // The middle of each of `keep` equal shares of the weight.
            let last = waits.iter().rposition(|w| weight(*w) > 0.0).unwrap_or(0);
            let (mut acc, mut i) = (0.0, 0usize);
            for j in 0..keep {
                let target = (j as f64 + 0.5) * total / keep as f64;
                while i < last && acc + weight(waits[i]) < target {
                    acc += weight(waits[i]);
                    i += 1;
                }
                self.codes.push(code(waits[i]));
            }
        } else {
            // Every wait weighs nothing (all infinite, or all far beyond the patience):
            // the middle of each of `keep` equal shares of the ranks.
            for j in 0..keep {
                self.codes.push(code(waits[(2 * j + 1) * n / (2 * keep)]));
            }
        }
        if finite > 0 && finite < n {
            // Some plays never reach the caller. When fewer than the quantile do, the
            // bound is the longest finite wait (its coverage is the closest): keep that
            // one exactly rather than the middle of its share.
            let from = *self.start.last().unwrap_or(&0) as usize;
            if let Some(c) = self.codes[from..].iter_mut().rev().find(|c| **c != INF) {
                *c = code(hi);
            }
        }
        self.start
            .push(u32::try_from(self.codes.len()).unwrap_or(u32::MAX));
    }

    /// Position `k`'s points read `age` seconds after the plays, as `(wait, weight)` with
    /// the weights of [`Summaries::push`] (so the sum of weights of the points within a
    /// threshold is the weighted share of plays within it): appended to `out`.
    pub(crate) fn read(
        &self,
        k: usize,
        age: f64,
        patience: Option<f64>,
        out: &mut Vec<(f64, f64)>,
    ) {
        let Some((lo, step, per_point)) = self.head.get(k).copied() else {
            return;
        };
        let range = match (self.start.get(k), self.start.get(k + 1)) {
            (Some(a), Some(b)) => *a as usize..*b as usize,
            _ => 0..0,
        };
        for c in &self.codes[range] {
            let w = if *c == INF {
                f64::INFINITY
            } else {
                f64::from(lo) + f64::from(*c) * f64::from(step)
            };
            // A play's weight read `age` later is exp(-max(w - age, 0)/θ).
            let lift = match patience {
                Some(p) => (w.min(age) / p).exp(),
                None => 1.0,
            };
            out.push(((w - age).max(0.0), f64::from(per_point) * lift));
        }
    }

    /// Bytes held on the heap.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.head.capacity() * std::mem::size_of::<(f32, f32, f32)>()
            + self.start.capacity() * std::mem::size_of::<u32>()
            + self.codes.capacity() * std::mem::size_of::<u16>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(s: &Summaries, k: usize, age: f64, patience: Option<f64>) -> Vec<(f64, f64)> {
        let mut out = Vec::new();
        s.read(k, age, patience, &mut out);
        out
    }

    #[test]
    fn few_plays_are_kept_whole_and_exact_when_equal() {
        let mut s = Summaries::default();
        s.push(&mut [30.0; 5], None);
        s.push(&mut [3.0, 1.0, f64::INFINITY, 2.0], None);
        let near = |got: Vec<(f64, f64)>, want: (f64, f64)| {
            got.len() == 5
                && got
                    .iter()
                    .all(|(w, p)| *w == want.0 && (p - want.1).abs() < 1e-6)
        };
        assert!(near(points(&s, 0, 0.0, None), (30.0, 0.2)));
        assert!(near(points(&s, 0, 4.0, None), (26.0, 0.2)));
        let w = points(&s, 1, 0.0, None);
        assert_eq!(w.len(), 4);
        assert!((w[0].0 - 1.0).abs() < 1e-3 && (w[2].0 - 3.0).abs() < 1e-3);
        assert!(w[3].0.is_infinite());
    }

    #[test]
    fn many_plays_keep_points_evenly_spaced_in_weight() {
        let mut s = Summaries::default();
        let mut waits: Vec<f64> = (0..256).rev().map(f64::from).collect();
        s.push(&mut waits.clone(), None);
        let w = points(&s, 0, 0.0, None);
        assert_eq!(w.len(), POINTS);
        // Unweighted, the j-th point is in the j-th equal share of the ranks.
        let share = 256 / POINTS;
        for (j, (v, _)) in w.iter().enumerate() {
            let first = (share * j) as f64;
            assert!(*v > first - 0.01 && *v < first + share as f64, "{j}: {v}");
        }
        // Impatient callers: the points crowd where the weight is, and the weights add
        // up to the weighted share of plays.
        s.push(&mut waits, Some(50.0));
        let w = points(&s, 1, 0.0, Some(50.0));
        let total: f64 = w.iter().map(|x| x.1).sum();
        let exact: f64 = (0..256).map(|x| (-f64::from(x) / 50.0).exp()).sum::<f64>() / 256.0;
        assert!((total - exact).abs() < 1e-4, "{total} vs {exact}");
        let median = w[POINTS / 2].0;
        assert!((30.0..40.0).contains(&median), "{median}");
    }
}
