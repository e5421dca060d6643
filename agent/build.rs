//! Builds the kernel object (the `sonde-ebpf` crate, for the bpf target, with the nightly
//! toolchain and bpf-linker) and leaves it in OUT_DIR for `include_bytes_aligned!`.
use anyhow::{Context as _, anyhow};

fn main() -> anyhow::Result<()> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("cargo metadata")?;
    let ebpf = metadata
        .packages
        .into_iter()
        .find(|p| p.name.as_str() == "sonde-ebpf")
        .ok_or_else(|| anyhow!("sonde-ebpf package not found"))?;
    let root = ebpf
        .manifest_path
        .parent()
        .ok_or_else(|| anyhow!("sonde-ebpf manifest has no parent"))?;
    aya_build::build_ebpf(
        [aya_build::Package {
            name: ebpf.name.as_str(),
            root_dir: root.as_str(),
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
}
