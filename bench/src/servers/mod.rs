//! The real servers the scenarios load, each on a free loopback port with its files in a
//! temporary directory, stopped when dropped.

pub mod fastapi;
pub mod nginx;
pub mod postgres;
pub mod python;
pub mod redis;
