//! The `byoc` command line, run as a user would: against `docs/examples/byoc.yaml`.

use crate::compose::plug;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const KEY_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// The file the build wrote the adapter `name` to.
fn built(name: &str) -> &'static str {
    let found = byoc::builtin::COMPONENT_PATHS
        .iter()
        .find(|(n, _)| *n == name);
    found.map(|(_, path)| *path).expect("a built adapter")
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/byoc.yaml")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn byoc(data: &Path, args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_byoc"))
        .arg("--config")
        .arg(example())
        .args(args)
        .env("BYOC_SECRET_KEY", KEY_HEX)
        .env("BYOC_DATA_DIR", data)
        .env_remove("RUST_LOG")
        .output()
        .expect("run byoc");
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
        "{}",
        run.stderr
    );
    run
}

fn ok(data: &Path, args: &[&str]) -> String {
    let run = byoc(data, args);
    assert_eq!(run.code, 0, "byoc {args:?}: {}{}", run.stdout, run.stderr);
    run.stdout
}

#[test]
fn check_get_set_and_stats_work_on_the_example() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let data = dir.path();

    let out = ok(data, &["check"]);
    assert!(
        out.contains("ok   secrets: encryption(filesystem)"),
        "{out}"
    );
    assert!(out.contains("ok   files: filesystem"), "{out}");
    assert!(out.contains("ok   sessions: memory"), "{out}");
    assert!(out.contains("keys: ***") && !out.contains(KEY_HEX), "{out}");

    // Values persist across processes on the filesystem caches, encrypted or not.
    for cache in ["files", "secrets"] {
        ok(data, &["set", cache, "report", "hello world"]);
        assert_eq!(ok(data, &["get", cache, "report"]), "hello world");
        ok(data, &["set", cache, "short", "x", "--ttl", "60s"]);
        let ttl = ok(data, &["ttl", cache, "short"]);
        let ms: u64 = ttl.trim().trim_end_matches("ms").parse().expect("ms");
        assert!(ms > 50_000 && ms <= 60_000, "{ttl}");
        assert_eq!(ok(data, &["ttl", cache, "report"]).trim(), "persistent");
        assert_eq!(ok(data, &["keys", cache]), "report\nshort\n");
        assert_eq!(ok(data, &["keys", cache, "sh*"]), "short\n");
    }
    // The encrypted cache's files hold no plaintext.
    for entry in std::fs::read_dir(data.join("secrets"))
        .expect("dir")
        .flatten()
    {
        if entry.path().is_file() {
            let bytes = std::fs::read(entry.path()).expect("read");
            assert!(!String::from_utf8_lossy(&bytes).contains("hello world"));
        }
    }

    let stats = ok(data, &["stats", "files"]);
    assert!(stats.contains("stack: filesystem"), "{stats}");
    assert!(stats.contains("keys: 2"), "{stats}");

    // Missing keys: exit code 1, nothing on stdout.
    let run = byoc(data, &["get", "files", "nope"]);
    assert_eq!((run.code, run.stdout.as_str()), (1, ""));
    assert_eq!(byoc(data, &["ttl", "files", "nope"]).code, 1);

    assert_eq!(ok(data, &["del", "files", "report", "nope"]).trim(), "1");
    // Clearing needs --yes.
    assert_eq!(byoc(data, &["clear", "files"]).code, 2);
    ok(data, &["clear", "files", "--yes"]);
    assert_eq!(ok(data, &["keys", "files"]), "");
    // stdin values.
    let mut child = Command::new(env!("CARGO_BIN_EXE_byoc"))
        .arg("--config")
        .arg(example())
        .args(["set", "files", "piped", "-"])
        .env("BYOC_SECRET_KEY", KEY_HEX)
        .env("BYOC_DATA_DIR", data)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), b"\x00\x01bin")
        .expect("write");
    assert!(child.wait().expect("wait").success());
    let out = Command::new(env!("CARGO_BIN_EXE_byoc"))
        .arg("--config")
        .arg(example())
        .args(["get", "files", "piped"])
        .env("BYOC_SECRET_KEY", KEY_HEX)
        .env("BYOC_DATA_DIR", data)
        .output()
        .expect("run");
    assert_eq!(out.stdout, b"\x00\x01bin");
}

