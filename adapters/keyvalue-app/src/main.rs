//! A `wasi:keyvalue` application (a `wasi:cli` command) that checks what a host's buckets
//! do: BYOC's keyvalue conformance test, run through the host's mapping or through the
//! composed shim.
//!
//! `app check <bucket> [--no-atomics]` runs every check on an empty bucket and exits 0 when
//! all pass (1 and a `FAIL` line on stderr otherwise); `app open <bucket>` prints how
//! `open` answered; `app get <bucket> <key>` prints a value (or `none`); `app set <bucket>
//! <key> <value>` stores one.

use std::collections::BTreeSet;
use std::process::ExitCode;

/// Bindings of the vendored `wasi:keyvalue/imports` world.
#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/keyvalue",
        world: "wasi:keyvalue/imports",
        generate_all,
    });
}

use bindings::wasi::keyvalue::store::{Bucket, Error};
use bindings::wasi::keyvalue::{atomics, batch, store};

/// Keys written for the `list-keys` paging check (more than two host pages).
const PAGED_KEYS: usize = 250;

type Check = Result<(), String>;

fn error_text(e: &Error) -> String {
    match e {
        Error::NoSuchStore => "no-such-store".into(),
        Error::AccessDenied => "access-denied".into(),
        Error::Other(m) => format!("other: {m}"),
    }
}

fn ok<T>(what: &str, r: Result<T, Error>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {}", error_text(&e)))
}

fn expect<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Check {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, expected {want:?}"))
    }
}

/// Every key of the bucket, page by page; also how many pages it took.
fn all_keys(bucket: &Bucket) -> Result<(Vec<String>, usize), String> {
    let mut keys = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = ok("list-keys", bucket.list_keys(cursor))?;
        pages += 1;
        keys.extend(page.keys);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return Ok((keys, pages)),
        }
        if pages > 100_000 {
            return Err("list-keys: the cursor never ends".into());
        }
    }
}

fn crud(b: &Bucket) -> Check {
    expect("get of a missing key", ok("get", b.get("k1"))?, None)?;
    expect(
        "exists of a missing key",
        ok("exists", b.exists("k1"))?,
        false,
    )?;
    ok("set", b.set("k1", b"v1"))?;
    expect(
        "get after set",
        ok("get", b.get("k1"))?,
        Some(b"v1".to_vec()),
    )?;
    expect("exists after set", ok("exists", b.exists("k1"))?, true)?;
    ok("set (overwrite)", b.set("k1", b"v2"))?;
    expect(
        "get after overwrite",
        ok("get", b.get("k1"))?,
        Some(b"v2".to_vec()),
    )?;
    ok("delete", b.delete("k1"))?;
    expect("get after delete", ok("get", b.get("k1"))?, None)?;
    expect("exists after delete", ok("exists", b.exists("k1"))?, false)?;
    ok("delete of a missing key", b.delete("k1"))?;
    ok("set of an empty value", b.set("empty", b""))?;
    expect(
        "the empty value",
        ok("get", b.get("empty"))?,
        Some(Vec::new()),
    )?;
    ok("delete", b.delete("empty"))?;
    let binary: Vec<u8> = (0..=255).collect();
    ok("set of binary", b.set("bin/ü", &binary))?;
    expect("binary value", ok("get", b.get("bin/ü"))?, Some(binary))?;
    ok("delete", b.delete("bin/ü"))?;
    // Glob characters are part of a key, never a pattern.
    ok("set", b.set("g*[?]", b"glob"))?;
    expect(
        "glob-like key",
        ok("get", b.get("g*[?]"))?,
        Some(b"glob".to_vec()),
    )?;
    ok("delete", b.delete("g*[?]"))?;
    match b.set("bad\u{1}key", b"x") {
        Err(Error::Other(_)) => Ok(()),
        other => Err(format!("a key with a control character: {other:?}")),
    }
}

fn list_keys(b: &Bucket) -> Check {
    let (keys, _) = all_keys(b)?;
    expect("keys of an empty bucket", keys, Vec::<String>::new())?;
    let want: BTreeSet<String> = (0..PAGED_KEYS).map(|i| format!("page:{i:04}")).collect();
    for key in &want {
        ok("set", b.set(key, key.as_bytes()))?;
    }
    let (keys, pages) = all_keys(b)?;
    let got: BTreeSet<String> = keys.iter().cloned().collect();
    expect("no key listed twice", keys.len(), got.len())?;
    expect("listed keys", &got, &want)?;
    if pages < 2 {
        return Err(format!(
            "list-keys returned {PAGED_KEYS} keys in {pages} page: no paging"
        ));
    }
    match b.list_keys(Some(u64::MAX)) {
        Err(Error::Other(_)) => {}
        other => return Err(format!("list-keys with a cursor never issued: {other:?}")),
    }
    let all: Vec<String> = want.into_iter().collect();
    ok("delete-many", batch::delete_many(b, &all))?;
    let (keys, _) = all_keys(b)?;
    expect("keys after delete-many", keys, Vec::<String>::new())
}

