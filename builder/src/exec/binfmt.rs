//! Whether this machine can run another architecture's `RUN` steps: through a
//! binfmt_misc handler (qemu-user-static) registered with the `F` (fix-binary) flag.
//!
//! lading never mounts binfmt_misc or registers handlers itself: that changes the whole
//! machine. It only reads `/proc/sys/fs/binfmt_misc` (the kernel's
//! `Documentation/admin-guide/binfmt-misc.rst` format) and, when the step's architecture
//! cannot run, says which piece is missing.
//!
//! The `F` flag matters because the step runs after `pivot_root` into the image: a
//! handler without it would look for its interpreter (`/usr/libexec/qemu-binfmt/…`)
//! inside the image, where it is not. With `F` the kernel opened the interpreter when
//! the handler was registered.

use std::path::{Path, PathBuf};

/// Where the kernel's binfmt_misc file system is mounted.
pub const BINFMT_MISC: &str = "/proc/sys/fs/binfmt_misc";

/// The ELF identity of an architecture's executables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ElfId {
    /// `EI_CLASS`: 1 = 32-bit, 2 = 64-bit.
    class: u8,
    /// `EI_DATA`: 1 = little endian, 2 = big endian.
    data: u8,
    /// `e_machine`.
    machine: u16,
    /// The name qemu and the kernel use (`aarch64`), for messages.
    name: &'static str,
}

/// The ELF identity of OCI architecture `arch` (GOARCH names), when lading knows it.
fn elf_id(arch: &str) -> Option<ElfId> {
    let (class, data, machine, name) = match arch {
        "amd64" => (2, 1, 62, "x86_64"),
        "386" => (1, 1, 3, "i386"),
        "arm64" => (2, 1, 183, "aarch64"),
        "arm" => (1, 1, 40, "arm"),
        "ppc64le" => (2, 1, 21, "ppc64le"),
        "ppc64" => (2, 2, 21, "ppc64"),
        "s390x" => (2, 2, 22, "s390x"),
        "riscv64" => (2, 1, 243, "riscv64"),
        "mips64le" => (2, 1, 8, "mips64el"),
        "mips64" => (2, 2, 8, "mips64"),
        "mipsle" => (1, 1, 8, "mipsel"),
        "mips" => (1, 2, 8, "mips"),
        "loong64" => (2, 1, 258, "loongarch64"),
        _ => return None,
    };
    Some(ElfId {
        class,
        data,
        machine,
        name,
    })
}

impl ElfId {
    /// The first 20 bytes of an executable of this architecture (`ET_EXEC`): what
    /// handlers' magic and mask are matched against (qemu's masks also accept `ET_DYN`).
    fn header(self) -> [u8; 20] {
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = self.class;
        h[5] = self.data;
        h[6] = 1;
        let (e_type, machine) = if self.data == 2 {
            (2u16.to_be_bytes(), self.machine.to_be_bytes())
        } else {
            (2u16.to_le_bytes(), self.machine.to_le_bytes())
        };
        h[16..18].copy_from_slice(&e_type);
        h[18..20].copy_from_slice(&machine);
        h
    }
}

/// The architectures this machine runs without emulation: its own, and i386 on amd64.
fn native(host_arch: &str, arch: &str) -> bool {
    arch == host_arch || (host_arch == "amd64" && arch == "386")
}

/// One registered handler, as its file in binfmt_misc shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Handler {
    name: String,
    enabled: bool,
    flags: String,
    offset: usize,
    magic: Vec<u8>,
    mask: Vec<u8>,
}

