//! Where the syscalls cut the stream must not matter: for every Redis golden fixture,
//! splitting each chunk into smaller reads (random cut points, same direction, time and
//! thread, gaps split too) gives exactly the same exchanges and counters as the chunks as
//! recorded.

mod fixture_stream;
mod redis_replay;

use fixture_stream::split_steps;
use proptest::prelude::*;
use redis_replay::{load_all, rendered};

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