#[test]
fn configuration_errors_exit_3_with_a_clear_message() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    // The key's variable unset.
    let run = Command::new(env!("CARGO_BIN_EXE_byoc"))
        .arg("--config")
        .arg(example())
        .arg("check")
        .env_remove("BYOC_SECRET_KEY")
        .env("BYOC_DATA_DIR", dir.path())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("byoc.yaml:") && stderr.contains("`BYOC_SECRET_KEY` is not set"),
        "{stderr}"
    );

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "caches:\n  - name: a\n    provider: memory\n    colour: blue\n",
    )
    .expect("write");
    let run = Command::new(env!("CARGO_BIN_EXE_byoc"))
        .args(["--config"])
        .arg(&bad)
        .args(["get", "a", "k"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("bad.yaml:4") && stderr.contains("unknown field `colour`"),
        "{stderr}"
    );

    let run = byoc(dir.path(), &["get", "nope", "k"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("no cache named `nope`"),
        "{}",
        run.stderr
    );

    // `bench` with an unknown cache is the same configuration mistake as `get`'s.
    let run = byoc(dir.path(), &["bench", "nope", "--ops", "1", "--quiet"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("no cache named `nope`"),
        "{}",
        run.stderr
    );

    let run = byoc(dir.path(), &["frobnicate"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn inspect_describes_every_adapter_the_repo_builds() {
    let adapters = [
        (built("memory"), "memory", "adapter"),
        (built("filesystem"), "filesystem", "adapter"),
        (built("http"), "http", "adapter"),
        (built("redis"), "redis", "redis-adapter"),
        (built("encryption"), "encryption", "wrapper"),
        (built("tiered"), "tiered", "wrapper"),
        (built("fallback"), "fallback", "wrapper"),
        (built("hostile"), "hostile", "adapter"),
    ];
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    for (path, name, world) in adapters {
        let out = ok(dir.path(), &["inspect", path]);
        assert!(out.contains(&format!("world: {world} ")), "{name}: {out}");
        assert!(out.contains(&format!("info: {name} ")), "{name}: {out}");
        // Every adapter built with the Rust SDK exports the packed get-multi.
        assert!(
            out.contains("packed get-multi (byoc:cache/bulk): exported"),
            "{name}: {out}"
        );
        // The SDK exports atomics from every adapter; each says after init if it supports them.
        assert!(
            out.contains("atomics (byoc:cache/atomics): exported"),
            "{name}: {out}"
        );
        assert!(
            out.contains("sha256: ") && out.contains("exports:"),
            "{out}"
        );
        // Only the memory adapter imports nothing that can wait.
        let sync = if name == "memory" {
            "possible"
        } else {
            "not possible"
        };
        assert!(
            out.contains(&format!("synchronous calls (sync-calls): {sync} ")),
            "{name}: {out}"
        );
    }
    // A component importing sockets loads; inspect says it needs a TCP grant.
    let run = byoc(dir.path(), &["inspect", built("hostile-net")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("grants.tcp") && run.stdout.contains("wasi:sockets"),
        "{}",
        run.stdout
    );
}

/// A file that is not a component is refused in one line, before a large one is read.
#[test]
fn non_components_are_refused_in_one_line() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"this is not wasm at all\n").expect("write");
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").expect("write");
    // Sparse: no disk is used, but a full read would take all 200 MB into memory.
    let big = dir.path().join("big.wasm");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(200 << 20))
        .expect("sparse file");
    let huge = dir.path().join("huge.wasm");
    std::fs::File::create(&huge)
        .and_then(|f| f.set_len(300 << 20))
        .expect("sparse file");
    for (file, why) in [
        (&garbage, "no `\\0asm` header"),
        (&core, "core WebAssembly module"),
        (&big, "no `\\0asm` header"),
        (&huge, "more than the"),
        (&dir.path().to_path_buf(), "not a regular file"),
    ] {
        let path = file.to_str().expect("utf-8");
        let run = byoc(dir.path(), &["inspect", path]);
        assert_eq!(run.code, 3, "{path}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{path}: {}", run.stderr);
        assert!(run.stderr.contains(why), "{path}: {}", run.stderr);
        if !path.ends_with(".wasm") {
            continue;
        }
        // Named in a configuration: the same one line, with the file's place.
        let config = dir.path().join("c.yaml");
        std::fs::write(
            &config,
            format!("caches:\n  - name: a\n    provider: {path}\n"),
        )
        .expect("write");
        let run = Command::new(env!("CARGO_BIN_EXE_byoc"))
            .arg("--config")
            .arg(&config)
            .arg("check")
            .env_remove("RUST_LOG")
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(3), "{path}: {stderr}");
        assert!(stderr.contains(why), "{path}: {stderr}");
        assert!(
            !stderr.contains("0x") && !stderr.contains("expected="),
            "{path}: {stderr}"
        );
    }
}

/// A file operation stuck in the kernel (a FIFO planted under an entry's name) with
/// `offload-io`: the CLI reports the deadline and exits, without waiting for the thread.
#[cfg(unix)]
#[test]
fn a_stuck_offloaded_file_operation_does_not_hang_the_cli() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    // `k-6b` is the file of key `k`.
    let fifo = data.join("k-6b");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "caches:\n  - name: f\n    provider: filesystem\n    config:\n      dir: {}\n      \
             offload-io: true\n    limits:\n      call-deadline: 300ms\n",
            data.display()
        ),
    )
    .expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_byoc"))
        .arg("--config")
        .arg(&config)
        .args(["get", "f", "k"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("byoc get did not exit within 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert_eq!(status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("deadline"), "{stderr}");
}

/// `set KEY -` reads at most the cache's value limit and one byte more from stdin.
#[test]
fn set_from_stdin_stops_reading_past_the_value_limit() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_byoc"))
        .arg("--config")
        .arg(example())
        .args(["set", "files", "big", "-"])
        .env("BYOC_SECRET_KEY", KEY_HEX)
        .env("BYOC_DATA_DIR", dir.path())
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    // Up to 256 MiB, far past the 16 MiB limit; the writer stops when the pipe closes.
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'x'; 1 << 20];
        let mut written = 0usize;
        while written < 256 << 20 && std::io::Write::write_all(&mut stdin, &chunk).is_ok() {
            written += chunk.len();
        }
        written
    });
    let status = child.wait().expect("wait");
    let written = writer.join().expect("writer");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert_eq!(status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("larger than"), "{stderr}");
    assert!(written < 24 << 20, "{written} bytes were taken from stdin");
}

