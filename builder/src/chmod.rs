//! `COPY --chmod` / `ADD --chmod` values, parsed and applied as BuildKit does.
//!
//! BuildKit's Dockerfile frontend accepts an octal value (`strconv.ParseUint(s, 8, 32)`,
//! at most `0o7777`) and otherwise a symbolic mode, parsed by
//! `github.com/tonistiigi/dchapes-mode`, a Go port of BSD `setmode(3)`
//! (grammar in chmod(1): <https://man.freebsd.org/cgi/man.cgi?chmod>):
//!
//! ```text
//! mode   ::= clause [, clause ...]
//! clause ::= [who ...] [action ...]
//! action ::= op [perm ...]
//! who    ::= a | u | g | o
//! op     ::= + | - | =
//! perm   ::= r | s | t | w | x | X | u | g | o
//! ```
//!
//! Semantics worth knowing:
//!
//! - **No `who`** (`+x`, `-w`, `=r`): BSD masks the bits with `~umask`. BuildKit
//!   applies the mode inside buildkitd, which runs with umask 0, so `+x` means
//!   `a+x`. lading always uses umask 0: the host umask must never reach an image.
//!   `=` without `who` clears setuid, setgid and the permission bits, not sticky.
//! - **`X`** sets (`+`, `=`) or clears (`-`) execute bits when the entry is a
//!   directory or *the original mode* has any execute bit. BSD honoured `X` only
//!   with `+`; BuildKit's fork switched to the Linux/POSIX-2024 meaning for `=`
//!   and `-` too (moby/buildkit#5835), which is what this module does.
//! - `s` sets setuid/setgid for the `u`/`g` in `who` (both when `who` is empty)
//!   and is ignored for `o` alone; `t` sets sticky unless `who` is `o` alone.
//! - `u`, `g`, `o` as perms copy that class's current bits (`g=u`, `go=u-w`).
//! - Clauses apply left to right; copies read the mode as changed so far.

/// Set-user-ID bit.
const SUID: u32 = 0o4000;
/// Set-group-ID bit.
const SGID: u32 = 0o2000;
/// Sticky bit.
const STICKY: u32 = 0o1000;
const RWXU: u32 = 0o700;
const RWXG: u32 = 0o070;
const RWXO: u32 = 0o007;
const EXEC_ALL: u32 = 0o111;
/// What `a` and an empty `=` cover (BSD `STANDARD_BITS`): everything but sticky.
const STANDARD: u32 = SUID | SGID | RWXU | RWXG | RWXO;
/// Mode bits that `apply` deals in.
const MODE_BITS: u32 = 0o7777;

/// A parsed `--chmod` value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Chmod {
    /// An absolute mode such as `755` or `04755`; replaces all mode bits.
    Octal(u32),
    /// A symbolic mode such as `u=rwX,go=rX`, applied relative to each entry's mode.
    Symbolic(SymbolicMode),
}

/// A compiled symbolic mode: a sequence of bit operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolicMode {
    ops: Vec<Op>,
}

/// One step of a symbolic mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Set(u32),
    Clear(u32),
    /// `X` with `+` or `=`.
    SetIfExec(u32),
    /// `X` with `-`.
    ClearIfExec(u32),
    /// `u`, `g` or `o` as a perm: copy that class's bits into the target classes.
    Copy {
        /// Shift of the source class (6, 3 or 0).
        from: u32,
        /// Target classes as `RWXU | RWXG | RWXO` bits.
        to: u32,
        op: u8,
    },
}

/// A `--chmod` value that is neither valid octal nor a valid symbolic mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChmodError {
    /// The value is empty.
    #[error("empty chmod value")]
    Empty,
    /// The value starts with a digit but is not an octal number up to 0o7777
    /// (BuildKit's wording).
    #[error("invalid chmod parameter {value:?}: it should be octal string and between 0 and 07777")]
    InvalidOctal {
        /// The value as given.
        value: String,
    },
    /// The value is not valid symbolic mode syntax.
    #[error("invalid symbolic mode {value:?} at byte {offset}")]
    InvalidSymbolic {
        /// The value as given.
        value: String,
        /// Byte offset of the first character that does not fit the grammar.
        offset: usize,
    },
}

