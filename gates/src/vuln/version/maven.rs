//! Maven version order, as Maven's `ComparableVersion` defines it
//! (<https://maven.apache.org/pom.html#version-order-specification>):
//! - the version is split at `.`, `-` and at every switch between digits and letters;
//!   a `-` or a switch starts a nested list; empty parts are `0`;
//! - trailing "null" items (`0`, an empty qualifier, empty lists) are dropped from
//!   every list; `final`, `ga` and `release` sort like a release but stay;
//! - qualifiers order `alpha < beta < milestone < rc = cr < snapshot < "" = final = ga <
//!   sp`, unknown qualifiers after them in lexical order; `a1`, `b1`, `m1` mean alpha,
//!   beta, milestone;
//! - a number is newer than a list, which is newer than a qualifier.

use std::cmp::Ordering;

use super::cmp_digits;

#[derive(Debug, Clone)]
enum Item {
    Int(String),
    Str(String),
    List(Vec<Item>),
}

const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];

fn qualifier(s: &str, followed_by_digit: bool) -> String {
    let s = match (s, followed_by_digit) {
        ("a", true) => "alpha",
        ("b", true) => "beta",
        ("m", true) => "milestone",
        ("cr", _) => "rc",
        (s, _) => s,
    };
    s.to_string()
}

/// Sort key of a qualifier: its rank, or after every known one, by name.
/// `ga`, `final` and `release` rank as a release but, unlike the empty qualifier, are
/// not dropped as trailing nulls (MNG-7714: `1.0.final-redhat < 1.0-sp1-redhat`).
fn rank(q: &str) -> (usize, &str) {
    let q = match q {
        "ga" | "final" | "release" => "",
        q => q,
    };
    match QUALIFIERS.iter().position(|k| *k == q) {
        Some(i) => (i, ""),
        None => (QUALIFIERS.len(), q),
    }
}

fn is_null(item: &Item) -> bool {
    match item {
        Item::Int(n) => n.trim_start_matches('0').is_empty(),
        Item::Str(s) => s.is_empty(),
        Item::List(l) => l.is_empty(),
    }
}

/// Drops null items from the end; a non-null nested list does not stop the scan
/// (`1.0-1` = `1-1`).
fn normalize(list: &mut Vec<Item>) {
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        if is_null(&list[i]) {
            list.remove(i);
        } else if !matches!(list[i], Item::List(_)) {
            break;
        }
    }
}

fn parse_item(digits: bool, s: &str, followed_by_digit: bool) -> Item {
    if digits {
        Item::Int(s.to_string())
    } else {
        Item::Str(qualifier(s, followed_by_digit))
    }
}

fn parse(v: &str) -> Item {
    let v = v.trim().to_ascii_lowercase();
    let chars: Vec<char> = v.chars().collect();
    // Stack of open lists; each nested list is attached to its parent when closed.
    let mut stack: Vec<Vec<Item>> = vec![Vec::new()];
    let mut digits = false;
    let mut start = 0;
    // Whether the current token follows a `.` (a qualifier there opens a list, like
    // after `-`: 2.0.x = 2-x, MNG-7644).
    let mut after_dot = false;
    let text = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
    let add = |stack: &mut Vec<Vec<Item>>, item: Item, after_dot: bool| {
        if after_dot && matches!(item, Item::Str(_)) && stack.last().is_some_and(|l| !l.is_empty())
        {
            stack.push(Vec::new());
        }
        if let Some(top) = stack.last_mut() {
            top.push(item);
        }
    };
    for (i, &c) in chars.iter().enumerate() {
        if c == '.' || c == '-' {
            let item = if i == start {
                Item::Int("0".into())
            } else {
                parse_item(digits, &text(start, i), false)
            };
            add(&mut stack, item, after_dot);
            start = i + 1;
            after_dot = c == '.';
            if c == '-' {
                stack.push(Vec::new());
            }
        } else if c.is_ascii_digit() {
            if !digits && i > start {
                add(
                    &mut stack,
                    Item::Str(qualifier(&text(start, i), true)),
                    after_dot,
                );
                after_dot = false;
                start = i;
                stack.push(Vec::new());
            }
            digits = true;
        } else {
            if digits && i > start {
                add(&mut stack, Item::Int(text(start, i)), false);
                after_dot = false;
                start = i;
                stack.push(Vec::new());
            }
            digits = false;
        }
    }
    if chars.len() > start {
        add(
            &mut stack,
            parse_item(digits, &text(start, chars.len()), false),
            after_dot,
        );
    }
    // Close the nested lists, innermost first, normalising each.
    while stack.len() > 1 {
        let mut inner = stack.pop().unwrap_or_default();
        normalize(&mut inner);
        if let Some(top) = stack.last_mut() {
            top.push(Item::List(inner));
        }
    }
    let mut root = stack.pop().unwrap_or_default();
    normalize(&mut root);
    Item::List(root)
}

