//! The connection table: one entry per watched TCP connection, holding its addresses and its
//! protocol parser. Bounded; the least recently active connection is evicted when full.

mod info;
mod table;

pub use info::ConnInfo;
pub use table::{ConnTable, Finished};