impl Chmod {
    /// Parses a `--chmod` value. A leading digit selects octal, as in BuildKit.
    pub fn parse(s: &str) -> Result<Chmod, ChmodError> {
        let first = s.bytes().next().ok_or(ChmodError::Empty)?;
        if first.is_ascii_digit() {
            return parse_octal(s).map(Chmod::Octal);
        }
        parse_symbolic(s).map(Chmod::Symbolic)
    }

    /// The new mode bits (`0o7777`) of an entry whose mode is `current_mode`
    /// (file type bits are ignored) and which is a directory if `is_dir`.
    pub fn apply(&self, current_mode: u32, is_dir: bool) -> u32 {
        match self {
            Chmod::Octal(mode) => mode & MODE_BITS,
            Chmod::Symbolic(sym) => sym.apply(current_mode, is_dir),
        }
    }
}

impl SymbolicMode {
    /// Applies the operations; see [`Chmod::apply`].
    pub fn apply(&self, current_mode: u32, is_dir: bool) -> u32 {
        let original = current_mode & MODE_BITS;
        // `X` looks at the mode before any change, as BSD getmode() does.
        let x_applies = is_dir || original & EXEC_ALL != 0;
        let mut mode = original;
        for op in &self.ops {
            match *op {
                Op::Set(bits) => mode |= bits,
                Op::Clear(bits) => mode &= !bits,
                Op::SetIfExec(bits) if x_applies => mode |= bits,
                Op::ClearIfExec(bits) if x_applies => mode &= !bits,
                Op::SetIfExec(_) | Op::ClearIfExec(_) => {}
                Op::Copy { from, to, op } => {
                    let value = (mode >> from) & 0o7;
                    for shift in [6, 3, 0] {
                        if to & (0o7 << shift) == 0 {
                            continue;
                        }
                        if op == b'-' || op == b'=' {
                            let clear = if op == b'=' { 0o7 } else { value };
                            mode &= !(clear << shift);
                        }
                        if op == b'+' || op == b'=' {
                            mode |= value << shift;
                        }
                    }
                }
            }
        }
        mode & MODE_BITS
    }
}

/// BuildKit: `ParseUint(s, 8, 32)`, then at most `0o7777`. Any number of leading
/// zeros is fine (`00755`).
fn parse_octal(s: &str) -> Result<u32, ChmodError> {
    let invalid = || ChmodError::InvalidOctal {
        value: s.to_string(),
    };
    let mut value: u32 = 0;
    for b in s.bytes() {
        if !(b'0'..=b'7').contains(&b) {
            return Err(invalid());
        }
        value = value
            .checked_mul(8)
            .and_then(|v| v.checked_add(u32::from(b - b'0')))
            .ok_or_else(invalid)?;
    }
    if value > MODE_BITS {
        return Err(invalid());
    }
    Ok(value)
}

/// Accumulates operations while parsing, mirroring BSD `setmode`'s `addcmd`.
struct Builder {
    ops: Vec<Op>,
}

impl Builder {
    /// The bits an op touches: `who` if given, else everything (umask 0).
    fn scope(who: u32, perm: u32) -> u32 {
        if who != 0 { who & perm } else { perm }
    }

    fn add(&mut self, op: u8, who: u32, perm: u32) {
        match op {
            b'=' => {
                self.ops
                    .push(Op::Clear(if who != 0 { who } else { STANDARD }));
                self.ops.push(Op::Set(Self::scope(who, perm)));
            }
            b'+' => self.ops.push(Op::Set(Self::scope(who, perm))),
            _ => self.ops.push(Op::Clear(Self::scope(who, perm))),
        }
    }

