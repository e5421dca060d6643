//! From a file descriptor of the current task to its TCP socket, by walking kernel structures
//! at offsets the loader read from BTF: task->files->fdt->fd[fd]->(inode mode, private_data
//! = struct socket)->sk. This works for connections opened before sonde started, which is the
//! point: attaching to services that already run.

use aya_ebpf::helpers::{bpf_get_current_task, bpf_probe_read_kernel};

use crate::maps::offsets;

const S_IFMT: u16 = 0o170000;
const S_IFSOCK: u16 = 0o140000;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const SOCK_STREAM: u16 = 1;
const IPPROTO_TCP: u16 = 6;

pub struct TcpInfo {
    pub family: u16,
    pub local_port: u16,
    pub peer_port: u16,
    pub local_addr: [u8; 16],
    pub peer_addr: [u8; 16],
}

#[inline(always)]
fn read<T>(base: u64, offset: u32) -> Result<T, i64> {
    // SAFETY: bpf_probe_read_kernel tolerates any address and reports faults as errors.
    unsafe { bpf_probe_read_kernel((base + offset as u64) as *const T) }.map_err(|e| e as i64)
}

/// `Ok(None)` when the descriptor is not a TCP socket; `Err` when the walk faulted.
#[inline(always)]
pub fn tcp_socket(fd: u32) -> Result<Option<TcpInfo>, i64> {
    let o = offsets();
    if o.valid == 0 {
        return Err(-1);
    }
    // SAFETY: the helper returns the current task pointer; it is only read through
    // bpf_probe_read_kernel.
    let task = unsafe { bpf_get_current_task() };
    let files: u64 = read(task, o.task_files)?;
    let fdt: u64 = read(files, o.files_fdt)?;
    let max_fds: u32 = read(fdt, o.fdt_max_fds)?;
    if fd >= max_fds {
        return Ok(None);
    }
    let fd_array: u64 = read(fdt, o.fdt_fd)?;
    let file: u64 = read(fd_array, fd.wrapping_mul(8))?;
    if file == 0 {
        return Ok(None);
    }
    let inode: u64 = read(file, o.file_inode)?;
    let mode: u16 = read(inode, o.inode_mode)?;
    if mode & S_IFMT != S_IFSOCK {
        return Ok(None);
    }
    let socket: u64 = read(file, o.file_private_data)?;
    let sk: u64 = read(socket, o.socket_sk)?;
    if sk == 0 {
        return Ok(None);
    }
    let family: u16 = read(sk, o.sk_family)?;
    if family != AF_INET && family != AF_INET6 {
        return Ok(None);
    }
    let sk_type: u16 = read(sk, o.sk_type)?;
    let protocol: u16 = read(sk, o.sk_protocol)?;
    if sk_type != SOCK_STREAM || protocol != IPPROTO_TCP {
        return Ok(None);
    }
    // skc_num is in host order, skc_dport in network order.
    let local_port: u16 = read(sk, o.sk_num)?;
    let peer_port: u16 = u16::from_be(read(sk, o.sk_dport)?);
    let mut info = TcpInfo {
        family,
        local_port,
        peer_port,
        local_addr: [0; 16],
        peer_addr: [0; 16],
    };
    if family == AF_INET {
        let local: [u8; 4] = read(sk, o.sk_rcv_saddr)?;
        let peer: [u8; 4] = read(sk, o.sk_daddr)?;
        info.local_addr[..4].copy_from_slice(&local);
        info.peer_addr[..4].copy_from_slice(&peer);
    } else {
        info.local_addr = read(sk, o.sk_v6_rcv_saddr)?;
        info.peer_addr = read(sk, o.sk_v6_daddr)?;
    }
    Ok(Some(info))
}

/// tgid and pid (thread id) of a task, for the fork tracepoint.
#[inline(always)]
pub fn task_ids(task: u64) -> Result<(u32, u32), i64> {
    let o = offsets();
    if o.valid == 0 {
        return Err(-1);
    }
    let tgid: u32 = read(task, o.task_tgid)?;
    let pid: u32 = read(task, o.task_pid)?;
    Ok((tgid, pid))
}