impl Handler {
    /// Parses a handler file; `None` for extension (`E`) handlers and anything unreadable.
    fn parse(name: &str, text: &str) -> Option<Handler> {
        let mut h = Handler {
            name: name.to_string(),
            enabled: false,
            flags: String::new(),
            offset: 0,
            magic: Vec::new(),
            mask: Vec::new(),
        };
        for line in text.lines() {
            let line = line.trim();
            if line == "enabled" {
                h.enabled = true;
            } else if let Some(f) = line.strip_prefix("flags:") {
                h.flags = f.trim().to_string();
            } else if let Some(o) = line.strip_prefix("offset ") {
                h.offset = o.trim().parse().ok()?;
            } else if let Some(m) = line.strip_prefix("magic ") {
                h.magic = hex(m.trim())?;
            } else if let Some(m) = line.strip_prefix("mask ") {
                h.mask = hex(m.trim())?;
            }
        }
        (!h.magic.is_empty()).then_some(h)
    }

    /// Whether the kernel would hand an executable starting with `header` to it.
    fn matches(&self, header: &[u8]) -> bool {
        self.magic.iter().enumerate().all(|(i, m)| {
            let mask = self.mask.get(i).copied().unwrap_or(0xff);
            header
                .get(self.offset + i)
                .is_some_and(|b| b & mask == m & mask)
        })
    }
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks that a `RUN` step of an image for `arch` (`variant` only for messages) can
/// run here, reading binfmt_misc at [`BINFMT_MISC`]. `Err` is the message naming what
/// is missing and how to add it.
pub fn check_can_run(arch: &str, variant: Option<&str>) -> Result<(), String> {
    let host = lading_oci::Platform::host();
    check_in(Path::new(BINFMT_MISC), &host.architecture, arch, variant)
}

fn check_in(dir: &Path, host_arch: &str, arch: &str, variant: Option<&str>) -> Result<(), String> {
    if native(host_arch, arch) {
        return Ok(());
    }
    let platform = match variant {
        Some(v) if !v.is_empty() => format!("linux/{arch}/{v}"),
        _ => format!("linux/{arch}"),
    };
    // An architecture lading has no ELF identity for (or a config without one) is
    // left to the kernel: refusing it would break images that run fine.
    let Some(id) = elf_id(arch) else {
        return Ok(());
    };
    let install = "install Debian's qemu-user-static and binfmt-support \
                   (apt-get install qemu-user-static binfmt-support), which register qemu \
                   with binfmt_misc";
    let status = dir.join("status");
    match std::fs::read_to_string(&status) {
        Ok(s) if s.trim() == "enabled" => {}
        Ok(_) => {
            return Err(format!(
                "cannot run RUN steps for {platform} on this {host_arch} machine: \
                 binfmt_misc is disabled (echo 1 > {})",
                status.display()
            ));
        }
        Err(_) => {
            return Err(format!(
                "cannot run RUN steps for {platform} on this {host_arch} machine: \
                 binfmt_misc is not mounted on {} (as root: mount -t binfmt_misc \
                 binfmt_misc {}), and {install}",
                dir.display(),
                dir.display()
            ));
        }
    }
    let header = id.header();
    let mut handlers: Vec<(PathBuf, Handler)> = std::fs::read_dir(dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "status" || name == "register" {
                return None;
            }
            let text = std::fs::read_to_string(entry.path()).ok()?;
            Some((entry.path(), Handler::parse(&name, &text)?))
        })
        .filter(|(_, h)| h.matches(&header))
        .collect();
    handlers.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    let machine = id.name;
    if let Some((_, h)) = handlers.iter().find(|(_, h)| h.enabled) {
        if h.flags.contains('F') {
            return Ok(());
        }
        return Err(format!(
            "cannot run RUN steps for {platform}: the binfmt_misc handler {:?} for {machine} \
             executables lacks the F (fix-binary) flag, so its interpreter cannot be found \
             inside the image's root; register it with F (Debian's qemu-user-static does: \
             update-binfmts --import qemu-{machine})",
            h.name
        ));
    }
    if let Some((path, h)) = handlers.first() {
        return Err(format!(
            "cannot run RUN steps for {platform}: the binfmt_misc handler {:?} for {machine} \
             executables is disabled (as root: echo 1 > {})",
            h.name,
            path.display()
        ));
    }
    Err(format!(
        "cannot run RUN steps for {platform} on this {host_arch} machine: binfmt_misc has \
         no handler for {machine} executables; {install}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Debian bookworm's qemu-user-static registers for aarch64.
    const QEMU_AARCH64: &str = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n\
        flags: PF\noffset 0\nmagic 7f454c460201010000000000000000000200b700\n\
        mask ffffffffffffff00fffffffffffffffffeffffff\n";

    fn dir_with(handlers: &[(&str, &str)], status: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        if let Some(s) = status {
            std::fs::write(dir.path().join("status"), s).unwrap();
            std::fs::write(dir.path().join("register"), "").unwrap();
        }
        for (name, text) in handlers {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn native_and_i386_on_amd64_need_no_handler() {
        let none = Path::new("/nonexistent");
        assert!(check_in(none, "amd64", "amd64", None).is_ok());
        assert!(check_in(none, "amd64", "386", None).is_ok());
        assert!(check_in(none, "arm64", "arm64", Some("v8")).is_ok());
        assert!(check_in(none, "amd64", "", None).is_ok());
    }

    #[test]
    fn debians_qemu_handler_runs_arm64() {
        let d = dir_with(&[("qemu-aarch64", QEMU_AARCH64)], Some("enabled\n"));
        assert_eq!(check_in(d.path(), "amd64", "arm64", None), Ok(()));
        // It does not claim other machines.
        let e = check_in(d.path(), "amd64", "s390x", None).unwrap_err();
        assert!(e.contains("no handler for s390x executables"), "{e}");
        assert!(e.contains("qemu-user-static"), "{e}");
    }

    #[test]
    fn unmounted_binfmt_misc_is_named() {
        let d = dir_with(&[], None);
        let e = check_in(d.path(), "amd64", "arm64", Some("v8")).unwrap_err();
        assert!(e.contains("linux/arm64/v8"), "{e}");
        assert!(e.contains("binfmt_misc is not mounted"), "{e}");
        assert!(e.contains("mount -t binfmt_misc"), "{e}");
    }

    #[test]
    fn a_disabled_handler_is_named_with_how_to_enable_it() {
        let disabled = QEMU_AARCH64.replacen("enabled", "disabled", 1);
        let d = dir_with(&[("qemu-aarch64", &disabled)], Some("enabled\n"));
        let e = check_in(d.path(), "amd64", "arm64", None).unwrap_err();
        assert!(e.contains("\"qemu-aarch64\""), "{e}");
        assert!(e.contains("is disabled"), "{e}");
        assert!(e.contains("echo 1 >"), "{e}");
        let d = dir_with(&[("qemu-aarch64", QEMU_AARCH64)], Some("disabled\n"));
        let e = check_in(d.path(), "amd64", "arm64", None).unwrap_err();
        assert!(e.contains("binfmt_misc is disabled"), "{e}");
    }

    #[test]
    fn a_handler_without_the_fix_binary_flag_is_refused() {
        let no_f = QEMU_AARCH64.replace("flags: PF", "flags: P");
        let d = dir_with(&[("qemu-aarch64", &no_f)], Some("enabled\n"));
        let e = check_in(d.path(), "amd64", "arm64", None).unwrap_err();
        assert!(e.contains("F (fix-binary)"), "{e}");
    }

    #[test]
    fn big_endian_headers_match_their_handlers() {
        // qemu-s390x as Debian registers it.
        let s390x = "enabled\nflags: F\noffset 0\n\
            magic 7f454c4602020100000000000000000000020016\n\
            mask fffffffffffffffcfffffffffffffffffffeffff\n";
        let d = dir_with(&[("qemu-s390x", s390x)], Some("enabled\n"));
        assert_eq!(check_in(d.path(), "amd64", "s390x", None), Ok(()));
        assert!(check_in(d.path(), "amd64", "arm64", None).is_err());
    }
}
