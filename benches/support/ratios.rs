//! Prints side-by-side ratios from criterion's saved estimates (`target/criterion/<group>/<id>/new`).

use std::path::PathBuf;

/// The median time in nanoseconds criterion saved for `group/id`, if any.
pub(crate) fn median_ns(group: &str, id: &str) -> Option<f64> {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = dir.join("criterion").join(group).join(id).join("new").join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    // {"mean":{...},"median":{"confidence_interval":{...},"point_estimate":12.3,...},...}
    let median = &text[text.find("\"median\"")?..];
    let estimate = &median[median.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = estimate.find([',', '}'])?;
    estimate[..end].trim().parse().ok()
}

/// Prints one row per group: our median, theirs, and how many times faster we are.
pub(crate) fn print_table(title: &str, groups: &[&str], ours: &str, theirs: &str) {
    println!("\n{title}");
    println!("| input | {ours} (ns) | {theirs} (ns) | ratio |");
    println!("|---|---:|---:|---:|");
    for group in groups {
        match (median_ns(group, ours), median_ns(group, theirs)) {
            (Some(a), Some(b)) => println!("| {group} | {a:.1} | {b:.1} | {:.1}x |", b / a),
            _ => println!("| {group} | (not measured in this run) | | |"),
        }
    }
}