fn increment(b: &Bucket, atomics_expected: bool) -> Check {
    let r = atomics::increment(b, "counter", 5);
    if !atomics_expected {
        return match r {
            Err(Error::Other(m)) if m.contains("nsupported") => Ok(()),
            other => Err(format!("increment without atomics: {other:?}")),
        };
    }
    expect("increment of a missing key", ok("increment", r)?, 5)?;
    expect(
        "increment",
        ok("increment", atomics::increment(b, "counter", 3))?,
        8,
    )?;
    expect(
        "increment by 0",
        ok("increment", atomics::increment(b, "counter", 0))?,
        8,
    )?;
    expect(
        "the counter as a value",
        ok("get", b.get("counter"))?,
        Some(b"8".to_vec()),
    )?;
    ok("set", b.set("text", b"not a number"))?;
    match atomics::increment(b, "text", 1) {
        Err(Error::Other(_)) => {}
        other => return Err(format!("increment of a non-number: {other:?}")),
    }
    expect(
        "a failed increment changes nothing",
        ok("get", b.get("text"))?,
        Some(b"not a number".to_vec()),
    )?;
    match atomics::increment(b, "counter", u64::MAX) {
        Err(Error::Other(_)) => {}
        other => return Err(format!("increment by u64::MAX: {other:?}")),
    }
    ok(
        "delete-many",
        batch::delete_many(b, &["counter".into(), "text".into()]),
    )
}

fn batches(b: &Bucket) -> Check {
    let items: Vec<(String, Vec<u8>)> = (0..10)
        .map(|i| (format!("batch:{i}"), format!("value {i}").into_bytes()))
        .collect();
    ok("set-many", batch::set_many(b, &items))?;
    let mut keys: Vec<String> = items.iter().map(|(k, _)| k.clone()).collect();
    keys.push("batch:missing".into());
    let got = ok("get-many", batch::get_many(b, &keys))?;
    let mut want: Vec<Option<(String, Vec<u8>)>> = items.iter().cloned().map(Some).collect();
    want.push(None);
    expect("get-many", got, want)?;
    let first: Vec<String> = keys[..5].to_vec();
    ok("delete-many", batch::delete_many(b, &first))?;
    for (i, key) in keys[..10].iter().enumerate() {
        expect(
            &format!("exists {key}"),
            ok("exists", b.exists(key))?,
            i >= 5,
        )?;
    }
    let got = ok("get-many", batch::get_many(b, &keys[..10]))?;
    expect(
        "get-many after delete-many",
        got.iter().filter(|v| v.is_some()).count(),
        5,
    )?;
    ok("delete-many of missing keys", batch::delete_many(b, &keys))?;
    ok("get-many of no keys", batch::get_many(b, &[])).map(drop)
}

fn reopen(name: &str, b: &Bucket) -> Check {
    ok("set", b.set("kept", b"across handles"))?;
    let again = ok("open again", store::open(name))?;
    expect(
        "a second handle sees the data",
        ok("get", again.get("kept"))?,
        Some(b"across handles".to_vec()),
    )?;
    drop(again);
    ok("delete", b.delete("kept"))
}

fn check(name: &str, atomics_expected: bool) -> Check {
    let b = ok("open", store::open(name))?;
    let checks: [(&str, &dyn Fn() -> Check); 5] = [
        ("get/set/delete/exists", &|| crud(&b)),
        ("list-keys paging", &|| list_keys(&b)),
        ("increment", &|| increment(&b, atomics_expected)),
        ("batch", &|| batches(&b)),
        ("reopen", &|| reopen(name, &b)),
    ];
    for (what, run) in checks {
        run().map_err(|e| format!("{what}: {e}"))?;
        println!("ok {what}");
    }
    match store::open("no bucket has this name") {
        Err(Error::NoSuchStore) => println!("ok unknown bucket"),
        other => return Err(format!("open of an unknown bucket: {:?}", other.map(drop))),
    }
    Ok(())
}

fn run(args: &[String]) -> Result<(), String> {
    let arg = |i: usize| {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| "usage: app check|open|get|set <bucket> [key] [value]".to_string())
    };
    match arg(1)? {
        "check" => {
            let atomics = !args.iter().any(|a| a == "--no-atomics");
            check(arg(2)?, atomics)?;
            println!("keyvalue checks passed");
        }
        "open" => match store::open(arg(2)?) {
            Ok(_) => println!("opened"),
            Err(e) => println!("{}", error_text(&e)),
        },
        "get" => {
            let b = ok("open", store::open(arg(2)?))?;
            match ok("get", b.get(arg(3)?))? {
                Some(v) => println!("{}", String::from_utf8_lossy(&v)),
                None => println!("none"),
            }
        }
        "set" => {
            let b = ok("open", store::open(arg(2)?))?;
            ok("set", b.set(arg(3)?, arg(4)?.as_bytes()))?;
        }
        other => return Err(format!("unknown command `{other}`")),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("FAIL {e}");
            ExitCode::FAILURE
        }
    }
}
