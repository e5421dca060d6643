//! Where the syscalls cut the stream must not matter: for every PostgreSQL golden fixture,
//! splitting each chunk into smaller reads (random cut points, same direction, time and
//! thread, gaps split too) gives exactly the same exchanges as the chunks as recorded.
//! Detection runs on the chunks as recorded (it looks at whole syscalls); the parser then
//! gets the pieces.

mod http_fixture;
mod pg_fixture;

use http_fixture::{Fixture, Step};
use pg_fixture::{detect, load_all, render, run, split_chunk};
use proptest::prelude::*;

/// xorshift64*: cut points from one seed, so that a failure is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// The steps from `first` on, each chunk cut: `fine` cuts every captured byte apart (small
/// chunks only).
fn split_steps(steps: &[Step], seed: u64, max_cuts: u64, fine: bool) -> Vec<Step> {
    let mut rng = Rng(seed | 1);
    let mut out = Vec::new();
    for step in steps {
        let Step::Chunk(c) = step else {
            out.push(step.clone());
            continue;
        };
        let cuts: Vec<u32> = if fine && c.data.len() <= 4096 {
            (1..=c.data.len() as u32).collect()
        } else {
            let n = rng.below(max_cuts + 1);
            (0..n).map(|_| rng.below(u64::from(c.len)) as u32).collect()
        };
        out.extend(split_chunk(c, cuts).into_iter().map(Step::Chunk));
    }
    out
}

/// (as recorded, split) renderings of one fixture.
fn both(fixture: &Fixture, seed: u64, max_cuts: u64, fine: bool) -> (Vec<String>, Vec<String>) {
    let Some((_, first)) = detect(fixture) else {
        return (Vec::new(), Vec::new());
    };
    let steps = &fixture.steps[first..];
    let fresh = || detect(fixture).expect("detected once").0;
    let whole = run(fresh(), steps, fixture.close_ns);
    let split = run(
        fresh(),
        &split_steps(steps, seed, max_cuts, fine),
        fixture.close_ns,
    );
    (
        whole.iter().map(render).collect(),
        split.iter().map(render).collect(),
    )
}

#[test]
fn every_byte_in_its_own_read_changes_nothing() {
    for fixture in load_all() {
        let (whole, split) = both(&fixture, 1, 0, true);
        assert_eq!(split, whole, "fixture {}", fixture.name);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_split_of_the_reads_changes_nothing(seed in any::<u64>(), max_cuts in 1u64..12) {
        for fixture in load_all() {
            let (whole, split) = both(&fixture, seed, max_cuts, false);
            prop_assert_eq!(split, whole, "fixture {}", fixture.name);
        }
    }
}
