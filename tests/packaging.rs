//! What Houseband ships (packaging/README.md): the default config file, the systemd unit, the
//! Debian package, the container files and `houseband health`, the container's health check.
//!
//! The package is built by cargo-deb from the binary this `cargo test` already built (a debug
//! build: CI never pays for a second, release build), so its tests skip with a message where
//! cargo-deb is not installed (`.ci/run` installs it). As root with debootstrap (CI), the package
//! is installed into a clean Debian chroot: `debootstrap --variant=minbase` fetches Debian's
//! packages from its mirror, the one address besides loopback these tests reach, and only
//! once, since the chroot is kept as a tarball in `target/packaging/`. The server started in the
//! chroot shares this machine's network, so it runs on loopback with its LAN features off.
//! No Docker engine runs here: the Dockerfile is checked against the package and the sources,
//! not built.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{free_port, is_root, Sandbox, Server, BIN, QUIET};
use houseband::config::{resolve, Flags, SETTINGS};

const UNIT: &str = "packaging/houseband.service";
const CONFFILE: &str = "/etc/houseband/houseband.toml";
const DEBIAN_SUITE: &str = "bookworm";
const DEBIAN_MIRROR: &str = "http://deb.debian.org/debian";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

/// The target dir this test's binary was built in (`<target>/debug/houseband`).
fn target_dir() -> PathBuf {
    Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .expect("the binary lives in <target>/<profile>/")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `f`, saying how long `what` took (measured for the record, never asserted).
fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = f();
    eprintln!("{what}: {:.1} s", started.elapsed().as_secs_f64());
    result
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(run(cmd).stdout).unwrap()
}

