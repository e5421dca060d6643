//! `cargo xtask build`: the toolchain, then a release build of the whole workspace.
use crate::setup::{self, Scope};
use crate::sh;

pub fn run() -> anyhow::Result<()> {
    setup::setup(Scope::Toolchain)?;
    // agent/build.rs builds the kernel object with nightly and bpf-linker.
    sh::run(sh::cargo().args(["build", "--release"]))
}