    fn add_x(&mut self, op: u8, who: u32) {
        let bits = Self::scope(who, EXEC_ALL);
        self.ops.push(if op == b'-' {
            Op::ClearIfExec(bits)
        } else {
            Op::SetIfExec(bits)
        });
    }

    fn add_copy(&mut self, class: u8, who: u32, op: u8) {
        let from = match class {
            b'u' => 6,
            b'g' => 3,
            _ => 0,
        };
        // Targets are the classes named in `who` (all of them when empty).
        let to = if who != 0 {
            who & (RWXU | RWXG | RWXO)
        } else {
            RWXU | RWXG | RWXO
        };
        self.ops.push(Op::Copy { from, to, op });
    }
}

fn parse_symbolic(s: &str) -> Result<SymbolicMode, ChmodError> {
    let bytes = s.as_bytes();
    let err = |offset: usize| ChmodError::InvalidSymbolic {
        value: s.to_string(),
        offset,
    };
    let mut b = Builder { ops: Vec::new() };
    let mut pos = 0;
    let mut equal_done = false;
    'clauses: loop {
        let mut who = 0;
        while let Some(&c) = bytes.get(pos) {
            who |= match c {
                b'a' => STANDARD,
                b'u' => SUID | RWXU,
                b'g' => SGID | RWXG,
                b'o' => RWXO,
                _ => break,
            };
            pos += 1;
        }
        // One or more actions share this clause's `who` (`u=g-w`).
        loop {
            let op = *bytes.get(pos).ok_or_else(|| err(pos))?;
            if !matches!(op, b'+' | b'-' | b'=') {
                return Err(err(pos));
            }
            pos += 1;
            if op == b'=' {
                equal_done = false;
            }
            who &= !STICKY;
            let mut perm = 0;
            let mut perm_x = false;
            loop {
                match bytes.get(pos).copied() {
                    Some(b'r') => perm |= 0o444,
                    Some(b'w') => perm |= 0o222,
                    Some(b'x') => perm |= EXEC_ALL,
                    Some(b'X') => perm_x = true,
                    Some(b's') => {
                        if who == 0 || who & !RWXO != 0 {
                            perm |= SUID | SGID;
                        }
                    }
                    Some(b't') => {
                        if who == 0 || who & !RWXO != 0 {
                            who |= STICKY;
                            perm |= STICKY;
                        }
                    }
                    Some(class @ (b'u' | b'g' | b'o')) => {
                        // Flush what came before so the copy sees it.
                        if perm != 0 {
                            b.add(op, who, perm);
                            perm = 0;
                        }
                        if op == b'=' {
                            equal_done = true;
                        }
                        if perm_x {
                            b.add_x(op, who);
                            perm_x = false;
                        }
                        b.add_copy(class, who, op);
                    }
                    _ => {
                        // An empty `=` still clears (`go=`).
                        if perm != 0 || (op == b'=' && !equal_done) {
                            if op == b'=' {
                                equal_done = true;
                            }
                            b.add(op, who, perm);
                        }
                        if perm_x {
                            b.add_x(op, who);
                        }
                        break;
                    }
                }
                pos += 1;
            }
            match bytes.get(pos) {
                None => break 'clauses,
                Some(b',') => {
                    pos += 1;
                    continue 'clauses;
                }
                Some(_) => {}
            }
        }
    }
    Ok(SymbolicMode { ops: b.ops })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(mode: &str, current: u32, is_dir: bool) -> u32 {
        Chmod::parse(mode)
            .unwrap_or_else(|e| panic!("parse {mode:?}: {e}"))
            .apply(current, is_dir)
    }

    fn sym_err(value: &str, offset: usize) -> Result<Chmod, ChmodError> {
        Err(ChmodError::InvalidSymbolic {
            value: value.to_string(),
            offset,
        })
    }

    fn oct_err(value: &str) -> Result<Chmod, ChmodError> {
        Err(ChmodError::InvalidOctal {
            value: value.to_string(),
        })
    }

    #[test]
    fn octal_values() {
        assert_eq!(Chmod::parse("755"), Ok(Chmod::Octal(0o755)));
        assert_eq!(Chmod::parse("0644"), Ok(Chmod::Octal(0o644)));
        assert_eq!(Chmod::parse("4755"), Ok(Chmod::Octal(0o4755)));
        assert_eq!(Chmod::parse("7777"), Ok(Chmod::Octal(0o7777)));
        assert_eq!(Chmod::parse("0"), Ok(Chmod::Octal(0)));
        assert_eq!(Chmod::parse("000755"), Ok(Chmod::Octal(0o755)));
    }

    #[test]
    fn octal_replaces_all_mode_bits() {
        assert_eq!(apply("644", 0o4777, false), 0o644);
        assert_eq!(apply("1777", 0o755, true), 0o1777);
        // File type bits of the input are ignored.
        assert_eq!(apply("600", 0o100_755, false), 0o600);
    }

    #[test]
    fn octal_errors_use_buildkit_message() {
        assert_eq!(Chmod::parse("17777"), oct_err("17777"));
        assert_eq!(Chmod::parse("8"), oct_err("8"));
        assert_eq!(Chmod::parse("75x"), oct_err("75x"));
        assert_eq!(Chmod::parse("0o755"), oct_err("0o755"));
        assert_eq!(
            Chmod::parse("01000000000000000007777"),
            oct_err("01000000000000000007777")
        );
        let msg = oct_err("9").expect_err("error").to_string();
        assert_eq!(
            msg,
            "invalid chmod parameter \"9\": it should be octal string and between 0 and 07777"
        );
    }

    /// dchapes-mode `TestParseError` (minus the numeric rows, covered above).
    #[test]
    fn symbolic_syntax_errors() {
        assert_eq!(Chmod::parse(""), Err(ChmodError::Empty));
        assert_eq!(Chmod::parse(","), sym_err(",", 0));
        assert_eq!(Chmod::parse("q+r"), sym_err("q+r", 0));
        assert_eq!(Chmod::parse("z"), sym_err("z", 0));
        assert_eq!(Chmod::parse("u"), sym_err("u", 1));
        assert_eq!(Chmod::parse("g"), sym_err("g", 1));
        assert_eq!(Chmod::parse("o"), sym_err("o", 1));
        assert_eq!(Chmod::parse("go"), sym_err("go", 2));
        assert_eq!(Chmod::parse("u+x,"), sym_err("u+x,", 4));
        assert_eq!(Chmod::parse("u+z"), sym_err("u+z", 2));
        assert_eq!(Chmod::parse("+755"), sym_err("+755", 1));
    }

    /// dchapes-mode `TestApply` rows with umask 0 (BuildKit's), file modes,
    /// one test per row: (original mode, mode string) => expected.
    macro_rules! dchapes {
        ($($name:ident: $from:expr, $mode:expr => $want:expr;)*) => {$(
            #[test]
            fn $name() {
                let got = apply($mode, $from, false);
                assert_eq!(got, $want, "{:?} on {:#o}: got {:#o}", $mode, $from, got);
            }
        )*};
    }

    dchapes! {
        apply_01: 0o777, "=" => 0o000;
        apply_02: 0o777, "+" => 0o777;
        apply_03: 0o421, "+" => 0o421;
        apply_04: 0o777, "-" => 0o777;
        apply_05: 0o421, "+t" => 0o1421;
        apply_06: 0o1421, "-t" => 0o421;
        apply_07: 0o000, "u+r" => 0o400;
        apply_08: 0o000, "u+w" => 0o200;
        apply_09: 0o000, "u+x" => 0o100;
        apply_10: 0o000, "u+X" => 0o000;
        apply_11: 0o001, "u+X" => 0o101;
        apply_12: 0o000, "u+s" => 0o4000;
        apply_13: 0o000, "g+r" => 0o040;
        apply_14: 0o000, "g+x" => 0o010;
        apply_15: 0o100, "g+X" => 0o110;
        apply_16: 0o000, "g+s" => 0o2000;
        apply_17: 0o000, "o+r" => 0o004;
        apply_18: 0o100, "o+X" => 0o101;
        apply_19: 0o000, "o+s" => 0o000;
        apply_20: 0o000, "+r" => 0o444;
        apply_21: 0o000, "+w" => 0o222;
        apply_22: 0o000, "+x" => 0o111;
        apply_23: 0o000, "+X" => 0o000;
        apply_24: 0o010, "+X" => 0o111;
        apply_25: 0o000, "+s" => 0o6000;
        apply_26: 0o777, "-r" => 0o333;
        apply_27: 0o777, "-w" => 0o555;
        apply_28: 0o777, "-x" => 0o666;
        apply_29: 0o6777, "-s" => 0o777;
        apply_30: 0o777, "u-r" => 0o377;
        apply_31: 0o4777, "u-s" => 0o777;
        apply_32: 0o000, "u=rw" => 0o600;
        apply_33: 0o777, "u=rw" => 0o677;
        apply_34: 0o777, "u=" => 0o077;
        apply_35: 0o000, "=rw" => 0o666;
        apply_36: 0o777, "=rw" => 0o666;
        apply_37: 0o042, "u=g" => 0o442;
        apply_38: 0o742, "u=g" => 0o442;
        apply_39: 0o722, "u=g-w" => 0o022;
        apply_40: 0o742, "u=g-w" => 0o442;
        apply_41: 0o762, "u=g-w" => 0o462;
        apply_42: 0o772, "u=g-w" => 0o572;
        apply_43: 0o021, "u+o" => 0o121;
        apply_44: 0o021, "u+g" => 0o221;
        apply_45: 0o021, "u+go" => 0o321;
        apply_46: 0o011, "u+uo" => 0o111;
        apply_47: 0o000, "a=r,ug=rw,u+x" => 0o764;
        apply_48: 0o777, "a=r,ug=rw,u+x" => 0o764;
        apply_49: 0o000, "o+r,g+w,a+t,g-s,u+og" => 0o1624;
        apply_50: 0o2100, "o+r,g+w,a+t,g-s,u+og" => 0o1724;
        apply_51: 0o777, "644" => 0o644;
        apply_52: 0o777, "go-w" => 0o755;
        apply_53: 0o666, "=rw,+X" => 0o666;
        apply_54: 0o766, "=rw,+X" => 0o777;
        apply_55: 0o000, "u=rwx,go=rx" => 0o755;
        apply_56: 0o000, "u=rwx,go=u-w" => 0o755;
        apply_57: 0o777, "go=" => 0o700;
        apply_58: 0o770, "go=u-w" => 0o755;
        apply_59: 0o670, "go=u-w" => 0o644;
        apply_60: 0o570, "go=u-w" => 0o555;
        apply_61: 0o370, "go=u-w" => 0o311;
    }

    #[test]
    fn dchapes_directory_rows() {
        assert_eq!(apply("u+X", 0o000, true), 0o100);
        assert_eq!(apply("g+X", 0o000, true), 0o010);
        assert_eq!(apply("o+X", 0o000, true), 0o001);
        assert_eq!(apply("+X", 0o000, true), 0o111);
        assert_eq!(apply("o+r,g+w,a+t,g-s,u+og", 0o6000, true), 0o5624);
    }

    #[test]
    fn no_who_uses_umask_zero() {
        // BSD chmod with umask 022 would give 0o644 / 0o111 masked; BuildKit
        // (buildkitd has umask 0) and lading give the full bits.
        assert_eq!(apply("+w", 0o444, false), 0o666);
        assert_eq!(apply("+x", 0o644, false), 0o755);
        assert_eq!(apply("-u", 0o111, false), 0o000);
        assert_eq!(apply("=rw,+X", 0o766, false), 0o777);
    }

    #[test]
    fn empty_equal_keeps_sticky() {
        assert_eq!(apply("=", 0o1777, true), 0o1000);
        assert_eq!(apply("a=", 0o7777, true), 0o1000);
        // BSD quirk: with no `who`, `t` narrows the action to the sticky bit.
        assert_eq!(apply("=t", 0o7777, true), 0o7777);
        assert_eq!(apply("=t", 0o0777, true), 0o1777);
    }

    #[test]
    fn capital_x_with_equal_is_linux_like() {
        // The motivating case of moby/buildkit#1951 and #5835.
        let m = "u=rwX,go=rX";
        assert_eq!(apply(m, 0o600, true), 0o755);
        assert_eq!(apply(m, 0o644, false), 0o644);
        assert_eq!(apply(m, 0o700, false), 0o755);
        assert_eq!(apply("a=rX", 0o700, true), 0o555);
        assert_eq!(apply("a=rX", 0o644, false), 0o444);
        assert_eq!(apply("a=rX", 0o744, false), 0o555);
    }

    #[test]
    fn capital_x_with_minus_clears_when_applicable() {
        assert_eq!(apply("-X", 0o777, false), 0o666);
        assert_eq!(apply("-X", 0o777, true), 0o666);
        assert_eq!(apply("u-X", 0o755, true), 0o655);
        assert_eq!(apply("-X", 0o666, false), 0o666);
    }

    #[test]
    fn capital_x_sees_original_mode() {
        // `a-x` runs first, but `X` still sees the original execute bit.
        assert_eq!(apply("a-x,a+X", 0o744, false), 0o755);
        assert_eq!(apply("a-x,a+X", 0o644, false), 0o644);
    }

    #[test]
    fn capital_x_plus_on_file() {
        assert_eq!(apply("a+rX", 0o600, false), 0o644);
        assert_eq!(apply("a+rX", 0o700, false), 0o755);
        assert_eq!(apply("a+rX", 0o700, true), 0o755);
    }

    #[test]
    fn brief_examples() {
        assert_eq!(apply("u+x", 0o644, false), 0o744);
        assert_eq!(apply("go-w", 0o666, false), 0o644);
        assert_eq!(apply("u=rwx,g=rx,o=", 0o777, false), 0o750);
        assert_eq!(apply("u+s", 0o755, false), 0o4755);
        assert_eq!(apply("o+t", 0o777, true), 0o777);
        assert_eq!(apply("+t", 0o777, true), 0o1777);
        assert_eq!(apply("g+s", 0o755, true), 0o2755);
    }

    #[test]
    fn sticky_with_other_perms_in_one_action_follows_bsd() {
        // BSD quirk kept for fidelity: with no `who`, `t` narrows the action
        // to the sticky bit, so the `r` is dropped.
        assert_eq!(apply("+rt", 0o000, false), 0o1000);
        assert_eq!(apply("a+rt", 0o000, false), 0o1444);
    }

    #[test]
    fn group_copy_from_user() {
        // OpenShift's `g=u`.
        assert_eq!(apply("g=u", 0o750, true), 0o770);
        assert_eq!(apply("g=u", 0o4700, false), 0o4770);
    }

    #[test]
    fn multiple_actions_per_clause() {
        assert_eq!(apply("u+rwx-w", 0o000, false), 0o500);
        assert_eq!(apply("a+r-x=w", 0o111, false), 0o222);
    }

    #[test]
    fn equal_clears_setid_for_named_classes() {
        assert_eq!(apply("u=rwx", 0o6755, false), 0o2755);
        assert_eq!(apply("g=rx", 0o6755, false), 0o4755);
        assert_eq!(apply("o=r", 0o6755, false), 0o6754);
    }

    #[test]
    fn apply_ignores_file_type_bits() {
        assert_eq!(apply("a+x", 0o100_644, false), 0o755);
        assert_eq!(apply("u+X", 0o040_600, true), 0o700);
    }
}
