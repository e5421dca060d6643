//! Kernel structure offsets from the running kernel's BTF (/sys/kernel/btf/vmlinux).
//!
//! aya-ebpf cannot emit CO-RE relocations from Rust, so the kernel programs read fields at
//! offsets computed here, once, at start-up.

use btf_rs::{Btf, Type};
use sonde_common::KernelOffsets;

#[derive(Debug, thiserror::Error)]
pub enum OffsetError {
    #[error("reading kernel BTF from {path}: {source}")]
    Btf {
        path: String,
        #[source]
        source: btf_rs::Error,
    },
    #[error("kernel BTF has no struct {0}")]
    NoStruct(String),
    #[error("kernel BTF: struct {strukt} has no member {member}")]
    NoMember { strukt: String, member: String },
    #[error("kernel BTF: {0} is a bitfield, which sonde cannot read on this kernel")]
    Bitfield(String),
    #[error("kernel BTF: {0}")]
    Other(String),
}

pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Byte offset of `path` (member names, descending through named members; anonymous unions
/// and structs on the way are searched transparently) inside `struct strukt`.
fn offset(btf: &Btf, strukt: &str, path: &[&str]) -> Result<u32, OffsetError> {
    let mut current = find_struct(btf, strukt)?;
    let mut total_bits = 0u32;
    for (i, name) in path.iter().enumerate() {
        let (bits, member_type) =
            find_member(btf, &current, name)?.ok_or_else(|| OffsetError::NoMember {
                strukt: strukt.to_owned(),
                member: path[..=i].join("."),
            })?;
        total_bits += bits;
        if i + 1 < path.len() {
            current = match strip(btf, member_type)? {
                Type::Struct(s) | Type::Union(s) => s,
                other => {
                    return Err(OffsetError::Other(format!(
                        "{name} is a {}, not a struct",
                        other.name()
                    )));
                }
            };
        }
    }
    if !total_bits.is_multiple_of(8) {
        return Err(OffsetError::Bitfield(format!(
            "{strukt}.{}",
            path.join(".")
        )));
    }
    Ok(total_bits / 8)
}

fn find_struct(btf: &Btf, name: &str) -> Result<btf_rs::Struct, OffsetError> {
    let types = btf
        .resolve_types_by_name(name)
        .map_err(|_| OffsetError::NoStruct(name.to_owned()))?;
    types
        .into_iter()
        .find_map(|t| match t {
            Type::Struct(s) if !s.members.is_empty() => Some(s),
            _ => None,
        })
        .ok_or_else(|| OffsetError::NoStruct(name.to_owned()))
}

/// Follows typedefs and qualifiers to the underlying type.
fn strip(btf: &Btf, mut t: Type) -> Result<Type, OffsetError> {
    for _ in 0..16 {
        match &t {
            Type::Typedef(_)
            | Type::Const(_)
            | Type::Volatile(_)
            | Type::Restrict(_)
            | Type::TypeTag(_) => {
                let bt = t
                    .as_btf_type()
                    .ok_or_else(|| OffsetError::Other("qualifier without type".into()))?;
                t = btf
                    .resolve_chained_type(bt)
                    .map_err(|e| OffsetError::Other(e.to_string()))?;
            }
            _ => return Ok(t),
        }
    }
    Err(OffsetError::Other("type chain too long".into()))
}

/// (bit offset, member type) of member `name`, searching anonymous members recursively.
fn find_member(
    btf: &Btf,
    s: &btf_rs::Struct,
    name: &str,
) -> Result<Option<(u32, Type)>, OffsetError> {
    for member in &s.members {
        let member_name = btf.resolve_name(member).unwrap_or_default();
        if member.bitfield_size().is_some_and(|size| size != 0) && member_name == name {
            return Err(OffsetError::Bitfield(name.to_owned()));
        }
        let ty = btf
            .resolve_chained_type(member)
            .map_err(|e| OffsetError::Other(e.to_string()))?;
        if member_name == name {
            return Ok(Some((member.bit_offset(), ty)));
        }
        if member_name.is_empty()
            && let Type::Struct(inner) | Type::Union(inner) = strip(btf, ty)?
            && let Some((bits, t)) = find_member(btf, &inner, name)?
        {
            return Ok(Some((member.bit_offset() + bits, t)));
        }
    }
    Ok(None)
}

pub fn kernel_offsets() -> Result<KernelOffsets, OffsetError> {
    // Mmap backend: looks up the few structs needed without parsing all of the kernel's
    // types into memory (the cached backend peaks at tens of MiB of heap).
    let btf =
        Btf::from_file_with_backend(VMLINUX_BTF, btf_rs::Backend::Mmap).map_err(|source| {
            OffsetError::Btf {
                path: VMLINUX_BTF.to_owned(),
                source,
            }
        })?;
    from_btf(&btf)
}

pub fn from_btf(btf: &Btf) -> Result<KernelOffsets, OffsetError> {
    let sk = |path: &[&str]| offset(btf, "sock", path);
    Ok(KernelOffsets {
        task_pid: offset(btf, "task_struct", &["pid"])?,
        task_tgid: offset(btf, "task_struct", &["tgid"])?,
        task_flags: offset(btf, "task_struct", &["flags"])?,
        sk_family: sk(&["__sk_common", "skc_family"])?,
        sk_num: sk(&["__sk_common", "skc_num"])?,
        sk_dport: sk(&["__sk_common", "skc_dport"])?,
        sk_rcv_saddr: sk(&["__sk_common", "skc_rcv_saddr"])?,
        sk_daddr: sk(&["__sk_common", "skc_daddr"])?,
        sk_v6_rcv_saddr: sk(&["__sk_common", "skc_v6_rcv_saddr"])?,
        sk_v6_daddr: sk(&["__sk_common", "skc_v6_daddr"])?,
        sk_type: sk(&["sk_type"])?,
        sk_protocol: sk(&["sk_protocol"])?,
        valid: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads this machine's BTF, which every supported kernel has; the offsets must be inside
    /// plausible struct sizes and distinct where the fields are distinct.
    #[test]
    fn offsets_from_running_kernel() {
        if !std::path::Path::new(VMLINUX_BTF).exists() {
            assert!(
                std::env::var("CI").is_err(),
                "CI machine without {VMLINUX_BTF}"
            );
            return;
        }
        let o = kernel_offsets().expect("offsets");
        assert_eq!(o.valid, 1);
        assert!(o.task_flags > 0 && o.task_flags < 16384);
        assert_ne!(o.sk_num, o.sk_dport);
        assert_ne!(o.sk_rcv_saddr, o.sk_daddr);
        assert_ne!(o.sk_type, o.sk_protocol);
    }
}
