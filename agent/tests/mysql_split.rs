//! Where the syscalls cut the stream must not matter: for every golden fixture, splitting
//! each chunk into smaller reads (random cut points, same direction, time and thread, gaps
//! split too) gives exactly the same exchanges as the chunks as recorded. The chunks up to
//! the one detection accepts stay whole: detection looks at one chunk at a time, as the
//! connection table calls it.

mod mysql_fixture;

use mysql_fixture::{Fixture, RecordedChunk, Step, detection_chunks, load_all, render, run};
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

/// Cuts one chunk at `cuts` points of its `len` bytes (captured and not). Pieces before the
/// end of the captured bytes are captured; the piece across it keeps the captured tail and
/// the start of the gap; later pieces are all gap.
fn split_chunk(c: &RecordedChunk, mut cuts: Vec<u32>) -> Vec<RecordedChunk> {
    cuts.retain(|&p| p > 0 && p < c.len);
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0u32;
    for end in cuts.into_iter().chain([c.len]) {
        let captured_end = (end as usize).min(c.data.len());
        let captured_start = (start as usize).min(c.data.len());
        pieces.push(RecordedChunk {
            len: end - start,
            data: c.data[captured_start..captured_end].to_vec(),
            ..c.clone()
        });
        start = end;
    }
    pieces
}

/// How a chunk is cut: `fine` cuts every captured byte apart (small chunks only).
fn split_steps(fixture: &Fixture, seed: u64, max_cuts: u64, fine: bool) -> Vec<Step> {
    let whole = detection_chunks(fixture).unwrap_or(usize::MAX);
    let mut rng = Rng(seed | 1);
    let mut steps = Vec::new();
    let mut chunks = 0;
    for step in &fixture.steps {
        let Step::Chunk(c) = step else {
            steps.push(step.clone());
            continue;
        };
        chunks += 1;
        if chunks <= whole {
            steps.push(step.clone());
            continue;
        }
        let cuts: Vec<u32> = if fine && c.data.len() <= 4096 {
            (1..=c.data.len() as u32).collect()
        } else {
            let n = rng.below(max_cuts + 1);
            (0..n).map(|_| rng.below(u64::from(c.len)) as u32).collect()
        };
        steps.extend(split_chunk(c, cuts).into_iter().map(Step::Chunk));
    }
    steps
}

fn rendered(fixture: &Fixture, steps: &[Step]) -> Vec<String> {
    run(fixture, steps).iter().map(render).collect()
}

#[test]
fn every_byte_in_its_own_read_changes_nothing() {
    for fixture in load_all() {
        let whole = rendered(&fixture, &fixture.steps);
        let split = split_steps(&fixture, 1, 0, true);
        assert_eq!(
            rendered(&fixture, &split),
            whole,
            "fixture {}",
            fixture.name
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_split_of_the_reads_changes_nothing(seed in any::<u64>(), max_cuts in 1u64..12) {
        for fixture in load_all() {
            let whole = rendered(&fixture, &fixture.steps);
            let split = split_steps(&fixture, seed, max_cuts, false);
            prop_assert_eq!(
                rendered(&fixture, &split),
                whole,
                "fixture {} split into {} steps",
                fixture.name,
                split.len()
            );
        }
    }
}