/// Compares an item with "nothing" (the shorter list's missing element).
fn cmp_null(a: &Item) -> Ordering {
    match a {
        Item::Int(n) => {
            if n.trim_start_matches('0').is_empty() {
                Ordering::Equal
            } else {
                Ordering::Greater
            }
        }
        Item::Str(s) => rank(s).cmp(&rank("")),
        // Maven looks at the first item only, which made `0-.2` (a list `[0, 2]`) equal
        // to nothing yet newer than a list that is newer than nothing; compare like an
        // empty list instead.
        Item::List(l) => l
            .iter()
            .map(cmp_null)
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal),
    }
}

/// A qualifier against a list in its place. Maven puts every qualifier before every
/// list, but a list compares with a missing item by its first item, so that rule alone
/// is not transitive (`sp > "" > -rc`, yet `sp < -rc`, and sorting panics on such an
/// order). The qualifier is compared as a list of itself instead, and only when they
/// tie does the list come after, as in Maven.
fn cmp_str_list(s: &Item, l: &[Item]) -> Ordering {
    let list = |items: &[Item]| Item::List(items.to_vec());
    match cmp(Some(&list(std::slice::from_ref(s))), Some(&list(l))) {
        Ordering::Equal => Ordering::Less,
        o => o,
    }
}

fn cmp(a: Option<&Item>, b: Option<&Item>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (Some(a), None) => cmp_null(a),
        (None, Some(b)) => cmp_null(b).reverse(),
        (Some(a), Some(b)) => match (a, b) {
            (Item::Int(x), Item::Int(y)) => cmp_digits(x, y),
            (Item::Int(_), _) => Ordering::Greater,
            (_, Item::Int(_)) => Ordering::Less,
            (Item::Str(x), Item::Str(y)) => rank(x).cmp(&rank(y)),
            (Item::Str(_), Item::List(l)) => cmp_str_list(a, l),
            (Item::List(l), Item::Str(_)) => cmp_str_list(b, l).reverse(),
            (Item::List(x), Item::List(y)) => {
                for i in 0..x.len().max(y.len()) {
                    let o = cmp(x.get(i), y.get(i));
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            }
        },
    }
}

pub(super) fn compare(a: &str, b: &str) -> Ordering {
    cmp(Some(&parse(a)), Some(&parse(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifiers() {
        assert_eq!(compare("1.0-alpha-1", "1.0"), Ordering::Less);
        assert_eq!(compare("1.0-SNAPSHOT", "1.0"), Ordering::Less);
        assert_eq!(compare("1.0.Final", "1.0"), Ordering::Equal);
        assert_eq!(compare("1.0-sp1", "1.0"), Ordering::Greater);
    }

    /// Found by fuzzing: Maven's "a qualifier sorts before a list" made `sp` < `-rc` <
    /// `""` < `sp`, a cycle (and `sort_by` may panic on such an order).
    #[test]
    fn qualifiers_lists_and_nothing_compare_transitively() {
        for (sp, rc, release) in [
            ("sp", "-rc", ""),
            ("1-sp", "1-0-rc", "1"),
            ("\0", "-rc", ""),
        ] {
            assert_eq!(compare(rc, release), Ordering::Less);
            assert_eq!(compare(release, sp), Ordering::Less);
            assert_eq!(compare(rc, sp), Ordering::Less, "{rc} vs {sp}");
            assert_eq!(compare(sp, rc), Ordering::Greater, "{sp} vs {rc}");
        }
        // A list against nothing looks past a leading zero.
        assert_eq!(compare("0-.2", ""), Ordering::Greater);
        assert_eq!(compare("0-.2", ")1.0"), Ordering::Greater);
        assert_eq!(compare(")1.0", ""), Ordering::Greater);
        // The tie still puts the qualifier first, as Maven does.
        assert_eq!(compare("sp", "-sp.1"), Ordering::Less);
    }
}