#[test]
fn bench_reports_percentiles() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let out = ok(
        dir.path(),
        &[
            "bench", "sessions", "files", "--ops", "2000", "--tasks", "4", "--keys", "100",
            "--quiet",
        ],
    );
    assert!(out.contains("p99"), "{out}");
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("sessions") || l.starts_with("files"))
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    for row in rows {
        let errors = row.split_whitespace().last().expect("errors column");
        assert_eq!(errors, "0", "{row}");
    }
}

/// `bench` keeps latencies in a fixed-size histogram: its peak memory does not grow with
/// the number of operations (it kept 8 bytes per operation, and sorted them at the end).
#[cfg(target_os = "linux")]
#[test]
fn bench_memory_does_not_grow_with_operations() {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        eprintln!("skipped: /usr/bin/time is not installed");
        return;
    }
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    // The host's native memory provider: fast enough for 10^6 operations in a test.
    let config = dir.path().join("native.yaml");
    std::fs::write(
        &config,
        "caches:\n  - name: n\n    provider: native-memory\n",
    )
    .expect("write");
    let peak_kib = |ops: &str| -> u64 {
        let out = Command::new(time)
            .args(["-f", "peak-rss-kib %M"])
            .arg(env!("CARGO_BIN_EXE_byoc"))
            .arg("--config")
            .arg(&config)
            .args(["bench", "n", "--ops", ops, "--tasks", "2", "--keys", "100"])
            .arg("--quiet")
            .env_remove("RUST_LOG")
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        stderr
            .lines()
            .find_map(|l| l.strip_prefix("peak-rss-kib "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no peak RSS in {stderr}"))
    };
    let small = peak_kib("10000");
    let large = peak_kib("1000000");
    eprintln!("peak RSS: {small} KiB for 10^4 operations, {large} KiB for 10^6");
    // Keeping every sample would add at least 16 MB: 8 bytes per operation in the tasks'
    // vectors, and again in the merged one that was sorted.
    assert!(
        large < small + 6 * 1024,
        "peak RSS grew from {small} KiB to {large} KiB"
    );
}

#[test]
fn bench_replays_a_trace_for_hit_ratios() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let trace = dir.path().join("t.lis");
    // ARC .lis records: a hot block range read again and again, plus a scan.
    let mut text = String::new();
    for i in 0..200 {
        text.push_str(&format!("{} 4 0 0\n", (i % 10) * 4));
        text.push_str(&format!("{} 1 0 0\n", 1000 + i));
    }
    std::fs::write(&trace, text).expect("write");
    let out = ok(
        dir.path(),
        &[
            "bench",
            "--trace",
            trace.to_str().expect("utf-8"),
            "--capacity",
            "50",
            "--capacity",
            "10",
        ],
    );
    assert!(out.contains("1000 accesses"), "{out}");
    let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("| t.lis")).collect();
    assert_eq!(rows.len(), 2, "{out}");
    // At capacity 50 the 40 hot blocks fit: every policy hits them after the first round.
    let ratios: Vec<f64> = rows[0]
        .split('|')
        .skip(3)
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    assert!(ratios.len() >= 4, "{out}");
    assert!(ratios.iter().all(|r| *r > 70.0), "{out}");
}