fn have(program: &str, version_arg: &str) -> bool {
    Command::new(program)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The .deb, built once for all the tests of this file; `None` (after saying why) without
/// cargo-deb.
fn deb() -> Option<&'static Path> {
    static DEB: OnceLock<Option<PathBuf>> = OnceLock::new();
    DEB.get_or_init(|| {
        let cargo_deb = Command::new(cargo())
            .args(["deb", "--version"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !cargo_deb {
            eprintln!("SKIPPED: cargo-deb is not installed (`cargo install cargo-deb --locked`; .ci/run does)");
            return None;
        }
        let out_dir = target_dir().join("packaging");
        std::fs::create_dir_all(&out_dir).unwrap();
        let deb = out_dir.join("houseband-test.deb");
        let _ = std::fs::remove_file(&deb);
        let profile = target_dir_profile();
        timed(&format!("cargo deb of the {profile} binary"), || {
            run(Command::new(cargo())
                .current_dir(repo())
                .env("CARGO_TARGET_DIR", target_dir())
                // Stripped: the debug binary is 400 MB; compressing that would take minutes.
                .args(["deb", "--no-build", "--fast", "--strip", "--profile", &profile])
                .arg("--output")
                .arg(&deb))
        });
        Some(deb)
    })
    .as_deref()
}

/// Cargo's profile whose output directory holds this test's binary (`debug` is `dev`).
fn target_dir_profile() -> String {
    let dir = Path::new(BIN).parent().unwrap().file_name().unwrap();
    match dir.to_str().unwrap() {
        "debug" => "dev".into(),
        other => other.into(),
    }
}

fn deb_field(deb: &Path, field: &str) -> String {
    stdout(Command::new("dpkg-deb").arg("-f").arg(deb).arg(field))
        .trim()
        .to_string()
}

/// Package names of a Depends-style field: first alternative, no versions.
fn package_names(field: &str) -> BTreeSet<String> {
    field
        .split(',')
        .filter_map(|dep| {
            let first = dep.split('|').next()?.trim();
            let name = first.split([' ', '(']).next()?.trim();
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The default config file

/// Every `#key = value` line of the shipped config.
fn commented_settings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix('#'))
        .filter_map(|l| {
            let (key, _) = l.split_once(" = ")?;
            let key = key.trim();
            (!key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
                .then(|| (key.to_string(), l.to_string()))
        })
        .collect()
}

fn resolve_file(file: &Path, data: &Path) -> Result<String, String> {
    let mut flags = Flags::default();
    flags.set("config", Some(file.to_str().unwrap().into()));
    flags.set("data", Some(data.to_str().unwrap().into()));
    let env = |_: &str| None;
    resolve(&flags, &env)
        .map(|s| format!("{s:?}"))
        .map_err(|e| e.to_string())
}

#[test]
fn the_default_config_loads_and_each_line_uncommented_is_a_valid_setting_at_its_default() {
    let text = read("packaging/houseband.toml");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("houseband.toml");
    std::fs::write(&file, &text).unwrap();
    let as_shipped = resolve_file(&file, dir.path())
        .unwrap_or_else(|e| panic!("the shipped config does not load: {e}"));

    let lines = commented_settings(&text);
    let keys: BTreeSet<&str> = lines.iter().map(|(k, _)| k.as_str()).collect();
    for s in SETTINGS {
        // `data` and `config` cannot be in the file; admin_password is environment only.
        if s.flag.is_some() && s.key != "data" && s.key != "config" {
            assert!(
                keys.contains(s.key),
                "packaging/houseband.toml does not list `{}`: add it, commented out at its default",
                s.key
            );
        }
    }
    for (key, line) in &lines {
        std::fs::write(&file, format!("{line}\n")).unwrap();
        let one = resolve_file(&file, dir.path())
            .unwrap_or_else(|e| panic!("`{line}` in packaging/houseband.toml is refused: {e}"));
        let info = SETTINGS.iter().find(|s| s.key == key).unwrap();
        // Settings without a fixed default show an example; the others must show the default.
        let example = info.default.starts_with('(') || info.default.contains('<');
        if example {
            assert_ne!(
                one, as_shipped,
                "`{line}` is an example and should change something"
            );
        } else {
            assert_eq!(
                one, as_shipped,
                "`{line}` in packaging/houseband.toml is not the default ({})",
                info.default
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The systemd unit

/// A root with the unit, this test's binary at /usr/bin/houseband and the machine's systemd
/// units, for `systemd-analyze --root`.
fn unit_root(unit_text: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir_in(target_dir()).unwrap();
    let units = root.path().join("usr/lib/systemd/system");
    std::fs::create_dir_all(units.parent().unwrap()).unwrap();
    run(Command::new("cp")
        .arg("-r")
        .arg("/usr/lib/systemd/system")
        .arg(&units));
    std::fs::write(units.join("houseband.service"), unit_text).unwrap();
    std::fs::create_dir_all(root.path().join("usr/bin")).unwrap();
    let bin = root.path().join("usr/bin/houseband");
    // The binary is large: a link where it can be one.
    if std::fs::hard_link(BIN, &bin).is_err() {
        std::fs::copy(BIN, &bin).unwrap();
    }
    root
}

#[test]
fn the_unit_verifies_and_its_exposure_stays_low() {
    if !have("systemd-analyze", "--version") || !Path::new("/usr/lib/systemd/system").is_dir() {
        eprintln!("SKIPPED: systemd-analyze is not installed (Debian's systemd package has it)");
        return;
    }
    let unit = read(UNIT);
    let root = unit_root(&unit);
    let out = run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.path().display()))
        .arg("houseband.service"));
    let complaints = String::from_utf8_lossy(&out.stderr);
    assert!(
        complaints.trim().is_empty(),
        "systemd-analyze verify complains about {UNIT}:\n{complaints}"
    );

    // The hardening itself: a typo in a directive is only a warning above, and would leave
    // the service less protected than docs/install.md says.
    let out = run(Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(format!("--root={}", root.path().display()))
        .arg("houseband.service"));
    let report = String::from_utf8_lossy(&out.stdout);
    let score: f64 = report
        .lines()
        .find_map(|l| l.split("houseband.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    eprintln!("systemd-analyze security: exposure {score}");
    let documented = read("docs/install.md");
    assert!(
        documented.contains(&format!("exposure level of {score}")),
        "docs/install.md should give the unit's exposure level, now {score}"
    );
    assert!(
        score <= 2.0,
        "the unit's exposure went up to {score}:\n{report}"
    );
}

#[test]
fn the_unit_runs_the_documented_command_as_the_houseband_user() {
    let unit = read(UNIT);
    let value = |key: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(value("User"), ["houseband"]);
    assert_eq!(value("Group"), ["houseband"]);
    assert_eq!(
        value("ExecStart"),
        ["/usr/bin/houseband serve --config /etc/houseband/houseband.toml --data /var/lib/houseband"]
    );
    assert_eq!(value("ReadWritePaths"), ["/var/lib/houseband"]);
    assert_eq!(value("StateDirectory"), ["houseband"]);
    assert!(
        value("PrivateNetwork").is_empty(),
        "the server needs the LAN"
    );
    let families = value("RestrictAddressFamilies").join(" ");
    for family in ["AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"] {
        assert!(families.contains(family), "{family} missing: {families}");
    }
    // The same command line works with the shipped config (a fresh data dir, as the first
    // start of the service has).
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["scan", "--config"])
        .arg(repo().join("packaging/houseband.toml"))
        .arg("--data")
        .arg(dir.path())
        .env_remove("HOUSEBAND_MUSIC")
        .output()
        .unwrap();
    // The shipped config names no music folder: scan refuses, saying how to add one.
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no music folders"));
}

// ---------------------------------------------------------------------------------------------
// The Debian package

#[test]
fn the_deb_holds_the_binary_unit_config_and_docs_with_its_dependencies() {
    let Some(deb) = deb() else { return };
    let listing = stdout(Command::new("dpkg").arg("-c").arg(deb));
    let entry = |path: &str| {
        listing
            .lines()
            .find(|l| l.ends_with(&format!(" .{path}")))
            .unwrap_or_else(|| panic!("the .deb has no {path}:\n{listing}"))
            .to_string()
    };
    assert!(entry("/usr/bin/houseband").starts_with("-rwxr-xr-x 0/0"));
    assert!(entry(CONFFILE).starts_with("-rw-r----- 0/0"));
    let unit_path = [
        "/lib/systemd/system/houseband.service",
        "/usr/lib/systemd/system/houseband.service",
    ]
    .into_iter()
    .find(|p| listing.contains(&format!(" .{p}")))
    .unwrap_or_else(|| panic!("the .deb has no systemd unit:\n{listing}"));
    assert!(entry(unit_path).starts_with("-rw-r--r-- 0/0"));
    for doc in [
        "README.md",
        "install.md",
        "configuration.md",
        "user-guide.md",
        "copyright",
    ] {
        entry(&format!("/usr/share/doc/houseband/{doc}"));
    }

    // docs/install.md's table of what the package installs is what it installs (the data dir
    // is made by postinst: the chroot test checks it).
    let install_doc = read("docs/install.md");
    let documented: Vec<&str> = install_doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `/")?.split('`').next())
        .collect();
    assert!(
        documented.len() >= 5,
        "no table of paths in docs/install.md"
    );
    for path in documented.iter().filter(|p| **p != "var/lib/houseband") {
        entry(&format!("/{path}"));
    }

    // Its files are the repository's.
    let unpacked = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(unpacked.path()));
    let file = |p: &str| std::fs::read(unpacked.path().join(p.trim_start_matches('/'))).unwrap();
    assert_eq!(file(unit_path), read(UNIT).into_bytes());
    assert_eq!(
        file(CONFFILE),
        read("packaging/houseband.toml").into_bytes()
    );
    let packaged = unpacked.path().join("usr/bin/houseband");
    let version = stdout(Command::new(&packaged).arg("--version"));
    assert_eq!(
        version.trim(),
        format!("houseband {}", env!("CARGO_PKG_VERSION"))
    );

    let depends = package_names(&deb_field(deb, "Depends"));
    for needed in ["libc6", "libasound2", "adduser"] {
        assert!(
            depends.contains(needed),
            "Depends lacks {needed}: {depends:?}"
        );
    }
    let recommends = package_names(&deb_field(deb, "Recommends"));
    for codec in ["libopus0", "libwavpack1", "libmpcdec6", "libspeex1"] {
        assert!(
            recommends.contains(codec),
            "Recommends lacks {codec}: {recommends:?}"
        );
        assert!(
            !depends.contains(codec),
            "{codec} is loaded at run time: Recommends, not Depends"
        );
    }
    assert_eq!(deb_field(deb, "Package"), "houseband");
    assert_eq!(
        deb_field(deb, "Version"),
        env!("CARGO_PKG_VERSION").to_string() + "-1"
    );

    let control = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb")
        .arg("-e")
        .arg(deb)
        .arg(control.path()));
    let conffiles = std::fs::read_to_string(control.path().join("conffiles")).unwrap();
    assert!(
        conffiles.lines().any(|l| l == CONFFILE),
        "conffiles: {conffiles}"
    );
    let postinst = std::fs::read_to_string(control.path().join("postinst")).unwrap();
    assert!(postinst.contains("adduser --system"), "{postinst}");
    assert!(
        postinst.contains("deb-systemd-helper"),
        "the unit is not enabled:\n{postinst}"
    );
    assert!(
        !postinst.contains("#DEBHELPER#"),
        "cargo-deb did not fill in the systemd part"
    );
    for script in ["postinst", "postrm", "prerm"] {
        let path = control.path().join(script);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "{script} is not executable");
        // cargo-deb pastes its part over the marker wherever it is, comments included.
        run(Command::new("sh").arg("-n").arg(&path));
    }
    // The service starts only once its user exists.
    let user_made = postinst.find("adduser --system").unwrap();
    assert!(postinst
        .find("deb-systemd-invoke")
        .is_some_and(|start| start > user_made));
}

/// Unmounts what a test mounted in its chroot, in reverse order, also when the test panics
/// (declared after the chroot's directory, so it is dropped before it).
struct Mounts(Vec<PathBuf>);

impl Mounts {
    fn mount(&mut self, args: &[&str], at: PathBuf) {
        run(Command::new("mount").args(args).arg(&at));
        self.0.push(at);
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        for at in self.0.iter().rev() {
            let ok = Command::new("umount")
                .arg(at)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                let _ = Command::new("umount").arg("-l").arg(at).status();
            }
        }
    }
}

/// A clean Debian chroot with the packages the .deb depends on, unpacked from the tarball that
/// `debootstrap --variant=minbase` made the first time (kept under target/packaging/).
fn debian_chroot(into: &Path, depends: &BTreeSet<String>) {
    let include: Vec<&str> = depends.iter().map(String::as_str).collect();
    let include = include.join(",");
    let cache = target_dir().join(format!(
        "packaging/debian-{DEBIAN_SUITE}-minbase-{:016x}.tar",
        xxh(&include)
    ));
    if !cache.exists() {
        let work = tempfile::tempdir_in(target_dir().join("packaging")).unwrap();
        let root = work.path().join("root");
        let what = format!("debootstrap --variant=minbase {DEBIAN_SUITE} (+{include})");
        timed(&what, || {
            run(Command::new("timeout")
                .args(["900", "debootstrap", "--variant=minbase"])
                .arg(format!("--include={include}"))
                .arg(DEBIAN_SUITE)
                .arg(&root)
                .arg(DEBIAN_MIRROR)
                .stdout(Stdio::null()))
        });
        // The downloaded .debs are half the chroot's size and never needed again.
        for file in std::fs::read_dir(root.join("var/cache/apt/archives")).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|e| e == "deb") {
                std::fs::remove_file(path).unwrap();
            }
        }
        let partial = cache.with_extension("partial");
        run(Command::new("tar")
            .arg("--numeric-owner")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&partial)
            .arg("."));
        std::fs::rename(&partial, &cache).unwrap();
    }
    timed(&format!("unpacking {}", cache.display()), || {
        run(Command::new("tar")
            .arg("--numeric-owner")
            .arg("-C")
            .arg(into)
            .arg("-xf")
            .arg(&cache))
    });
}

