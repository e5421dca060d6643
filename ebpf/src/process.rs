//! Process lifecycle: exec (for --exe matching and service names), exit (to free state), fork
//! (children of a watched process are watched too: nginx workers, uvicorn and Celery workers).

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid, macros::raw_tracepoint, programs::RawTracePointContext,
};
use sonde_common::{filter, kind, stat};

use crate::{
    emit,
    maps::{WATCH_PIDS, count, filter_flags, self_tgid},
    socket::task_ids,
};

#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn sonde_exec(_ctx: RawTracePointContext) -> i32 {
    let header = emit::current_header();
    if header.pid != self_tgid() {
        emit::small(kind::PROC_EXEC, header);
    }
    0
}

#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn sonde_exit(_ctx: RawTracePointContext) -> i32 {
    let header = emit::current_header();
    // Only the thread-group leader's exit ends the process.
    if header.pid == header.tid && header.pid != self_tgid() {
        let _ = WATCH_PIDS.remove(header.pid);
        emit::small(kind::PROC_EXIT, header);
    }
    0
}

// TP_PROTO(struct task_struct *parent, struct task_struct *child)
#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sonde_fork(ctx: RawTracePointContext) -> i32 {
    if filter_flags() & filter::BY_PID == 0 {
        return 0;
    }
    let parent = (bpf_get_current_pid_tgid() >> 32) as u32;
    if WATCH_PIDS.get_ptr(parent).is_none() {
        return 0;
    }
    let child: u64 = ctx.arg(1);
    // A new thread shares the parent's tgid; only a new process is added.
    if let Ok((tgid, pid)) = task_ids(child)
        && tgid == pid
        && tgid != parent
        && WATCH_PIDS.insert(tgid, 1, 0).is_err()
    {
        count(stat::WATCH_PIDS_FULL, 1);
    }
    0
}
