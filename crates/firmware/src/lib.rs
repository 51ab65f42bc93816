#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod library;
mod pack;

pub use error::Error;
pub use library::{Imported, Library, LibraryIndex, Load};
pub use pack::{MAX_ENTRIES, MAX_ENTRY_BYTES, MAX_PACK_BYTES, PackFormat};
