//! Unified diffs of small text files (`diff -u` shape, three lines of context).

use similar::TextDiff;

/// `--- a/PATH` / `+++ b/PATH` and hunks, cut after `max_lines` lines.
pub(crate) fn unified(a: &str, b: &str, path: &str, max_lines: usize) -> String {
    let diff = TextDiff::from_lines(a, b);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string();
    let total = text.lines().count();
    if total <= max_lines {
        return text;
    }
    let mut out: String = text
        .lines()
        .take(max_lines)
        .flat_map(|l| [l, "\n"])
        .collect();
    out.push_str(&format!("… {} more lines\n", total - max_lines));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_line_gives_one_hunk() {
        let d = unified("a\nb\nc\n", "a\nB\nc\n", "etc/x", 100);
        assert_eq!(
            d,
            "--- a/etc/x\n+++ b/etc/x\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        );
    }

    #[test]
    fn long_diffs_are_cut() {
        let a: String = (0..50).map(|i| format!("{i}\n")).collect();
        let d = unified(&a, "", "x", 5);
        assert_eq!(d.lines().count(), 6);
        assert!(d.ends_with("… 48 more lines\n"), "{d}");
    }
}