/// `byoc --config <config> <args>`: its exit code, stdout and stderr.
fn byoc_with(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_byoc"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run byoc");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

/// `byoc run` runs a wasi:keyvalue application on the configured buckets; `byoc inspect`
/// shows its keyvalue imports and what they need.
#[test]
fn run_and_inspect_a_keyvalue_application() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let config = dir.path().join("kv.yaml");
    std::fs::write(
        &config,
        "caches:\n  - name: sessions\n    provider: memory\nkeyvalue: { buckets: { default: sessions } }\n",
    )
    .expect("write");
    let app = byoc::builtin::KEYVALUE_APP_PATH;
    let byoc_run = |args: &[&str]| byoc_with(&config, args);
    let (code, stdout, stderr) = byoc_run(&["run", app, "--", "check", "default"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("keyvalue checks passed"), "{stdout}");
    let (code, stdout, _) = byoc_run(&["run", app, "--", "open", "sessions"]);
    assert_eq!(code, 0);
    assert_eq!(stdout.trim(), "no-such-store");
    // The application's own failure is its exit code.
    let (code, _, stderr) = byoc_run(&["run", app, "--", "nonsense"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("FAIL unknown command"), "{stderr}");
    let (code, stdout, stderr) = byoc_run(&["inspect", app]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("wasi:cli command"), "{stdout}");
    assert!(
        stdout.contains("wasi:keyvalue/store@0.2.0-draft"),
        "{stdout}"
    );
    assert!(stdout.contains("keyvalue.buckets"), "{stdout}");
}

/// `byoc run` gives a component composed with the keyvalue shim and an adapter only the
/// grants of its flags: the filesystem adapter works in the `--dir` directory with its
/// `--adapter-config`, and is denied without it; the Redis adapter is refused without
/// `--redis`. `byoc inspect` names the grants each needs.
#[test]
fn run_and_inspect_a_composed_keyvalue_application() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let read = |path: &str| std::fs::read(path).expect("component");
    let with_shim = plug(
        &read(byoc::builtin::KEYVALUE_APP_PATH),
        &read(byoc::builtin::KEYVALUE_SHIM_PATH),
    );
    let fs_app = dir.path().join("app-filesystem.wasm");
    std::fs::write(&fs_app, plug(&with_shim, &read(built("filesystem")))).expect("write");
    let redis_app = dir.path().join("app-redis.wasm");
    std::fs::write(&redis_app, plug(&with_shim, &read(built("redis")))).expect("write");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    let (fs_app, redis_app, data) = (
        fs_app.to_str().expect("utf-8"),
        redis_app.to_str().expect("utf-8"),
        data.to_str().expect("utf-8"),
    );
    // No configuration file: a composed component needs none.
    let none = dir.path().join("absent.yaml");
    let byoc_run = |args: &[&str]| byoc_with(&none, args);
    let granted = ["run", "--dir", data, "--adapter-config", "namespace=cli"];
    let (code, stdout, stderr) =
        byoc_run(&[&granted[..], &[fs_app, "--", "check", "default"]].concat());
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("keyvalue checks passed"), "{stdout}");
    let (code, _, stderr) =
        byoc_run(&[&granted[..], &[fs_app, "--", "set", "default", "k", "v"]].concat());
    assert_eq!(code, 0, "{stderr}");
    let names: Vec<String> = std::fs::read_dir(data)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.starts_with("cli.")),
        "{names:?}"
    );
    // Without --dir: denied, not another directory.
    let (code, stdout, stderr) = byoc_run(&["run", fs_app, "--", "open", "default"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "access-denied");
    // Without --redis: refused before it starts, naming the grant.
    let (code, _, stderr) = byoc_run(&["run", redis_app, "--", "check", "default"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("denied") && stderr.contains("--redis"),
        "{stderr}"
    );
    let (code, _, stderr) = byoc_run(&["run", "--redis", "redis://127.0.0.1:1", redis_app]);
    assert_ne!(code, 0);
    assert!(stderr.contains("--redis-namespace"), "{stderr}");
    let (code, stdout, stderr) = byoc_run(&["inspect", redis_app]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("a Redis grant"), "{stdout}");
    let (code, stdout, stderr) = byoc_run(&["inspect", fs_app]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("a directory grant"), "{stdout}");
    assert!(!stdout.contains("a Redis grant"), "{stdout}");
}
