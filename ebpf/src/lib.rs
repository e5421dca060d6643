// Empty on purpose: the agent build-depends on this crate so that cargo rebuilds it when the
// kernel programs change. The programs themselves are the `sonde-ebpf` binary (src/main.rs).
#![no_std]
