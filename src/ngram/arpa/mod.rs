//! The ARPA back-off model format, out and in, as KenLM writes and reads it.
//!
//! Out: `\data\` counts, then one section per order with `log10 p <TAB> words [<TAB> log10
//! backoff]`, floats in shortest round-trip form, so reading our own file back gives the same
//! f32 values. Sections are formatted in parallel, in order, by ranges of first words.
//! In: any ARPA file (optionally gzip), validated line by line; every error names the line.
//! Orders must be consecutive, counts must match, and every n-gram's context must exist.

mod read;
mod write;

pub use read::{parse_arpa, read_arpa};
pub use write::{write_arpa, write_arpa_to};