/// A short stable name for the chroot cache (which packages it was made with).
fn xxh(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// The uid, gid and home of a user in a chroot's /etc/passwd.
fn passwd_entry(root: &Path, user: &str) -> Option<(u32, u32, String, String)> {
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f[0] == user).then(|| {
            (
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                f[5].into(),
                f[6].into(),
            )
        })
    })
}

fn group_id(root: &Path, group: &str) -> Option<u32> {
    let groups = std::fs::read_to_string(root.join("etc/group")).unwrap();
    groups.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f[0] == group).then(|| f[2].parse().unwrap())
    })
}

/// `args` run in the chroot; `as_user`: chroot's own options (`--userspec` etc.).
fn in_chroot_as(root: &Path, as_user: &[String], args: &[&str]) -> Command {
    let mut c = Command::new("chroot");
    c.args(as_user).arg(root).args(args).env_clear().env(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    );
    c.env("DEBIAN_FRONTEND", "noninteractive");
    c
}

fn in_chroot(root: &Path, args: &[&str]) -> Command {
    in_chroot_as(root, &[], args)
}

#[test]
fn the_deb_installs_runs_and_purges_in_a_clean_debian_chroot() {
    let Some(deb) = deb() else { return };
    if !is_root() || !have("debootstrap", "--version") {
        // CI runs as root with debootstrap (.ci/run installs it).
        eprintln!("SKIPPED: installing into a Debian chroot needs root and debootstrap");
        return;
    }
    let test_started = Instant::now();
    let depends = package_names(&deb_field(deb, "Depends"));
    let dir = tempfile::tempdir_in(target_dir().join("packaging")).unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let mut mounts = Mounts(Vec::new());
    debian_chroot(&root, &depends);
    assert!(
        passwd_entry(&root, "houseband").is_none(),
        "the chroot is not clean"
    );

    std::fs::copy(deb, root.join("tmp/houseband.deb")).unwrap();
    timed("dpkg -i in the chroot", || {
        run(&mut in_chroot(&root, &["dpkg", "-i", "/tmp/houseband.deb"]))
    });

    // The system user and its files.
    let (uid, gid, home, shell) = passwd_entry(&root, "houseband").expect("no user houseband");
    assert!(uid < 1000, "houseband is not a system user: uid {uid}");
    assert_eq!(group_id(&root, "houseband"), Some(gid));
    assert_eq!(home, "/var/lib/houseband");
    assert_eq!(shell, "/usr/sbin/nologin");
    let meta = |p: &str| std::fs::metadata(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let data = meta("var/lib/houseband");
    assert_eq!(
        (data.uid(), data.gid(), data.mode() & 0o7777),
        (uid, gid, 0o750)
    );
    let conf = meta("etc/houseband/houseband.toml");
    assert_eq!(
        (conf.uid(), conf.gid(), conf.mode() & 0o7777),
        (0, gid, 0o640)
    );
    assert_eq!(meta("usr/bin/houseband").mode() & 0o7777, 0o755);
    let unit = [
        "lib/systemd/system/houseband.service",
        "usr/lib/systemd/system/houseband.service",
    ]
    .into_iter()
    .find(|p| root.join(p).exists())
    .expect("the unit is not installed");
    let wants = root.join("etc/systemd/system/multi-user.target.wants/houseband.service");
    let link = std::fs::read_link(&wants).expect("the unit is not enabled");
    assert_eq!(
        link,
        Path::new("/").join(unit),
        "enabled as {}",
        link.display()
    );

    let version = stdout(&mut in_chroot(&root, &["/usr/bin/houseband", "--version"]));
    assert_eq!(
        version.trim(),
        format!("houseband {}", env!("CARGO_PKG_VERSION"))
    );

    // The service's own command, as its user, with the installed config: on loopback only.
    mounts.mount(&["-t", "proc", "proc"], root.join("proc"));
    let installed_unit = std::fs::read_to_string(root.join(unit)).unwrap();
    let exec = installed_unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("no ExecStart");
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let audio = group_id(&root, "audio").expect("no group audio in the chroot");
    let as_houseband = [
        format!("--userspec={uid}:{gid}"),
        format!("--groups={gid},{audio}"),
    ];
    let mut args: Vec<&str> = exec.split_whitespace().collect();
    args.extend(["--bind", &bind, "--lan", "off", "--local-output", "false"]);
    args.extend(["--sound-analysis", "false", "--autoplay", "false"]);
    let log = dir.path().join("server.log");
    let mut server = in_chroot_as(&root, &as_houseband, &args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let server_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let url = format!("http://{bind}/api/health");
    let started = Instant::now();
    let health = loop {
        if let Ok(resp) = ureq::get(&url).timeout(Duration::from_secs(2)).call() {
            break resp.into_string().unwrap();
        }
        if let Ok(Some(status)) = server.try_wait() {
            panic!(
                "the server in the chroot stopped ({status}):\n{}",
                server_log()
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server in the chroot did not answer in 30 s:\n{}",
            server_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    let mut check = vec!["/usr/bin/houseband", "health", "--bind", &bind];
    check.extend(["--config", CONFFILE, "--data", "/var/lib/houseband"]);
    let said = stdout(&mut in_chroot_as(&root, &as_houseband, &check));
    assert!(said.starts_with("ok: Houseband"), "{said}");
    // Stopped as systemd stops it: SIGTERM, then (after a grace time) SIGKILL.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    let stopping = Instant::now();
    while server.try_wait().unwrap().is_none() {
        if stopping.elapsed() > Duration::from_secs(30) {
            let _ = server.kill();
            panic!("the server ignored SIGTERM for 30 s:\n{}", server_log());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let db = meta("var/lib/houseband/houseband.db");
    assert_eq!(
        (db.uid(), db.gid()),
        (uid, gid),
        "the database is not the server user's"
    );

    // Installing again (an upgrade or a repair) keeps the data and the settings.
    run(&mut in_chroot(&root, &["dpkg", "-i", "/tmp/houseband.deb"]));
    assert!(root.join("var/lib/houseband/houseband.db").exists());

    // Remove keeps the data and the config; purge removes them, and the user stays.
    run(&mut in_chroot(&root, &["dpkg", "--remove", "houseband"]));
    assert!(!root.join("usr/bin/houseband").exists());
    assert!(
        root.join("var/lib/houseband/houseband.db").exists(),
        "remove lost the data"
    );
    assert!(
        root.join("etc/houseband/houseband.toml").exists(),
        "remove lost the config"
    );
    run(&mut in_chroot(&root, &["dpkg", "--purge", "houseband"]));
    assert!(
        !root.join("var/lib/houseband").exists(),
        "purge kept the data"
    );
    assert!(
        !root.join("etc/houseband").exists(),
        "purge kept the config"
    );
    assert!(
        !wants.exists() && wants.symlink_metadata().is_err(),
        "purge left the unit enabled"
    );
    assert!(
        passwd_entry(&root, "houseband").is_some(),
        "the system user stays, as documented"
    );
    drop(mounts);
    eprintln!(
        "the chroot test took {:.0} s",
        test_started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// The container files

/// The Debian packages the binary links, found as dpkg-shlibdeps (cargo-deb's `$auto`) does.
fn linked_packages() -> BTreeSet<String> {
    let ldd = stdout(Command::new("ldd").arg(BIN));
    let mut packages = BTreeSet::new();
    for path in ldd.lines().filter_map(|l| l.split(" => ").nth(1)) {
        let path = path.split(" (").next().unwrap().trim();
        let real = std::fs::canonicalize(path).unwrap();
        for candidate in [Path::new(path), real.as_path()] {
            let found = Command::new("dpkg")
                .arg("-S")
                .arg(candidate)
                .output()
                .unwrap();
            if found.status.success() {
                let line = String::from_utf8(found.stdout).unwrap();
                let package = line.split(':').next().unwrap().to_string();
                packages.insert(package);
                break;
            }
        }
    }
    packages
}

/// The runtime stage's `apt-get install` packages.
fn dockerfile_runtime_packages(dockerfile: &str) -> BTreeSet<String> {
    let runtime = dockerfile
        .split("\nFROM ")
        .last()
        .expect("a multi-stage Dockerfile");
    let joined = runtime.replace("\\\n", " ");
    let install = joined
        .split("apt-get install")
        .nth(1)
        .expect("the runtime stage installs packages");
    install
        .split("&&")
        .next()
        .unwrap()
        .split_whitespace()
        .filter(|w| !w.starts_with('-'))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_dockerfile_installs_what_the_deb_needs_and_copies_what_cargo_builds_from() {
    let dockerfile = read("packaging/Dockerfile");
    let stages: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(stages.len(), 2, "a builder and a runtime stage: {stages:?}");
    assert!(stages[0].starts_with(&format!("FROM rust:1-{DEBIAN_SUITE} AS build")));
    // Same Debian release on both sides: the binary finds the glibc it was linked against.
    assert_eq!(stages[1], format!("FROM debian:{DEBIAN_SUITE}-slim"));

    let runtime = dockerfile_runtime_packages(&dockerfile);
    let meta: toml::Table = toml::from_str(&read("Cargo.toml")).unwrap();
    let deb_meta = &meta["package"]["metadata"]["deb"];
    let recommends = package_names(deb_meta["recommends"].as_str().unwrap());
    let linked = linked_packages();
    assert!(linked.contains("libasound2"), "ldd found {linked:?}");
    let slim_has = ["libc6", "libgcc-s1"];
    let mut wanted: BTreeSet<String> = recommends.clone();
    wanted.extend(
        linked
            .into_iter()
            .filter(|p| !slim_has.contains(&p.as_str())),
    );
    assert_eq!(
        runtime, wanted,
        "the image's packages differ from the .deb's Depends and Recommends"
    );
    if let Some(deb) = deb() {
        let depends = package_names(&deb_field(deb, "Depends"));
        let from_deb: BTreeSet<String> = depends
            .into_iter()
            .chain(package_names(&deb_field(deb, "Recommends")))
            .filter(|p| !slim_has.contains(&p.as_str()) && p != "adduser")
            .collect();
        assert_eq!(runtime, from_deb);
    }

    // What the builder copies is all cargo builds from: every target's source and build.rs.
    let copied: Vec<String> = dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
        .flat_map(|l| {
            let words: Vec<&str> = l.split_whitespace().skip(1).collect();
            words[..words.len() - 1]
                .iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    for source in &copied {
        assert!(repo().join(source).exists(), "COPY {source}: no such file");
    }
    let metadata = stdout(Command::new(cargo()).current_dir(repo()).args([
        "metadata",
        "--no-deps",
        "--offline",
        "--format-version",
        "1",
    ]));
    let metadata: serde_json::Value = serde_json::from_str(&metadata).unwrap();
    for target in metadata["packages"][0]["targets"].as_array().unwrap() {
        let kinds = target["kind"].to_string();
        if kinds.contains("test") {
            continue; // tests/ is discovered, not declared: the image builds without it.
        }
        let src = target["src_path"].as_str().unwrap();
        let rel = Path::new(src).strip_prefix(repo()).unwrap();
        assert!(
            copied.iter().any(|c| rel.starts_with(c)),
            "the image does not COPY {} ({kinds})",
            rel.display()
        );
    }
    let copied_binary = dockerfile
        .lines()
        .find(|l| l.starts_with("COPY --from=build"))
        .expect("the runtime copies the binary from the builder");
    assert!(copied_binary.contains("/src/target/release/houseband"));

    let ignored = read(".dockerignore");
    for pattern in ["target", "**/node_modules", ".git"] {
        assert!(
            ignored.lines().any(|l| l == pattern),
            ".dockerignore lacks {pattern}"
        );
    }

    // Non-root, the volumes, the port and the health check the server answers.
    let line = |prefix: &str| {
        dockerfile
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in the Dockerfile"))
    };
    assert_eq!(line("USER "), "USER houseband");
    assert_eq!(line("VOLUME "), r#"VOLUME ["/music", "/data"]"#);
    let default_bind = SETTINGS.iter().find(|s| s.key == "bind").unwrap().default;
    assert_eq!(
        line("EXPOSE ").trim_start_matches("EXPOSE "),
        default_bind.rsplit(':').next().unwrap()
    );
    assert!(
        dockerfile.contains("HOUSEBAND_DATA=/data")
            && dockerfile.contains("HOUSEBAND_MUSIC=/music")
    );
    assert!(dockerfile.contains(r#"CMD ["houseband", "health"]"#));
    assert!(line("ENTRYPOINT ").contains(r#"["houseband"]"#));

    let compose = read("packaging/docker-compose.yml");
    for needed in [
        "network_mode: host",
        "dockerfile: packaging/Dockerfile",
        "context: ..",
        ":/music:ro",
        "houseband-data:/data",
    ] {
        assert!(
            compose.contains(needed),
            "docker-compose.yml lacks {needed}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// `houseband health`

#[test]
fn health_says_ok_for_a_running_server_and_fails_clearly_without_one() {
    let sb = Sandbox::with_library();
    let server = Server::start(&sb, QUIET);
    let bind = format!("127.0.0.1:{}", server.port);
    let said = stdout(&mut sb.cmd(&["health", "--bind", &bind]));
    assert!(
        said.starts_with(&format!(
            "ok: Houseband {} at {bind}",
            env!("CARGO_PKG_VERSION")
        )),
        "{said}"
    );

    // The container's way: the address from the environment, the wildcard one reached on
    // loopback.
    let wildcard = format!("0.0.0.0:{}", server.port);
    let said = stdout(sb.cmd(&["health"]).env("HOUSEBAND_BIND", wildcard));
    assert!(said.contains(&bind), "{said}");

    // And from the config file, as `serve` reads it.
    let config = sb.dir.path().join("c.toml");
    std::fs::write(&config, format!("bind = \"{bind}\"\n")).unwrap();
    let said = stdout(&mut sb.cmd(&["health", "--config", config.to_str().unwrap()]));
    assert!(said.contains(&bind), "{said}");
    drop(server);

    let closed = format!("127.0.0.1:{}", free_port());
    let out = sb.cmd(&["health", "--bind", &closed]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!("no server answers at http://{closed}/api/health")),
        "{err}"
    );

    let out = sb.cmd(&["health", "--bind", "nowhere"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("`bind`"));
}

#[test]
fn health_refuses_a_server_that_is_not_houseband() {
    // A plain HTTP server on loopback that answers something else at /api/health.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let answering = std::thread::spawn(move || {
        for body in ["<html>router login</html>", "{\"status\":\"starting\"}"] {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let _ = std::io::Read::read(&mut conn, &mut request);
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            std::io::Write::write_all(&mut conn, reply.as_bytes()).unwrap();
        }
    });
    let sb = Sandbox::new();
    let bind = addr.to_string();
    let out = sb.cmd(&["health", "--bind", &bind]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did not answer Houseband's health JSON"));
    let out = sb.cmd(&["health", "--bind", &bind]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is unhealthy"));
    answering.join().unwrap();
}
